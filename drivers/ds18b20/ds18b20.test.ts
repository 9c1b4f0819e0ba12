// The DS18B20 driver through the simulated HAL: the sim w1 sysfs tree, read by the real backend's reader.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { parseConfig } from "../../agent/config.ts";
import { formatFieldValue, type Field, type NumericField } from "../../lib/model.ts";
import { crc8 as simCrc8, SimDs18b20, type SimDs18b20Options } from "../../firmware-sim/onewire.ts";
import { createSimHal, type SimHal } from "../../firmware-sim/index.ts";
import { populate } from "../../firmware-sim/world.ts";
import { createRealHal } from "../real/index.ts";
import { HardwareAccessError, type Hal } from "../hal.ts";
import type { SensorDevice } from "../driver.ts";
import { dallasCrc8, decodeScratchpad, parseW1Slave, plausibleEightyFive } from "./device.ts";
import { ds18b20 } from "./index.ts";

const ID = "28-0316a2795aff";
const OTHER = "28-00000a1b2c3d";

function setup(models: SimDs18b20Options[] = [{ id: ID }]) {
  const hal = createSimHal();
  const sensors = models.map((options) => {
    const model = new SimDs18b20(options);
    hal.oneWireBus().attach(model);
    return model;
  });
  return { hal, sensors, model: sensors[0] as SimDs18b20 };
}

function temperature(fields: Field[]): NumericField {
  const [field] = fields;
  assert.ok(field !== undefined && field.type === "numeric" && field.name === "temperature", JSON.stringify(fields));
  return field;
}

async function withDevice<T>(hal: SimHal, run: (device: SensorDevice) => Promise<T>, options: Record<string, unknown> = { device: ID }): Promise<T> {
  const device = await ds18b20.open(hal, { onewire: options });
  try {
    return await run(device);
  } finally {
    await device.close();
    hal.oneWireBus().dispose();
  }
}

const hexBytes = (text: string) => text.split(" ").map((b) => parseInt(b, 16));

describe("Dallas/Maxim CRC-8", () => {
  test("application note 27's worked example: ROM 02 1C B8 01 00 00 00 has CRC A2", () => {
    // AN27 example: family code 02, serial 00 00 00 01 B8 1C, sent LSB first: CRC byte A2.
    const rom = [0x02, 0x1c, 0xb8, 0x01, 0x00, 0x00, 0x00];
    assert.equal(dallasCrc8(rom), 0xa2);
    assert.equal(simCrc8(rom), 0xa2);
    // The CRC of data followed by its own CRC is 0: how a receiver can check in one pass.
    assert.equal(dallasCrc8([...rom, 0xa2]), 0);
  });

  test("scratchpads captured from real w1_slave files", () => {
    const captures = [
      "3f 00 4b 46 7f ff 01 10 47", // 3.9375 °C (t=3937), Raspberry Pi forum
      "50 05 4b 46 7f ff 0c 10 1c", // 85 °C power-on value (t=85000), raspberrypi.stackexchange 65828
      "2c 01 ff ff 7f ff ff ff 61", // 18.75 °C (t=18750), a sensor with TH/TL ff ff
      "5e 01 ff ff 7f ff ff ff 52", // 21.875 °C (t=21875)
      "72 01 4b 46 7f ff 0e 10 57", // 23.125 °C (t=23125)
    ];
    for (const capture of captures) {
      const bytes = hexBytes(capture);
      assert.equal(dallasCrc8(bytes.slice(0, 8)), bytes[8], capture);
    }
  });

  test("the driver's table and the simulator's bit loop agree on every byte and on sequences", () => {
    for (let byte = 0; byte < 256; byte++) assert.equal(dallasCrc8([byte]), simCrc8([byte]));
    const sequence = Array.from({ length: 64 }, (_, i) => (i * 37 + 11) & 0xff);
    assert.equal(dallasCrc8(sequence), simCrc8(sequence));
  });
});

describe("the simulated w1 sysfs tree", () => {
  test("writes w1_slave byte for byte as w1_therm does (real captures reproduced)", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 23.125 }]);
    const file = join(hal.oneWireBus().root, ID, "w1_slave");
    try {
      assert.equal(await readFile(file, "utf8"), "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 t=23125\n");
      model.setTemperature(3.9375);
      // The kernel's t= truncates: 3.9375 °C prints as 3937.
      assert.equal(await readFile(file, "utf8"), "3f 00 4b 46 7f ff 01 10 47 : crc=47 YES\n3f 00 4b 46 7f ff 01 10 47 t=3937\n");
      model.powerOnReset();
      assert.equal(await readFile(file, "utf8"), "50 05 4b 46 7f ff 0c 10 1c : crc=1c YES\n50 05 4b 46 7f ff 0c 10 1c t=85000\n");
      assert.deepEqual(await hal.oneWire().list(), [ID]); // w1_bus_master1 is not a device
    } finally {
      hal.oneWireBus().dispose();
    }
  });

  test("data sheet Table 1: temperature/data relationship at 12 bits", () => {
    const table: [number, number][] = [
      [125, 0x07d0],
      [85, 0x0550],
      [25.0625, 0x0191],
      [10.125, 0x00a2],
      [0.5, 0x0008],
      [0, 0x0000],
      [-0.5, 0xfff8],
      [-10.125, 0xff5e],
      [-25.0625, 0xfe6f],
      [-55, 0xfc90],
    ];
    for (const [celsius, word] of table) {
      const scratchpad = new SimDs18b20({ id: ID, temperature: celsius }).scratchpad();
      assert.equal(((scratchpad[1] ?? 0) << 8) | (scratchpad[0] ?? 0), word, `${celsius} °C`);
      assert.equal(decodeScratchpad(ID, { scratchpad, kernelCrcOk: true }).celsius, celsius);
    }
  });
});

describe("ds18b20 driver on the simulated sensor", () => {
  test("reads the temperature from the scratchpad with the resolution's decimals", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 21.375 }]);
    await withDevice(hal, async (device) => {
      const field = temperature(await device.read());
      assert.deepEqual(field, { name: "temperature", type: "numeric", value: 21.375, unit: "°C", decimals: 4, flags: { momentary: true } });
      assert.equal(formatFieldValue(field), "21.3750");
      model.setTemperature(3.9375); // t=3937 in the file; the scratchpad has the exact value
      assert.equal(temperature(await device.read()).value, 3.9375);
      model.setTemperature(-10.125);
      assert.equal(formatFieldValue(temperature(await device.read())), "-10.1250");
      const resolutions = [
        [9, 21.3, "21.5"],
        [10, 21.3, "21.25"],
        [11, 21.3, "21.250"],
        [12, 21.3, "21.3125"],
      ] as const;
      for (const [resolution, celsius, text] of resolutions) {
        model.setResolution(resolution);
        model.setTemperature(celsius);
        assert.equal(formatFieldValue(temperature(await device.read())), text, `${resolution} bit`);
      }
    });
  });

  test("without onewire.device it takes the only DS18B20 on the bus, and names them when there are several", async () => {
    const one = setup([{ id: ID, temperature: 18.75 }]);
    await withDevice(one.hal, async (device) => assert.equal(temperature(await device.read()).value, 18.75), {});

    const two = setup([{ id: ID }, { id: OTHER }]);
    await assert.rejects(ds18b20.open(two.hal, { onewire: {} }), {
      message: `ds18b20: onewire.device is not set and the 1-Wire bus has 2 DS18B20s: ${OTHER}, ${ID}; set onewire.device to one of them`,
    });
    const none = setup([]);
    await assert.rejects(ds18b20.open(none.hal, { onewire: {} }), /has no DS18B20 \(family 28\); check the wiring \(data to GPIO 4/);
    two.hal.oneWireBus().dispose();
    none.hal.oneWireBus().dispose();
  });

  test("crc fault: crc=.. NO is a clear error; the next good conversion recovers", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 22.5 }]);
    await withDevice(hal, async (device) => {
      model.setFault({ kind: "crc" });
      const text = await readFile(join(hal.oneWireBus().root, ID, "w1_slave"), "utf8");
      assert.match(text, / : crc=[0-9a-f]{2} NO\n/);
      await assert.rejects(device.read(), /^Error: ds18b20 28-0316a2795aff: CRC check failed \(scratchpad 68 05 /);
      model.setFault(null);
      assert.equal(temperature(await device.read()).value, 22.5);
    });
  });

  test("unplug: the device folder disappears; the error says so and lists what is present; replugging recovers", async () => {
    const { hal, sensors } = setup([{ id: ID, temperature: 19.5 }, { id: OTHER }]);
    const [model] = sensors;
    assert.ok(model);
    await withDevice(hal, async (device) => {
      model.setFault({ kind: "unplug" });
      await assert.rejects(device.read(), {
        message: `ds18b20 ${ID}: not on the 1-Wire bus (unplugged, a broken wire, or a wrong id); devices present: ${OTHER}`,
      });
      // A configured sensor that is missing at start still opens: its readings say where it is.
      const opened = await ds18b20.open(hal, { onewire: { device: ID } });
      await assert.rejects(opened.read(), /not on the 1-Wire bus/);
      await opened.close();
      model.setFault(null);
      assert.equal(temperature(await device.read()).value, 19.5);
    });
  });

  test("the 85 °C power-on value is rejected, unless the sensor was already near 85 °C", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 20 }]);
    await withDevice(hal, async (device) => {
      model.powerOnReset();
      await assert.rejects(device.read(), /^Error: ds18b20 28-0316a2795aff: reads 85 °C, the power-on value: the sensor was reset/);
      model.setTemperature(20.0625);
      assert.equal(temperature(await device.read()).value, 20.0625);
      // Heated up to 84.9375 first: then 85.0000 is a believable reading.
      model.setTemperature(84.9375);
      assert.equal(temperature(await device.read()).value, 84.9375);
      model.setTemperature(85);
      assert.equal(temperature(await device.read()).value, 85);
    });
    assert.equal(plausibleEightyFive(undefined), false);
    assert.equal(plausibleEightyFive(79.9), false);
    assert.equal(plausibleEightyFive(80), true);
  });

  test("eio: a failed read is a clear error; clearing recovers", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 23 }]);
    await withDevice(hal, async (device) => {
      model.setFault({ kind: "eio" });
      await assert.rejects(device.read(), /^Error: ds18b20 28-0316a2795aff: read failed \(EIO\)/);
      model.setFault(null);
      assert.equal(temperature(await device.read()).value, 23);
    });
  });

  test("stuck: the value stops following the temperature until the fault clears", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 23 }]);
    await withDevice(hal, async (device) => {
      model.setFault({ kind: "stuck" });
      model.setTemperature(30);
      assert.equal(temperature(await device.read()).value, 23);
      model.setFault(null);
      assert.equal(temperature(await device.read()).value, 30);
    });
  });

  test("slow: a late answer within onewire.timeout is fine; beyond it the read fails, and no second read piles up", async () => {
    const { hal, model } = setup([{ id: ID, temperature: 23 }]);
    await withDevice(
      hal,
      async (device) => {
        model.setFault({ kind: "slow", delayMs: 100 });
        const started = performance.now();
        assert.equal(temperature(await device.read()).value, 23);
        assert.ok(performance.now() - started >= 95);
        model.setFault({ kind: "slow", delayMs: 600 });
        await assert.rejects(device.read(), /^Error: ds18b20 28-0316a2795aff: no answer within 300 ms \(onewire.timeout\)/);
        await assert.rejects(device.read(), /the previous read has still not returned/);
        model.setFault(null);
        await new Promise((resolve) => setTimeout(resolve, 400)); // the hung read returns
        assert.equal(temperature(await device.read()).value, 23);
      },
      { device: ID, timeout: "300ms" },
    );
  });

  test("a single bad conversion is retried once before it becomes an error", async () => {
    const sim = setup([{ id: ID, temperature: 24.25 }]);
    const good = await sim.hal.oneWire().readSlave(ID);
    const noAnswer = "ff ff ff ff ff ff ff ff ff : crc=c9 NO\n00 00 00 00 00 00 00 00 00 t=-62\n";
    const queued: string[] = [];
    let reads = 0;
    const hal: Hal = {
      ...sim.hal,
      oneWire: () => ({
        list: async () => [ID],
        readSlave: async () => {
          reads += 1;
          return queued.shift() ?? good;
        },
      }),
    };
    const device = await ds18b20.open(hal, { onewire: { device: ID } });
    queued.push(noAnswer);
    assert.equal(temperature(await device.read()).value, 24.25);
    assert.equal(reads, 2);
    queued.push(noAnswer, noAnswer);
    await assert.rejects(device.read(), /CRC check failed: every byte reads 0xFF, nothing answered \(sensor disconnected or the 4.7 kΩ pull-up missing\)/);
    assert.equal(reads, 4);
    await device.close();
    sim.hal.oneWireBus().dispose();
  });
});

describe("ds18b20 in the simulated world", () => {
  test("a config entry gets a drifting sensor; scheduled faults reach it and clear", async () => {
    const config = parseConfig(
      "hardware: sim\nxmpp: { jid: gw1@example.net, password: secret }\nsensors:\n" +
        `  - { id: tank, driver: ds18b20, onewire: { device: ${ID} }, sim: { faults: [{ kind: unplug, for: 300ms }] } }\n`,
      "/tmp/xedge.yaml",
      {},
    );
    const hal = createSimHal();
    const world = await populate(hal, config);
    const [tank] = config.sensors;
    assert.ok(tank);
    const device = await ds18b20.open(hal, tank.options);
    try {
      await new Promise((resolve) => setTimeout(resolve, 20));
      await assert.rejects(device.read(), /not on the 1-Wire bus/);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const value = temperature(await device.read()).value;
      assert.ok(value > 15 && value < 23, `temperature ${value}`);
    } finally {
      await device.close();
      await world.close();
      hal.oneWireBus().dispose();
    }
  });
});

describe("w1_slave parsing", () => {
  test("rejects what a good CRC cannot catch", () => {
    const parse = (text: string) => decodeScratchpad(ID, parseW1Slave(ID, text));
    assert.throws(() => parse("00 00 00 00 00 00 00 00 00 : crc=00 YES\n00 00 00 00 00 00 00 00 00 t=0\n"), /reads all zeros \(whose CRC is 00, so it passes\): the data line is held low/);
    assert.throws(() => parse(""), /unexpected w1_slave content \(an empty file\)/);
    assert.throws(() => parse("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n"), /unexpected w1_slave content/);
    // A good CRC but a configuration register no DS18B20 has.
    const odd = [0x72, 0x01, 0x4b, 0x46, 0x00, 0xff, 0x0e, 0x10];
    const line = [...odd, dallasCrc8(odd)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    assert.throws(() => parse(`${line} : crc=00 YES\n${line} t=23125\n`), /not a DS18B20 scratchpad: configuration register 0x0/);
    // The kernel's YES is not taken on trust: the bytes must carry their own CRC.
    assert.throws(() => parse("72 01 4b 46 7f ff 0e 10 58 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 58 t=23125\n"), /CRC check failed/);
    assert.equal(parse("2c 01 ff ff 7f ff ff ff 61 : crc=61 YES\n2c 01 ff ff 7f ff ff ff 61 t=18750\n").celsius, 18.75);
  });
});

describe("ds18b20 on the real backend without 1-Wire", () => {
  test("a missing w1 tree is one HardwareAccessError with the fix, whether or not a device is configured", async () => {
    const hal = createRealHal();
    const expected = (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.equal(error.device, "/sys/bus/w1/devices");
      assert.match(error.message, /1-Wire is not enabled: run `sudo raspi-config nonint do_onewire 0` \(it adds dtoverlay=w1-gpio .*\) and reboot/);
      return true;
    };
    await assert.rejects(ds18b20.open(hal, { onewire: {} }), expected);
    await assert.rejects(ds18b20.open(hal, { onewire: { device: ID } }), expected);
  });
});
