// The agent's own presence against a fake outlet: updates go out only while online, built from the face's builder.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { xml, type Element } from "../client.ts";
import { OwnPresence } from "./own-presence.ts";

function outlet() {
  const sent: string[] = [];
  return { isOnline: false, sent, send: (stanza: Element) => Promise.resolve(sent.push(stanza.toString()) > 0) };
}

describe("OwnPresence", () => {
  it("sends a bare available presence until a face sets its builder", () => {
    const online = { ...outlet(), isOnline: true };
    new OwnPresence(online).update();
    assert.deepEqual(online.sent, ["<presence/>"]);
  });

  it("builds and sends the face's presence on each update while online, and does not even build it while offline", () => {
    const link = outlet();
    const presence = new OwnPresence(link);
    let built = 0;
    presence.set(() => xml("presence", {}, xml("status", {}, `update ${++built}`)));
    presence.update();
    assert.equal(built, 0);
    link.isOnline = true;
    presence.update();
    presence.update();
    assert.deepEqual(link.sent, ["<presence><status>update 1</status></presence>", "<presence><status>update 2</status></presence>"]);
  });
});
