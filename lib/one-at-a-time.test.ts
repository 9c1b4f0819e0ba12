import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OneAtATime } from "./one-at-a-time.ts";

describe("one at a time", () => {
  it("runs work in the order asked, never two at once, and a failure does not block what follows", async () => {
    const turns = new OneAtATime();
    const log: string[] = [];
    let running = 0;
    const step = (name: string, fail = false) =>
      turns.run(async () => {
        running += 1;
        assert.equal(running, 1, "nothing else runs meanwhile");
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`end ${name}`);
        running -= 1;
        if (fail) throw new Error(`${name} failed`);
        return name;
      });
    const results = await Promise.allSettled([step("a"), step("b", true), step("c")]);
    assert.deepEqual(log, ["start a", "end a", "start b", "end b", "start c", "end c"]);
    assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
  });

  it("idle resolves after everything asked for so far", async () => {
    const turns = new OneAtATime();
    let done = false;
    void turns.run(async () => {
      await new Promise((r) => setTimeout(r, 10));
      done = true;
    });
    await turns.idle();
    assert.equal(done, true);
  });
});
