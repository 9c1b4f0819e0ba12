// Rebuilds a folder as a power cut would have left it, from the log write-log.c recorded. A cut after record k
// keeps, of each file, everything up to its last completed fsync before k; of what was written since then it
// keeps nothing ("lost": the page cache is gone), or some of it ("torn": a chosen subset of those writes, in
// order, reached the disk, as a power cut during the flush leaves it), or all of it ("kept": what kill -9 leaves).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";

export type Loss = "lost" | "torn" | "kept";

export interface LogRecord {
  kind: "O" | "W" | "T" | "S" | "U" | "A";
  file: number;
  offset: number;
  data: Buffer;
}

export function readLog(path: string): LogRecord[] {
  const log = readFileSync(path);
  const records: LogRecord[] = [];
  for (let at = 0; at + 17 <= log.length; ) {
    const length = log.readUInt32LE(at + 13);
    records.push({
      kind: String.fromCharCode(log[at] ?? 0) as LogRecord["kind"],
      file: log.readUInt32LE(at + 1),
      offset: Number(log.readBigUInt64LE(at + 5)),
      data: log.subarray(at + 17, at + 17 + length),
    });
    at += 17 + length;
  }
  return records;
}

/** A file's content as changes make it: writes past its end extend it with zeros between. */
class FileImage {
  private buffer = Buffer.alloc(0);
  private size = 0;
  exists = true;

  get content(): Buffer {
    return this.buffer.subarray(0, this.size);
  }

  copy(): FileImage {
    const copy = new FileImage();
    copy.buffer = Buffer.from(this.content);
    copy.size = this.size;
    copy.exists = this.exists;
    return copy;
  }

  apply(record: LogRecord): void {
    if (record.kind === "W") {
      this.resize(Math.max(this.size, record.offset + record.data.length));
      record.data.copy(this.buffer, record.offset);
      this.exists = true;
    } else if (record.kind === "T") {
      this.resize(record.offset);
    } else if (record.kind === "U") {
      this.size = 0;
      this.exists = false;
    }
  }

  /** Grows by doubling, so that a file written page by page costs linear time; new bytes are zeros. */
  private resize(size: number): void {
    if (size > this.buffer.length) {
      const grown = Buffer.alloc(Math.max(size, this.buffer.length * 2));
      this.buffer.copy(grown, 0, 0, this.size);
      this.buffer = grown;
    } else if (size > this.size) {
      this.buffer.fill(0, this.size, size);
    }
    this.size = size;
  }
}

/**
 * Walks the log once, forward: `advanceTo(cut)` takes in the records before `cut`, `write` puts the folder as a
 * cut there leaves it into `into`. `keep(i)` chooses, for "torn", which unsynced change (by record index)
 * reached the disk. The -shm file is left out: SQLite never syncs it and rebuilds it from the WAL.
 */
export class Replay {
  private next = 0;
  private readonly names = new Map<number, string>();
  private readonly durable = new Map<number, FileImage>();
  private readonly unsynced = new Map<number, number[]>();

  constructor(private readonly records: readonly LogRecord[]) {}

  advanceTo(cut: number): void {
    for (; this.next < cut; this.next++) {
      const record = this.records[this.next];
      if (!record || record.kind === "A") continue;
      if (record.kind === "O") {
        this.names.set(record.file, basename(record.data.toString()));
        continue;
      }
      const image = this.durable.get(record.file) ?? new FileImage();
      this.durable.set(record.file, image);
      const pending = this.unsynced.get(record.file) ?? [];
      this.unsynced.set(record.file, pending);
      if (record.kind === "S") {
        for (const index of pending) image.apply(this.records[index] as LogRecord);
        pending.length = 0;
      } else if (record.kind === "U") {
        // An unlink is taken as durable at once: SQLite deletes only a WAL it has checkpointed and synced.
        pending.length = 0;
        image.apply(record);
      } else {
        pending.push(this.next);
      }
    }
  }

  write(loss: Loss, into: string, keep: (index: number) => boolean = () => true): void {
    mkdirSync(into, { recursive: true });
    for (const [file, image] of this.durable) {
      const name = this.names.get(file);
      if (!name || name.endsWith(".ack") || name.endsWith("-shm")) continue;
      const pending = loss === "lost" ? [] : (this.unsynced.get(file) ?? []).filter((index) => loss === "kept" || keep(index));
      const final = pending.length > 0 ? image.copy() : image;
      for (const index of pending) final.apply(this.records[index] as LogRecord);
      if (final.exists) writeFileSync(join(into, name), final.content);
    }
  }
}

/** The folder after a cut following record `cut - 1`, from the start of the log (see Replay). */
export function materialize(records: readonly LogRecord[], cut: number, loss: Loss, into: string, keep?: (index: number) => boolean): void {
  const replay = new Replay(records);
  replay.advanceTo(cut);
  replay.write(loss, into, keep);
}

/** The highest sequence number per sensor acknowledged before record `cut`. */
export function acknowledged(records: readonly LogRecord[], cut: number): Map<string, number> {
  const highest = new Map<string, number>();
  for (let i = 0; i < cut; i++) {
    const record = records[i];
    if (record?.kind !== "A") continue;
    for (const line of record.data.toString().split("\n").filter(Boolean)) {
      for (const [sensor, seq] of Object.entries(JSON.parse(line) as Record<string, number>)) highest.set(sensor, Math.max(highest.get(sensor) ?? 0, seq));
    }
  }
  return highest;
}
