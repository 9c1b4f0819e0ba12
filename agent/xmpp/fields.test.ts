// The XEP-0323 rendering of a reading, as it goes into the pubsub item.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Field, Reading } from "../../lib/model.ts";
import { NS_SENSORDATA, nodeElement, readingPayload } from "./fields.ts";

const timestamp = new Date(Date.UTC(2024, 0, 15, 12, 0, 0, 250));

const reading = (fields: Field[], seq = 7): Reading => ({ sensorId: "boiler", seq, timestamp, fields });

describe("readingPayload", () => {
  it("renders fields > node > timestamp with seqnr and done", () => {
    const payload = readingPayload(reading([{ name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2 }]));
    assert.equal(
      payload.toString(),
      '<fields xmlns="urn:xmpp:iot:sensordata" seqnr="7" done="true">' +
        '<node nodeId="boiler"><timestamp value="2024-01-15T12:00:00.250Z">' +
        '<numeric name="temperature" value="21.50" unit="°C" automaticReadout="true"/>' +
        "</timestamp></node></fields>",
    );
    assert.equal(NS_SENSORDATA, "urn:xmpp:iot:sensordata");
  });

  it("puts the sensor's sequence number in seqnr", () => {
    assert.equal(readingPayload(reading([], 1)).attrs.seqnr, "1");
    assert.equal(readingPayload(reading([], 123456)).attrs.seqnr, "123456");
  });

  it("keeps the precision of numeric values and always gives a unit", () => {
    const payload = readingPayload(
      reading([
        { name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2, flags: { momentary: true } },
        { name: "pressure", type: "numeric", value: 1013, unit: "hPa", decimals: 1 },
        { name: "ratio", type: "numeric", value: 0.125, unit: "", decimals: 3 },
      ]),
    );
    const numerics = payload.getChild("node")?.getChild("timestamp")?.getChildren("numeric") ?? [];
    assert.deepEqual(
      numerics.map((el) => el.attrs),
      [
        { name: "temperature", value: "21.50", unit: "°C", momentary: "true", automaticReadout: "true" },
        { name: "pressure", value: "1013.0", unit: "hPa", automaticReadout: "true" },
        { name: "ratio", value: "0.125", unit: "", automaticReadout: "true" },
      ],
    );
  });

  it("renders int, boolean and string fields with their own element names", () => {
    const payload = readingPayload(
      reading([
        { name: "count", type: "int", value: 42 },
        { name: "errors", type: "int", value: 3 },
        { name: "open", type: "boolean", value: true, flags: { status: true, momentary: false } },
        { name: "closed", type: "boolean", value: false },
        { name: "firmware", type: "string", value: "v1.2 <beta> & 'rc'" },
      ]),
    );
    const timestampEl = payload.getChild("node")?.getChild("timestamp");
    assert.ok(timestampEl);
    assert.deepEqual(
      timestampEl.children.map((child) => (typeof child === "string" ? child : [child.name, child.attrs])),
      [
        ["int", { name: "count", value: "42", automaticReadout: "true" }],
        ["int", { name: "errors", value: "3", automaticReadout: "true" }],
        ["boolean", { name: "open", value: "true", status: "true", automaticReadout: "true" }],
        ["boolean", { name: "closed", value: "false", automaticReadout: "true" }],
        ["string", { name: "firmware", value: "v1.2 <beta> & 'rc'", automaticReadout: "true" }],
      ],
    );
    // Text is escaped on the wire.
    assert.match(payload.toString(), /<string name="firmware" value="v1\.2 &lt;beta&gt; &amp; &apos;rc&apos;" automaticReadout="true"\/>/);
  });

  it("renders a reading without fields as an empty timestamp", () => {
    const payload = readingPayload(reading([]));
    assert.equal(
      payload.toString(),
      '<fields xmlns="urn:xmpp:iot:sensordata" seqnr="7" done="true"><node nodeId="boiler"><timestamp value="2024-01-15T12:00:00.250Z"/></node></fields>',
    );
  });
});

describe("values a schema-checking client accepts", () => {
  const rendered = (fields: Field[], options: Parameters<typeof nodeElement>[1] = {}) =>
    (nodeElement(reading(fields), options).getChild("timestamp")?.getChildElements() ?? []).map((el) => [el.name, String(el.attrs.value), el.attrs.unit as string | undefined]);

  it("writes int within xs:int, long beyond it, numeric beyond xs:long", () => {
    assert.deepEqual(
      rendered([
        { name: "a", type: "int", value: 2 ** 31 - 1 },
        { name: "b", type: "int", value: -(2 ** 31) },
        { name: "c", type: "int", value: 2 ** 31 },
        { name: "d", type: "int", value: -(2 ** 31) - 1 },
        { name: "e", type: "int", value: 2 ** 53 },
        { name: "f", type: "int", value: -(2 ** 63) },
        { name: "g", type: "int", value: 2 ** 63 },
        { name: "h", type: "int", value: 1e21 },
        { name: "i", type: "int", value: -7.9 },
      ]),
      [
        ["int", "2147483647", undefined],
        ["int", "-2147483648", undefined],
        ["long", "2147483648", undefined],
        ["long", "-2147483649", undefined],
        ["long", "9007199254740992", undefined],
        ["long", "-9223372036854775808", undefined],
        ["numeric", "9223372036854775808", ""],
        ["numeric", "1e+21", ""],
        ["int", "-7", undefined],
      ],
    );
  });

  it("gives int no unit: an int with a unit goes as numeric, without decimals", () => {
    assert.deepEqual(rendered([{ name: "count", type: "int", value: 118, unit: "pulses" }]), [["numeric", "118", "pulses"]]);
  });

  it("writes non-finite values as xs:double's INF, -INF and NaN", () => {
    const numeric = (value: number): Field => ({ name: "x", type: "numeric", value, unit: "°C", decimals: 2 });
    const int = (value: number): Field => ({ name: "n", type: "int", value });
    assert.deepEqual(rendered([numeric(Infinity), numeric(-Infinity), numeric(NaN), int(Infinity), int(NaN)]), [
      ["numeric", "INF", "°C"],
      ["numeric", "-INF", "°C"],
      ["numeric", "NaN", "°C"],
      ["numeric", "INF", ""],
      ["numeric", "NaN", ""],
    ]);
  });

  it("replaces characters XML cannot carry in a string value, and keeps every other", () => {
    const value = "a\u0001b\u001Fc\uFFFEd\uD800e\t\n\r 😀 \uFFFD";
    assert.deepEqual(rendered([{ name: "line", type: "string", value }]), [["string", "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\t\n\r 😀 \uFFFD", undefined]]);
  });

  it("keeps the same values in readout answers, where every int goes as numeric", () => {
    assert.deepEqual(rendered([{ name: "a", type: "int", value: 2 ** 40 }, { name: "b", type: "int", value: -Infinity, unit: "pulses" }], { portableTypes: true }), [
      ["numeric", "1099511627776", ""],
      ["numeric", "-INF", "pulses"],
    ]);
  });

  it("adds an int twin in readout answers for a whole number within xs:int and without a unit", () => {
    const int = (value: number, unit?: string): Field => ({ name: "n", type: "int", value, ...(unit ? { unit } : {}) });
    assert.deepEqual(rendered([int(2 ** 31 - 1), int(-(2 ** 31)), int(2 ** 31), int(5, "W"), int(NaN)], { portableTypes: true }), [
      ["numeric", "2147483647", ""],
      ["int", "2147483647", undefined],
      ["numeric", "-2147483648", ""],
      ["int", "-2147483648", undefined],
      ["numeric", "2147483648", ""],
      ["numeric", "5", "W"],
      ["numeric", "NaN", ""],
    ]);
  });
});

describe("nodeElement", () => {
  it("is the node part of the payload", () => {
    const r = reading([{ name: "open", type: "boolean", value: true }]);
    assert.equal(nodeElement(r).toString(), readingPayload(r).getChild("node")?.toString());
  });
});

describe("timestamps not taken on a trusted clock", () => {
  const temperature: Field = { name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2 };
  const flagsOf = (clock?: Reading["clock"]) => readingPayload({ ...reading([temperature]), ...(clock ? { clock } : {}) }).getChild("node")?.getChild("timestamp")?.getChild("numeric")?.attrs;

  it("a corrected one carries timeOffset, an uncorrected one timeOffset and warning; the value stays an automatic readout", () => {
    assert.deepEqual(flagsOf("corrected"), { name: "temperature", value: "21.50", unit: "°C", automaticReadout: "true", timeOffset: "true" });
    assert.deepEqual(flagsOf("unsynced"), { name: "temperature", value: "21.50", unit: "°C", automaticReadout: "true", timeOffset: "true", warning: "true" });
    assert.deepEqual(flagsOf(), { name: "temperature", value: "21.50", unit: "°C", automaticReadout: "true" });
  });
});
