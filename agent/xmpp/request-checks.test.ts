// The checks every readout-like request shares; the dialects' own parsers are tested with their faces.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { xml } from "./client.ts";
import { BadRequestError, checkedChildren, parseXsDateTime, readoutTimes } from "./request-checks.ts";

const NS = "urn:example:req";
const refusal = (check: () => unknown) => assert.throws(check, BadRequestError);

describe("request checks", () => {
  it("reads xs:dateTime with fractions and zones, and one without a zone as UTC", () => {
    assert.equal(parseXsDateTime("2025-01-05T10:00:00.25-02:30")?.toISOString(), "2025-01-05T12:30:00.250Z");
    assert.equal(parseXsDateTime("2025-01-05T10:00:00")?.toISOString(), "2025-01-05T10:00:00.000Z");
    assert.equal(parseXsDateTime("2025-01-05 10:00:00Z"), undefined);
    assert.equal(parseXsDateTime("2025-01-05T10:00:00+15:00"), undefined);
    // Years 0001-0099 are not 19xx (found writing the stanza fuzzer); 29 February only in leap years, 0096 being one.
    assert.equal(parseXsDateTime("0050-06-01T00:00:00Z")?.toISOString(), "0050-06-01T00:00:00.000Z");
    assert.equal(parseXsDateTime("0096-02-29T00:00:00Z")?.toISOString(), "0096-02-29T00:00:00.000Z");
    assert.equal(parseXsDateTime("0097-02-29T00:00:00Z"), undefined);
  });

  it("takes children in the element's namespace with their listed attributes, whitespace between them", () => {
    const allowed = { nd: new Set(["id"]), f: new Set(["n"]) };
    const element = xml("req", { xmlns: NS }, "\n  ", xml("nd", { id: "a" }), " ", xml("f", { n: "t" }));
    assert.deepEqual(checkedChildren(element, allowed, 8).map((child) => child.name), ["nd", "f"]);
    assert.throws(() => checkedChildren(xml("req", { xmlns: NS }, "\u00a0"), allowed, 8), /^Error: unexpected text in <req>$/);
    assert.throws(() => checkedChildren(xml("subscribe", { xmlns: NS }, xml("nd", { xmlns: "urn:other", id: "a" })), allowed, 8), /unknown element <nd> in <subscribe>/);
    assert.throws(() => checkedChildren(xml("req", { xmlns: NS }, xml("toString", {})), allowed, 8), /unknown element <toString>/, "a name is looked up as the element's own, not inherited");
    assert.throws(() => checkedChildren(xml("req", { xmlns: NS }, xml("nd", { id: "a" }, "x")), allowed, 8), /<nd> must be empty/);
    assert.throws(() => checkedChildren(xml("req", { xmlns: NS }, xml("nd", { n: "a" })), allowed, 8), /unknown attribute n on <nd>/);
    assert.throws(() => checkedChildren(xml("req", { xmlns: NS }, xml("nd", { id: "123456789" })), allowed, 8), /attribute id of <nd> is longer than 8 characters/);
    refusal(() => checkedChildren(xml("req", { xmlns: NS }, xml("f", {})), { nd: new Set() }, 8));
  });

  it("reads from, to and when, refusing from after to", () => {
    const times = readoutTimes(xml("req", { from: "2025-01-05T10:00:00Z", when: "2025-01-05T11:00:00Z" }));
    assert.deepEqual([times.from?.toISOString(), times.to, times.when?.toISOString()], ["2025-01-05T10:00:00.000Z", undefined, "2025-01-05T11:00:00.000Z"]);
    assert.throws(() => readoutTimes(xml("req", { from: "2025-01-05T10:00:01Z", to: "2025-01-05T10:00:00Z" })), /from is after to/);
    assert.throws(() => readoutTimes(xml("req", { to: "yesterday" })), /to must be an xs:dateTime such as 2025-01-05T10:00:00Z, got "yesterday"/);
  });
});
