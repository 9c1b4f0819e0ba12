// Synchronous /proc helpers: they also run inside process.on("exit"), where nothing async is possible.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcInfo {
  pid: number;
  ppid: number;
  /** Single-letter state from /proc/PID/stat (R, S, Z, T, ...). */
  state: string;
  /** Arguments joined by spaces. */
  cmdline: string;
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may contain spaces or parentheses: parse after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const state = rest[0] ?? "?";
    const ppid = Number(rest[1]);
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      // Exited between the two reads; keep what stat said.
    }
    return { pid, ppid, state, cmdline };
  } catch {
    return undefined;
  }
}

export function listProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const info = readProc(Number(name));
    if (info) out.push(info);
  }
  return out;
}

/** Alive and not a zombie (a zombie has released its ports and files already). */
export function isAlive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  const info = readProc(pid);
  return info !== undefined && info.state !== "Z" && info.state !== "X";
}

export function cmdlineOf(pid: number): string | undefined {
  return readProc(pid)?.cmdline;
}

/**
 * Live processes that belong to a server instance: those whose command line
 * mentions the instance folder, plus all their descendants and those of `roots`
 * (children such as erl_child_setup do not mention the folder).
 */
export function instanceProcesses(dir: string, roots: Array<number | undefined>): ProcInfo[] {
  const all = listProcesses().filter((p) => p.state !== "Z" && p.state !== "X" && p.pid !== process.pid);
  const children = new Map<number, ProcInfo[]>();
  for (const p of all) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  const marker = dir.endsWith("/") ? dir : `${dir}/`;
  const found = new Map<number, ProcInfo>();
  const queue: number[] = [];
  for (const p of all) {
    if (p.cmdline.includes(marker)) {
      found.set(p.pid, p);
      queue.push(p.pid);
    }
  }
  for (const r of roots) {
    if (r === undefined) continue;
    const info = all.find((p) => p.pid === r);
    if (info && !found.has(r)) {
      found.set(r, info);
      queue.push(r);
    }
  }
  while (queue.length > 0) {
    const pid = queue.pop() as number;
    for (const c of children.get(pid) ?? []) {
      if (!found.has(c.pid)) {
        found.set(c.pid, c);
        queue.push(c.pid);
      }
    }
  }
  return [...found.values()];
}

/** Send a signal, ignoring processes that are already gone. */
export function trySignal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/** Inode of the socket listening on 127.0.0.1:port (IPv4 only: the servers bind 127.0.0.1). */
function listeningInode(port: number): string | undefined {
  let table: string;
  try {
    table = readFileSync("/proc/net/tcp", "utf8");
  } catch {
    return undefined;
  }
  const wanted = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  for (const line of table.split("\n").slice(1)) {
    const cols = line.trim().split(/\s+/);
    // cols: sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (cols[1] === wanted && cols[3] === "0A") return cols[9];
  }
  return undefined;
}

/** True when `pid` itself holds the listening socket on 127.0.0.1:port, so a stranger on that port cannot fool us. */
export function ownsListener(pid: number, port: number): boolean {
  const inode = listeningInode(port);
  if (inode === undefined) return false;
  const target = `socket:[${inode}]`;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === target) return true;
    } catch {
      // fd closed meanwhile
    }
  }
  return false;
}
