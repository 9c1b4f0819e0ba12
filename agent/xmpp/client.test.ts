// The client's start() against a peer that resets the connection while the stream opens (a server or middlebox
// closing right after accepting): the failure is start()'s rejection and nothing else.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { setImmediate as nextTurn } from "node:timers/promises";
import { createClient } from "./client.ts";

describe("createClient start()", () => {
  let server: net.Server;
  let service: string;
  before(async () => {
    // Accepts, reads the stream header, answers with a reset.
    server = net.createServer((socket) => socket.once("data", () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    service = `xmpp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  it("rejects with the reset and leaves no unhandled rejection (which would end the agent)", async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", record);
    try {
      const { entity } = createClient({ service, domain: "localhost", username: "gw1", password: "secret", resource: "edge" });
      entity.on("error", () => undefined);
      await assert.rejects(entity.start(), { code: "ECONNRESET" });
      // Unhandled rejections are reported once the microtask queue is empty.
      await nextTurn();
      await nextTurn();
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", record);
    }
  });
});
