// `xedge check` as an installer runs it (the bundle), against one private Prosody: every line ✓ and exit 0 on a
// good gateway, a faulty simulated sensor's ✗ beside the others' values, a wrong password, nodes someone else
// made (one this account may publish to, one it may not), and --offline. The store is checked, never created.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runCli, writeAgentConfig } from "../support/agent.ts";
import { Observer } from "../support/observer.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";
import { xml } from "../../agent/xmpp/client.ts";

const NS_PUBSUB = "http://jabber.org/protocol/pubsub";
const NS_OWNER = "http://jabber.org/protocol/pubsub#owner";

const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }
  - { id: cellar, driver: ds18b20, onewire: {} }
actuators:
  - { id: relay, driver: gpio-output, gpio: { pin: 27 } }`;

const lines = (stdout: string) => stdout.trim().split("\n");

describe("xedge check against Prosody", () => {
  let server: XmppTestServer;
  let owner: Observer;
  before(async () => {
    // gw1 may create nodes on the component; gw2 may not (Prosody lets only the component's admins create).
    server = await startServer("prosody", { accounts: { gw1: "gw1-secret", gw2: "gw2-secret", owner: "owner-secret" }, pubsubAdmins: ["gw1@localhost", "owner@localhost"] });
    owner = await Observer.connect(server, "owner", "owner-secret");
  });
  after(async () => {
    await owner?.close();
    await server?.stop();
  });

  it("passes every line with exit 0, leaves no item in the nodes and no store, and passes again once the nodes exist", async () => {
    const { file, dir } = writeAgentConfig(server, { devices: DEVICES });
    for (const run of ["creating the nodes", "with the nodes made"]) {
      const result = await runCli(["check", "--config", file]);
      assert.equal(result.code, 0, `${run}:\n${result.stdout}${result.stderr}`);
      const printed = lines(result.stdout);
      assert.ok(printed.every((line) => line.startsWith("✓ ")), result.stdout);
      assert.deepEqual(
        printed.map((line) => line.replace(/\d+\.\d+/g, "N")),
        [
          `✓ ${file}: config is valid (2 sensors, hardware: sim)`,
          "✓ sensors[0] (boiler): bme280: temperature N °C, humidity N %RH, pressure N hPa",
          "✓ sensors[1] (cellar): ds18b20: temperature N °C",
          "✓ actuators[0] (relay): gpio-output: safe state off (GPIO 27 low); not opened, since opening drives it",
          `✓ store.path (${join(dir, "xedge.db")}): no store yet: the agent creates it at its first start`,
          `✓ login gw1@localhost: logged in on ${server.service.replace(/\d+\.\d+/g, "N")}, TLS verified against the system's CAs and ${server.caFile}`,
          "✓ pubsub node xedge/gw1/boiler: gw1@localhost may publish on pubsub.localhost as the agent will: published and retracted a check item",
          "✓ pubsub node xedge/gw1/cellar: gw1@localhost may publish on pubsub.localhost as the agent will: published and retracted a check item",
        ],
        run,
      );
    }
    for (const node of ["xedge/gw1/boiler", "xedge/gw1/cellar"]) assert.deepEqual(await owner.items(server.pubsubService, node), [], `${node} holds no item`);
    assert.equal(existsSync(join(dir, "xedge.db")), false, "the store was not created");
  });

  it("prints a faulty sensor's error beside the other sensors' values, exit 1, and no server line offline", async () => {
    const { file } = writeAgentConfig(server, {
      sensors: ["  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 } }", "  - { id: attic, driver: bme280, i2c: { bus: 1, address: 0x77 }, sim: { faults: [{ kind: eio }] } }"].join("\n"),
    });
    const result = await runCli(["check", "--offline", "--config", file]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const printed = lines(result.stdout);
    assert.equal(printed.length, 4, result.stdout);
    assert.match(printed[1]!, /^✓ sensors\[0\] \(boiler\): bme280: temperature \d+\.\d+ °C/);
    assert.match(printed[2]!, /^✗ sensors\[1\] \(attic\): .*0x77.*EIO/);
    assert.doesNotMatch(result.stdout, /login|pubsub node/);
  });

  it("names a refused login and checks no node, exit 1", async () => {
    const { file } = writeAgentConfig(server, { password: "not-the-password" });
    const result = await runCli(["check", "--config", file]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.equal(lines(result.stdout).at(-1), "✗ login gw1@localhost: login refused (not-authorized): check xmpp.jid and the password");
    assert.doesNotMatch(result.stdout, /pubsub node/);
  });

  it("on nodes another account made: ✓ where it is a publisher, saying what the node keeps; ✗ naming the node and the fix where not", async () => {
    for (const node of ["xedge/gw2/boiler", "xedge/gw2/cellar"]) {
      await owner.iq("set", server.pubsubService, xml("pubsub", { xmlns: NS_PUBSUB }, xml("create", { node })));
    }
    await owner.iq("set", server.pubsubService, xml("pubsub", { xmlns: NS_OWNER }, xml("affiliations", { node: "xedge/gw2/boiler" }, xml("affiliation", { jid: "gw2@localhost", affiliation: "publisher" }))));
    const { file } = writeAgentConfig(server, { user: "gw2", password: "gw2-secret", devices: DEVICES });
    writeFileSync(file, readFileSync(file, "utf8").replace("nodePrefix: xedge/gw1", "nodePrefix: xedge/gw2"));
    const result = await runCli(["check", "--config", file]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const [boiler, cellar] = lines(result.stdout).slice(-2);
    assert.match(
      boiler!,
      /^✓ pubsub node xedge\/gw2\/boiler: gw2@localhost may publish on pubsub\.localhost as the agent will: published and retracted a check item; pubsub\.localhost does not let gw2@localhost create or configure node xedge\/gw2\/boiler \(forbidden.*\): publishing to it without publish-options/,
    );
    assert.match(cellar!, /^✗ pubsub node xedge\/gw2\/cellar: pubsub\.localhost refused to let gw2@localhost publish to node xedge\/gw2\/cellar \(forbidden\): on Prosody add "gw2@localhost" to admins/);
    assert.deepEqual(await owner.items(server.pubsubService, "xedge/gw2/boiler"), [], "the check item was retracted");
  });
});
