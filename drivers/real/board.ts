// Facts about the board the agent runs on, read from the kernel's files under one root folder ("/" on a
// gateway), so tests can lay out a board's /proc, /sys, /dev and /etc in a temporary folder with real symlinks.
import { readFileSync } from "node:fs";
import { readFile, realpath } from "node:fs/promises";
import { userInfo } from "node:os";
import { basename, join } from "node:path";

export interface Board {
  /** The device tree's model, e.g. "Raspberry Pi 5 Model B Rev 1.0"; undefined on a board without one (a PC). */
  model(): Promise<string | undefined>;
  /** The name of the node `devicePath` resolves to through its symlinks (/dev/serial0 → "ttyAMA10"); undefined when absent. */
  deviceName(devicePath: string): Promise<string | undefined>;
  /** The file at `absolutePath` under this board's root. */
  file(absolutePath: string): string;
  /** Whether this process holds `group`'s gid, and whether /etc/group lists the process's user in it; undefined when there is no such group. */
  groupMembership(group: string): { held: boolean; listed: boolean } | undefined;
}

export interface BoardSources {
  /** Where /proc, /sys, /dev and /etc are: "/" on the gateway. */
  root?: string;
  /** The gids this process holds. */
  processGroups?: () => readonly number[];
  /** The name of the user this process runs as. */
  userName?: () => string;
}

/** The device tree's model, in the order the kernel offers it (/proc/device-tree links to the second on a Pi). */
const MODEL_FILES = ["/proc/device-tree/model", "/sys/firmware/devicetree/base/model"];

export function openBoard({ root = "/", processGroups = heldGroups, userName = () => userInfo().username }: BoardSources = {}): Board {
  const file = (absolutePath: string) => join(root, absolutePath);
  return {
    file,
    model: async () => {
      for (const path of MODEL_FILES) {
        try {
          // The property is a NUL-terminated string.
          return (await readFile(file(path), "utf8")).replace(/\0/g, "").trim();
        } catch {
          // Absent on boards without a device tree; try the next place.
        }
      }
      return undefined;
    },
    deviceName: async (devicePath) => {
      try {
        return basename(await realpath(file(devicePath)));
      } catch {
        return undefined;
      }
    },
    groupMembership: (group) => {
      let text: string;
      try {
        text = readFileSync(file("/etc/group"), "utf8");
      } catch {
        return undefined;
      }
      // name:password:gid:member,member
      const entry = text.split("\n").map((line) => line.split(":")).find((fields) => fields[0] === group);
      if (entry === undefined) return undefined;
      const gid = Number(entry[2]);
      const members = (entry[3] ?? "").split(",").map((member) => member.trim());
      return { held: processGroups().includes(gid), listed: members.includes(userName()) };
    },
  };
}

/** The board this process runs on. */
export const hostBoard: Board = openBoard();

export function isRaspberryPi(model: string | undefined): boolean {
  return model?.startsWith("Raspberry Pi") ?? false;
}

/** Supplementary groups and the effective group: either grants access to a device node owned by the group. */
function heldGroups(): number[] {
  return [...(process.getgroups?.() ?? []), ...(process.getegid ? [process.getegid()] : [])];
}
