import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { xml } from "./client.ts";
import { formElement, parseSet, registerControl, NS_CONTROL } from "./control.ts";
import { XmppConnection } from "./connection.ts";
import type { OperatorDesk } from "../operator/desk.ts";

describe("XEP-0325 face", () => {
  it("reads nodes, typed parameters in order, unknown elements as types, and submitted forms", () => {
    const set = xml(
      "set",
      { xmlns: NS_CONTROL },
      xml("node", { nodeId: "pump" }),
      xml("boolean", { name: "state", value: "true" }),
      xml("double", { name: "setpoint", value: "55.0" }),
      xml("node", { nodeId: "valve" }),
      xml("numeric", { name: "x", value: "1" }),
      xml("int", { value: "3" }),
      xml(
        "x",
        { xmlns: "jabber:x:data", type: "submit" },
        xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, "urn:xmpp:iot:control")),
        xml("field", { var: "xdd session" }, xml("value", {}, "abc")),
        xml("field", { var: "mode" }, xml("value", {}, "auto")),
      ),
    );
    assert.deepEqual(parseSet(set), {
      nodeIds: ["pump", "valve"],
      values: [
        { name: "state", type: "boolean", value: "true" },
        { name: "setpoint", type: "double", value: "55.0" },
        { name: "x", type: "numeric", value: "1" },
        { name: "", type: "int", value: "3" },
        { name: "mode", value: "auto" },
      ],
    });
    assert.deepEqual(parseSet(xml("set", { xmlns: NS_CONTROL })), { values: [] });
  });

  it("renders the form: typed fields, XEP-0122 validation with ranges, options, notSame, a hidden session", () => {
    const form = formElement([
      { spec: { name: "state", type: "boolean", description: "relay on" }, nodeIds: ["a", "b"], value: "true", notSame: true },
      { spec: { name: "speed", type: "int", min: 0, max: 100 }, nodeIds: ["a"], value: "10", notSame: false },
      { spec: { name: "setpoint", type: "double", min: 20, unit: "°C" }, nodeIds: ["a"], notSame: false },
      { spec: { name: "mode", type: "string", options: ["auto", "manual"] }, nodeIds: ["a"], value: "auto", notSame: false },
    ]);
    assert.equal(form.attrs.type, "form");
    const fields = form.getChildren("field");
    assert.deepEqual(fields.map((field) => [String(field.attrs.var), String(field.attrs.type)]), [
      ["xdd session", "hidden"],
      ["state", "boolean"],
      ["speed", "text-single"],
      ["setpoint", "text-single"],
      ["mode", "list-single"],
    ]);
    const [, state, speed, setpoint, mode] = fields;
    assert.equal(state?.getChildText("desc"), "relay on");
    assert.ok(state?.getChild("notSame", "urn:xmpp:xdata:dynamic"));
    assert.equal(speed?.getChild("notSame", "urn:xmpp:xdata:dynamic"), undefined);
    const validate = speed?.getChild("validate", "http://jabber.org/protocol/xdata-validate");
    assert.equal(validate?.attrs.datatype, "xs:int");
    assert.deepEqual(validate?.getChild("range")?.attrs, { min: "0", max: "100" });
    assert.equal(setpoint?.attrs.label, "setpoint (°C)");
    assert.equal(setpoint?.getChild("value"), undefined, "no value when the state could not be read");
    assert.equal(setpoint?.getChild("validate")?.attrs.datatype, "xs:double");
    assert.deepEqual(setpoint?.getChild("validate")?.getChild("range")?.attrs, { min: "20" });
    assert.deepEqual(mode?.getChildren("option").map((option) => option.getChildText("value")), ["auto", "manual"]);
    assert.equal(mode?.getChildText("value"), "auto");
  });
});

describe("XEP-0325 face in disco", () => {
  it("announces control for <set> and XEP-0336 dynamic forms for getForm", () => {
    // Never started: registering only fills the route table and disco.
    const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    const options = { service: "xmpp://127.0.0.1:1", domain: "localhost", username: "gw1", password: "-", resource: "edge", pingIntervalMs: 60_000, pingTimeoutMs: 10_000, reconnect: { initialDelayMs: 1_000, maxDelayMs: 60_000 } };
    const connection = new XmppConnection(options, quiet);
    const unused: Pick<OperatorDesk, "for"> = { for: () => assert.fail("no stanza is handled") };
    registerControl(connection, { desk: unused, log: quiet });
    const features = connection.discoInfo().features;
    assert.ok(features.includes(NS_CONTROL), features.join(" "));
    assert.ok(features.includes("urn:xmpp:xdata:dynamic"), features.join(" "));
  });
});
