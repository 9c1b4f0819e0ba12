// Loads every native addon of an unpacked release the way its bundle does (resolved from lib/, not from the
// repository), uses each a little, and prints one JSON line per addon with the .node files it loaded.
// Plain JavaScript so that any Node runs it, also an emulated arm64 Node 18. Usage: node release-addons.mjs RELEASE_DIR
import { createRequire } from "node:module";
import { join } from "node:path";
import process from "node:process";

const releaseRequire = createRequire(join(process.argv[2], "lib/xedge.mjs"));
const loadedBinaries = () => Object.keys(releaseRequire.cache).filter((file) => file.endsWith(".node"));

const uses = {
  sqlite3: (sqlite3) =>
    new Promise((resolve, reject) => {
      const db = new sqlite3.Database(":memory:");
      db.get("select sqlite_version() as version", (error, row) => (error ? reject(error) : db.close(() => resolve(`SQLite ${row.version}`))));
    }),
  epoll: (epoll) => `Epoll is a ${typeof epoll.Epoll}`,
  "i2c-bus": (i2c) => `openSync is a ${typeof i2c.openSync}`,
  "@serialport/bindings-cpp": (bindings) => `autoDetect().list is a ${typeof bindings.autoDetect().list}`,
  koffi: (koffi) => `getpid() through libc is ${koffi.load("libc.so.6").func("int getpid()")() === process.pid ? "this pid" : "another pid"}`,
};

for (const [name, use] of Object.entries(uses)) {
  const before = new Set(loadedBinaries());
  const result = await use(releaseRequire(name));
  const binaries = loadedBinaries().filter((file) => !before.has(file));
  process.stdout.write(`${JSON.stringify({ name, result, binaries, abi: process.versions.modules, arch: process.arch })}\n`);
}
