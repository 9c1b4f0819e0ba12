// The nf dialect's field encoding: one element per type, the one-letter flags, the values the reference client parses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { nfErrorElement, nfFieldElement, nfNodeElement } from "./nf-fields.ts";
import type { Field } from "../../lib/model.ts";

const at = new Date("2025-01-05T10:00:00.250Z");

describe("nfFieldElement", () => {
  it("writes a quantity as q with its decimals, its unit, the type flags and ar", () => {
    const field: Field = { name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2, flags: { momentary: true } };
    assert.equal(String(nfFieldElement(field)), '<q n="temperature" m="true" ar="true" v="21.50" u="°C"/>');
    assert.equal(String(nfFieldElement({ ...field, unit: "" })), '<q n="temperature" m="true" ar="true" v="21.50" u=""/>', "u even when empty");
  });

  it("writes non-finite quantities as .NET writes and parses them", () => {
    const field = (value: number): Field => ({ name: "x", type: "numeric", value, unit: "V", decimals: 1 });
    assert.deepEqual([NaN, Infinity, -Infinity].map((value) => String(nfFieldElement(field(value)).attrs.v)), ["NaN", "Infinity", "-Infinity"]);
  });

  it("writes whole numbers as i within xs:int, l beyond, and q with a unit or beyond xs:long", () => {
    const int = (value: number, unit?: string): Field => ({ name: "n", type: "int", value, ...(unit !== undefined ? { unit } : {}) });
    assert.equal(String(nfFieldElement(int(-3))), '<i n="n" ar="true" v="-3"/>');
    assert.equal(String(nfFieldElement(int(2 ** 31 - 1))), '<i n="n" ar="true" v="2147483647"/>');
    assert.equal(String(nfFieldElement(int(2 ** 31))), '<l n="n" ar="true" v="2147483648"/>');
    assert.equal(String(nfFieldElement(int(-(2 ** 63)))), '<l n="n" ar="true" v="-9223372036854775808"/>');
    assert.equal(String(nfFieldElement(int(2 ** 63))), '<q n="n" ar="true" v="9223372036854775808" u=""/>');
    assert.equal(String(nfFieldElement(int(12.7, "pulses"))), '<q n="n" ar="true" v="12" u="pulses"/>');
  });

  it("writes booleans as b, strings as s (XML-safe), a writable field with ctr, and history with h", () => {
    const state: Field = { name: "state", type: "boolean", value: false, flags: { status: true, writable: true } };
    assert.equal(String(nfFieldElement(state)), '<b n="state" ctr="true" s="true" ar="true" v="false"/>');
    assert.equal(String(nfFieldElement({ name: "fw", type: "string", value: "v1\u0001", flags: { identity: true } })), '<s n="fw" i="true" ar="true" v="v1\uFFFD"/>');
    const max: Field = { name: "t, max", type: "numeric", value: 3, unit: "K", decimals: 0, flags: { peak: true, computed: true } };
    assert.equal(String(nfFieldElement(max, { historical: true })), '<q n="t, max" c="true" p="true" h="true" ar="true" v="3" u="K"/>');
  });
});

describe("nfNodeElement and nfErrorElement", () => {
  it("wrap fields and errors in <nd id><ts v>, the time as the reference writes it (milliseconds, Z)", () => {
    const field: Field = { name: "on", type: "boolean", value: true };
    assert.equal(String(nfNodeElement("pump", at, [field])), '<nd id="pump"><ts v="2025-01-05T10:00:00.250Z"><b n="on" ar="true" v="true"/></ts></nd>');
    assert.equal(String(nfErrorElement("attic", at, "EIO \u0002")), '<nd id="attic"><ts v="2025-01-05T10:00:00.250Z"><err>EIO \uFFFD</err></ts></nd>');
  });
});

describe("timestamps not taken on a trusted clock", () => {
  it("carry of when corrected, of and w when not; the value stays ar", () => {
    const field: Field = { name: "temperature", type: "numeric", value: 21.5, unit: "°C", decimals: 2 };
    assert.equal(String(nfFieldElement(field, { clock: "corrected" })), '<q n="temperature" ar="true" of="true" v="21.50" u="°C"/>');
    assert.equal(String(nfFieldElement(field, { clock: "unsynced" })), '<q n="temperature" ar="true" of="true" w="true" v="21.50" u="°C"/>');
  });
});
