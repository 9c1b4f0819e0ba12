// The pure parts of the attempt loop: reconnect backoff and the one-line explanations of connect errors.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TimeoutError } from "@xmpp/events";
import { backoffDelay, explainConnectError } from "./reconnect.ts";

const zero = () => 0;
const one = () => 1;

describe("backoffDelay", () => {
  it("lies between half the ceiling (random 0) and the ceiling (random 1)", () => {
    assert.equal(backoffDelay(0, 1000, 300_000, zero), 500);
    assert.equal(backoffDelay(0, 1000, 300_000, one), 1000);
    assert.equal(backoffDelay(0, 1000, 300_000, () => 0.5), 750);
    assert.equal(backoffDelay(3, 1000, 300_000, zero), 4000);
    assert.equal(backoffDelay(3, 1000, 300_000, one), 8000);
  });

  it("doubles the ceiling with each attempt", () => {
    const ceilings = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, 1000, 300_000, one));
    assert.deepEqual(ceilings, [1000, 2000, 4000, 8000, 16_000, 32_000]);
    const floors = [0, 1, 2, 3, 4, 5].map((attempt) => backoffDelay(attempt, 1000, 300_000, zero));
    assert.deepEqual(floors, [500, 1000, 2000, 4000, 8000, 16_000]);
  });

  it("is capped at maxDelay, also for very many attempts", () => {
    assert.equal(backoffDelay(8, 1000, 300_000, one), 256_000);
    assert.equal(backoffDelay(9, 1000, 300_000, one), 300_000);
    assert.equal(backoffDelay(9, 1000, 300_000, zero), 150_000);
    assert.equal(backoffDelay(1000, 1000, 300_000, one), 300_000);
    assert.equal(backoffDelay(1000, 1000, 300_000, zero), 150_000);
  });

  it("uses Math.random by default, staying within the bounds", () => {
    for (let i = 0; i < 100; i++) {
      const delay = backoffDelay(2, 1000, 300_000);
      assert.ok(delay >= 2000 && delay <= 4000, String(delay));
    }
  });
});

describe("explainConnectError", () => {
  const options = { service: "xmpps://xmpp.example.net:5223", domain: "example.net" };

  it("tells to set xmpp.caFile for an untrusted certificate", () => {
    for (const code of ["SELF_SIGNED_CERT_IN_CHAIN", "DEPTH_ZERO_SELF_SIGNED_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE", "ERR_TLS_CERT_ALTNAME_INVALID"]) {
      const text = explainConnectError(Object.assign(new Error("self-signed certificate in certificate chain"), { code }), options);
      assert.equal(
        text,
        `TLS: the server's certificate for example.net is not trusted (${code}); if it is signed by your own CA, set xmpp.caFile to that CA's PEM file`,
      );
    }
    assert.match(explainConnectError({ code: "SELF_SIGNED_CERT_IN_CHAIN" }, options), /xmpp\.caFile/);
  });

  it("names the service when the connection is refused or the host cannot be found", () => {
    assert.equal(
      explainConnectError({ code: "ECONNREFUSED" }, options),
      "cannot reach xmpps://xmpp.example.net:5223: connection refused (is the server running?)",
    );
    assert.equal(explainConnectError({ code: "ENOTFOUND" }, options), "cannot resolve the server for xmpps://xmpp.example.net:5223 (ENOTFOUND)");
    assert.equal(explainConnectError({ code: "EHOSTUNREACH" }, options), "cannot reach xmpps://xmpp.example.net:5223 (EHOSTUNREACH)");
  });

  it("says the server did not answer in time for xmpp.js's message-less TimeoutError (never an empty line)", () => {
    assert.equal(
      explainConnectError(new TimeoutError(), options),
      "the server at xmpps://xmpp.example.net:5223 did not answer in time (busy, or the link loses packets)",
    );
  });

  it("points at the JID and password when the login is refused", () => {
    assert.equal(
      explainConnectError({ condition: "not-authorized" }, options),
      "login refused (not-authorized): check xmpp.jid and the password",
    );
  });

  it("falls back to the error's own text", () => {
    assert.equal(explainConnectError(new Error("stream closed", { cause: new Error("socket hang up") }), options), "stream closed: socket hang up");
    assert.equal(explainConnectError(Object.assign(new Error("host-unknown"), { condition: "host-unknown" }), options), "host-unknown");
    assert.equal(explainConnectError(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), options), "read ECONNRESET");
  });
});
