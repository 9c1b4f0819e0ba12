// A promise face over the sqlite3 package, with every operation run in order on one connection:
// the async binding would otherwise interleave statements of different transactions.
import sqlite3 from "sqlite3";
import { OneAtATime } from "../lib/one-at-a-time.ts";

type Param = string | number | null;

export class Database {
  private readonly turns = new OneAtATime();

  private constructor(private readonly db: sqlite3.Database) {}

  /** Opens (creating it unless `readonly`) the database file at `path`. */
  static open(path: string, options: { readonly?: boolean } = {}): Promise<Database> {
    const mode = options.readonly ? sqlite3.OPEN_READONLY : sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE;
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, mode, (error) => (error ? reject(error) : resolve(new Database(db))));
    });
  }

  /** Runs `work` after every operation queued before it; nothing else runs on the connection meanwhile. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    return this.turns.run(work);
  }

  run(sql: string, params: Param[] = []): Promise<{ changes: number; lastID: number }> {
    return new Promise((resolve, reject) => {
      this.db.run(sql, params, function (error) {
        if (error) reject(error);
        else resolve({ changes: this.changes, lastID: this.lastID });
      });
    });
  }

  all<Row>(sql: string, params: Param[] = []): Promise<Row[]> {
    return new Promise((resolve, reject) => {
      this.db.all(sql, params, (error, rows: Row[]) => (error ? reject(error) : resolve(rows)));
    });
  }

  async get<Row>(sql: string, params: Param[] = []): Promise<Row | undefined> {
    const rows = await this.all<Row>(sql, params);
    return rows[0];
  }

  exec(sql: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.db.exec(sql, (error) => (error ? reject(error) : resolve()));
    });
  }

  /** `work` inside BEGIN IMMEDIATE … COMMIT; rolled back if it throws. Call only from inside `exclusive`. */
  async transaction<T>(work: () => Promise<T>): Promise<T> {
    await this.exec("BEGIN IMMEDIATE");
    try {
      const result = await work();
      await this.exec("COMMIT");
      return result;
    } catch (error) {
      await this.exec("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  close(): Promise<void> {
    return this.exclusive(
      () => new Promise<void>((resolve, reject) => this.db.close((error) => (error ? reject(error) : resolve()))),
    );
  }
}
