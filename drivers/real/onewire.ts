// The kernel's w1 sysfs tree: one folder per device (<family>-<serial>, e.g. 28-0316a2795aff), each with a
// `w1_slave` file whose read makes the kernel run a conversion and print the scratchpad. The folder is a
// parameter: the real backend reads /sys/bus/w1/devices, firmware-sim a temporary folder it keeps in the
// same format, so both go through this one implementation.
import { access, readdir, readFile, realpath } from "node:fs/promises";
import { dirname, join } from "node:path";
import { OneAtATime } from "../../lib/one-at-a-time.ts";
import { HardwareAccessError, type OneWire } from "../hal.ts";

export const W1_DEVICES = "/sys/bus/w1/devices";

/** Family code and 48-bit serial as the kernel names device folders (the ROM's CRC byte is left out). */
const DEVICE_ID = /^[0-9a-f]{2}-[0-9a-f]{12}$/;

const ENABLE_ONE_WIRE =
  "1-Wire is not enabled: run `sudo raspi-config nonint do_onewire 0` (it adds dtoverlay=w1-gpio to " +
  "/boot/firmware/config.txt: data on GPIO 4, header pin 7) and reboot";

/**
 * One read in flight per bus master, by the master's real folder. The master runs one transaction at a time
 * anyway, and a read waiting for it holds one of libuv's few threadpool threads (a DS18B20's conversion takes
 * 750 ms at 12 bits), which the store, DNS and the other buses share.
 */
const busMasterQueues = new Map<string, OneAtATime>();

function busMasterQueue(master: string): OneAtATime {
  let queue = busMasterQueues.get(master);
  if (queue === undefined) {
    queue = new OneAtATime();
    busMasterQueues.set(master, queue);
  }
  return queue;
}

/** /sys/bus/w1/devices/28-… links to /sys/devices/w1_bus_master1/28-…: the master is the real parent folder. */
async function busMasterOf(deviceFolder: string): Promise<string> {
  try {
    return dirname(await realpath(deviceFolder));
  } catch {
    return deviceFolder; // gone: the read below says so
  }
}

export function openW1Sysfs(root: string = W1_DEVICES): OneWire {
  return {
    list: async () => {
      let entries: string[];
      try {
        entries = await readdir(root);
      } catch (error) {
        throw missingTree(root, error) ?? error;
      }
      // The folder also holds the bus masters (w1_bus_master1), which are not devices.
      return entries.filter((entry) => DEVICE_ID.test(entry)).sort();
    },
    readSlave: async (deviceId) => {
      if (!DEVICE_ID.test(deviceId)) throw new Error(`"${deviceId}" is not a 1-Wire device id (expected e.g. 28-0316a2795aff)`);
      const path = join(root, deviceId, "w1_slave");
      const master = await busMasterOf(join(root, deviceId));
      try {
        return await busMasterQueue(master).run(() => readFile(path, "utf8"));
      } catch (error) {
        if (errorCode(error) !== "ENOENT") throw error;
        const rootError = await access(root).then(
          () => undefined,
          (rootFailure: unknown) => missingTree(root, rootFailure),
        );
        if (rootError) throw rootError;
        // The kernel removes a device's folder some searches after it stops answering.
        throw Object.assign(new Error(`no such device on the bus (${path} is missing)`, { cause: error }), { code: "ENOENT" });
      }
    },
  };
}

function missingTree(root: string, error: unknown): HardwareAccessError | undefined {
  return errorCode(error) === "ENOENT" ? new HardwareAccessError(root, ENABLE_ONE_WIRE, error) : undefined;
}

function errorCode(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}
