// XEP-0325 control of numeric parameters through a real Prosody: a gateway with two channels of one simulated
// PCA9685 (drivers/pca9685) takes an <int> duty and a <double> percent, and the XEP-0323 readout and getForm
// show the new values, and so do the nf dialect's <i> and <db>; a third entry asking the same chip for another
// frequency is unavailable, saying why.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startSimGateway, AGENT_JID, type SimGateway } from "../support/gateway-fixture.ts";
import { until } from "../support/audit.ts";
import { createClient, xml, type Element } from "../../agent/xmpp/client.ts";

const NS_CONTROL = "urn:xmpp:iot:control";
const NS_DATA = "jabber:x:data";
const NS_SENSORDATA = "urn:xmpp:iot:sensordata";
const NS_NF_CONTROL = "urn:nf:iot:ctr:1.0";

const PWM_GATEWAY = `actuators:
  - { id: lamp, driver: pca9685, i2c: { bus: 1, address: 0x40 }, channel: 0, frequency: 1000 }
  - { id: strip, driver: pca9685, i2c: { bus: 1 }, channel: 1, frequency: 1000, safeDuty: 4095 }
  - { id: servo, driver: pca9685, i2c: { bus: 1 }, channel: 15, frequency: 50 }`;

describe("XEP-0325 int and double control of a PCA9685 channel on prosody", () => {
  let gateway: SimGateway | undefined;
  let client: ReturnType<typeof createClient>;
  const messages: Element[] = [];

  const iq = (type: "get" | "set", child: Element) => client.request(xml("iq", { type, to: AGENT_JID }, child), 10_000);

  /** The lamp's fields in a XEP-0323 readout, by name: [element, value, unit]. */
  async function readoutLamp(seqnr: string): Promise<Record<string, [string, string, string | undefined]>> {
    await iq("get", xml("req", { xmlns: NS_SENSORDATA, seqnr }, xml("node", { nodeId: "lamp" })));
    const message = await until(
      async () => messages.find((m) => m.getChild("fields", NS_SENSORDATA)?.attrs.seqnr === seqnr),
      (found) => found !== undefined,
      `readout ${seqnr} of the lamp`,
    );
    const node = message?.getChild("fields", NS_SENSORDATA)?.getChildren("node").find((n) => n.attrs.nodeId === "lamp");
    const fields = node?.getChild("timestamp")?.children.filter((child): child is Element => typeof child !== "string") ?? [];
    return Object.fromEntries(fields.map((field) => [String(field.attrs.name), [field.name, String(field.attrs.value), field.attrs.unit as string | undefined]]));
  }

  async function formValues(nodeId: string): Promise<Record<string, string | null>> {
    const reply = await iq("get", xml("getForm", { xmlns: NS_CONTROL }, xml("node", { nodeId })));
    const fields = reply.getChild("x", NS_DATA)?.getChildren("field") ?? [];
    return Object.fromEntries(fields.filter((field) => field.attrs.type !== "hidden").map((field) => [String(field.attrs.var), field.getChildText("value")]));
  }

  before(async () => {
    gateway = await startSimGateway("prosody", { devices: PWM_GATEWAY });
    const { server } = gateway;
    client = createClient({ service: server.service, domain: server.domain, username: "ops", password: "ops-secret", resource: "console", caFile: server.caFile });
    client.entity.on("error", () => undefined);
    client.entity.on("stanza", (stanza: Element) => {
      if (stanza.is("message")) messages.push(stanza);
    });
    await client.entity.start();
  });
  after(async () => {
    await client?.entity.stop().catch(() => undefined);
    if (gateway) assert.equal(await gateway.stop(), 0);
  });

  it("opens at the safe duties; getForm offers duty (int) and percent (double) with their ranges", async () => {
    assert.deepEqual(await formValues("lamp"), { duty: "0", percent: "0.00" });
    assert.deepEqual(await formValues("strip"), { duty: "4095", percent: "100.00" });
    const reply = await iq("get", xml("getForm", { xmlns: NS_CONTROL }, xml("node", { nodeId: "lamp" })));
    const validate = (name: string) =>
      reply.getChild("x", NS_DATA)?.getChildren("field").find((field) => field.attrs.var === name)?.getChild("validate", "http://jabber.org/protocol/xdata-validate");
    assert.deepEqual([validate("duty")?.attrs.datatype, validate("duty")?.getChild("range")?.attrs.max], ["xs:int", "4095"]);
    assert.deepEqual([validate("percent")?.attrs.datatype, validate("percent")?.getChild("range")?.attrs.max], ["xs:double", "100"]);
  });

  it("sets <int name='duty' value='2048'/> and <double name='percent' value='25'/>; the readout shows each", async () => {
    const duty = await iq("set", xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "lamp" }), xml("int", { name: "duty", value: "2048" })));
    assert.equal(duty.getChild("setResponse", NS_CONTROL)?.attrs.responseCode, "OK", duty.toString());
    const afterDuty = await readoutLamp("7001");
    assert.equal(afterDuty.duty?.[1], "2048", JSON.stringify(afterDuty));
    assert.deepEqual(afterDuty.percent, ["numeric", "50.00", "%"]);

    const percent = await iq("set", xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "lamp" }), xml("double", { name: "percent", value: "25" })));
    assert.equal(percent.getChild("setResponse", NS_CONTROL)?.attrs.responseCode, "OK", percent.toString());
    const afterPercent = await readoutLamp("7002");
    assert.equal(afterPercent.duty?.[1], "1024", JSON.stringify(afterPercent));
    assert.deepEqual(afterPercent.percent, ["numeric", "25.00", "%"]);
    assert.deepEqual(await formValues("lamp"), { duty: "1024", percent: "25.00" });
    assert.deepEqual(await formValues("strip"), { duty: "4095", percent: "100.00" }, "the other channel of the chip is untouched");
  });

  it("in the nf dialect too: <i n='duty'/> and <db n='percent'/> are applied, and the answer names them", async () => {
    const duty = await iq("set", xml("set", { xmlns: NS_NF_CONTROL }, xml("nd", { id: "lamp" }), xml("i", { n: "duty", v: "3072" })));
    const applied = (reply: Element) => reply.getChild("resp", NS_NF_CONTROL)?.getChildren("p").map((p) => String(p.attrs.n));
    assert.deepEqual(applied(duty), ["duty"], duty.toString());
    assert.deepEqual(await formValues("lamp"), { duty: "3072", percent: "75.00" });
    const percent = await iq("set", xml("set", { xmlns: NS_NF_CONTROL }, xml("nd", { id: "lamp" }), xml("db", { n: "percent", v: "25" })));
    assert.deepEqual(applied(percent), ["percent"], percent.toString());
    assert.deepEqual(await formValues("lamp"), { duty: "1024", percent: "25.00" });
  });

  it("refuses a duty out of range before touching the channel, naming the parameter", async () => {
    await assert.rejects(
      iq("set", xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "lamp" }), xml("int", { name: "duty", value: "4096" }))),
      (error: { condition?: string; application?: Element }) =>
        error.condition === "bad-request" && error.application?.attrs.var === "duty",
    );
    assert.deepEqual(await formValues("lamp"), { duty: "1024", percent: "25.00" });
  });

  it("an entry asking the chip for another frequency is unavailable, and the error says why", async () => {
    await assert.rejects(
      iq("set", xml("set", { xmlns: NS_CONTROL }, xml("node", { nodeId: "servo" }), xml("int", { name: "duty", value: "307" }))),
      (error: { condition?: string; text?: string }) =>
        error.condition === "conflict" && /channel 15 asks for 50 Hz, but channels 0, 1 run this chip at 1000 Hz/.test(String(error.text)),
    );
  });
});
