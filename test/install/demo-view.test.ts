// The demo's live view, rendered from pubsub payloads and the store's status without a server.
import { it } from "node:test";
import assert from "node:assert/strict";
import { xml } from "../../agent/xmpp/client.ts";
import { DemoView } from "../../scripts/demo-view.ts";

const header = { gateway: "gw1@localhost/edge", operator: "ops@localhost", password: "pw", host: "127.0.0.1", port: 5222, caFile: "/tmp/ca.crt", statusCommand: "xedge status" };
const payload = (fields: ReturnType<typeof xml>[]) =>
  xml("fields", { xmlns: "urn:xmpp:iot:sensordata" }, xml("node", { nodeId: "x" }, xml("timestamp", { value: "2025-01-05T10:00:00Z" }, ...fields)));

it("shows each sensor's latest values, item number and a sparkline of its first numeric field", () => {
  const view = new DemoView(header, ["boiler", "door", "gps"]);
  for (const [seq, temperature] of [[1, "20.00"], [2, "21.00"], [3, "22.00"]] as const) {
    view.addItem("boiler", String(seq), payload([xml("numeric", { name: "temperature", value: temperature, unit: "°C" }), xml("numeric", { name: "humidity", value: "40.00", unit: "%RH" })]));
  }
  view.addItem("door", "7", payload([xml("boolean", { name: "state", value: "false" })]));
  const now = new Date("2025-01-05T10:00:05Z");
  view.setStatus({ unsent: 3, dropped: 0, lastPublished: new Date("2025-01-05T10:00:03Z"), sensors: [{ sensorId: "gps", lastSeq: 0, error: "nmea: no fix" }] });
  const lines = view.render(now);
  assert.ok(lines.includes("  boiler      #3  ▁▅█                       temperature 22.00 °C  humidity 40.00 %RH"), lines.join("\n"));
  assert.ok(lines.includes("  door        #7                            state false"), lines.join("\n"));
  assert.ok(lines.includes("  gps          -                            FAILING: nmea: no fix"), lines.join("\n"));
  assert.equal(lines.at(-1), "  buffer 3 · dropped 0 · last publish 2 s ago");
  assert.ok(view.render(now, 40).every((line) => line.length <= 40), "cut to the terminal's width");
});
