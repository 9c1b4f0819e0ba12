// Log lines: syslog priority prefixes under journald, JSON lines on request, level filtering.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, errorText, type LoggerOptions } from "./log.ts";

function capture(options: Omit<LoggerOptions, "write">) {
  const lines: string[] = [];
  const log = createLogger({ ...options, write: (line) => lines.push(line) });
  return { log, lines };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

describe("createLogger", () => {
  it("prefixes syslog priorities under journald, without a timestamp", () => {
    const { log, lines } = capture({ level: "debug", json: false, journald: true });
    log.debug("tick");
    log.info("online", { jid: "gw1@example.net/edge" });
    log.warn("publish failed", { seq: 4, error: "remote server timeout" });
    log.error("store broken");
    assert.deepEqual(lines, [
      "<7>tick",
      "<6>online jid=gw1@example.net/edge",
      '<4>publish failed seq=4 error="remote server timeout"',
      "<3>store broken",
    ]);
  });

  it("detects journald from JOURNAL_STREAM", () => {
    const saved = process.env.JOURNAL_STREAM;
    try {
      process.env.JOURNAL_STREAM = "8:12345";
      const under = capture({ level: "info", json: false });
      under.log.info("up");
      under.log.warn("slow");
      under.log.error("down");
      assert.deepEqual(under.lines, ["<6>up", "<4>slow", "<3>down"]);

      delete process.env.JOURNAL_STREAM;
      const terminal = capture({ level: "info", json: false });
      terminal.log.warn("slow", { ms: 12 });
      assert.equal(terminal.lines.length, 1);
      const [time, rest] = [terminal.lines[0]?.slice(0, 24), terminal.lines[0]?.slice(25)];
      assert.match(time ?? "", ISO);
      assert.equal(rest, "warn  slow ms=12");
    } finally {
      if (saved === undefined) delete process.env.JOURNAL_STREAM;
      else process.env.JOURNAL_STREAM = saved;
    }
  });

  it("writes one parseable JSON object per line in json mode, leaving out undefined fields", () => {
    const { log, lines } = capture({ level: "info", json: true, journald: false });
    log.info("published", { sensor: "boiler", seq: 7, retained: true, skipped: undefined });
    log.error("failed", { error: "a \"quoted\"\nmultiline text" });
    assert.equal(lines.length, 2);
    const first = JSON.parse(lines[0] ?? "") as Record<string, unknown>;
    assert.match(String(first.time), ISO);
    assert.deepEqual({ ...first, time: undefined }, {
      time: undefined,
      level: "info",
      message: "published",
      sensor: "boiler",
      seq: 7,
      retained: true,
    });
    assert.equal("skipped" in first, false);
    const second = JSON.parse(lines[1] ?? "") as Record<string, unknown>;
    assert.equal(second.level, "error");
    assert.equal(second.error, "a \"quoted\"\nmultiline text");
    assert.ok(!(lines[1] ?? "").includes("\n"), "one line");
  });

  it("keeps the syslog priority in front of JSON lines under journald, which strips it", () => {
    const { log, lines } = capture({ level: "debug", json: true, journald: true });
    log.debug("d");
    log.info("i");
    log.warn("w", { sensor: "boiler" });
    log.error("e");
    assert.deepEqual(
      lines.map((line) => line.slice(0, 3)),
      ["<7>", "<6>", "<4>", "<3>"],
    );
    const warning = JSON.parse(lines[2]?.slice(3) ?? "") as Record<string, unknown>;
    assert.equal(warning.message, "w");
    assert.equal(warning.sensor, "boiler");
  });

  it("drops messages below the configured level", () => {
    const { log, lines } = capture({ level: "warn", json: false, journald: true });
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    assert.deepEqual(lines, ["<4>w", "<3>e"]);

    const errorsOnly = capture({ level: "error", json: true });
    errorsOnly.log.warn("w");
    errorsOnly.log.error("e");
    assert.deepEqual(
      errorsOnly.lines.map((line) => (JSON.parse(line) as { message: string }).message),
      ["e"],
    );

    const everything = capture({ level: "debug", json: false, journald: true });
    everything.log.debug("d");
    assert.deepEqual(everything.lines, ["<7>d"]);
  });
});

describe("errorText", () => {
  it("gives the message, with the cause's message when there is one", () => {
    assert.equal(errorText(new Error("outer")), "outer");
    assert.equal(errorText(new Error("outer", { cause: new Error("inner") })), "outer: inner");
    assert.equal(errorText("plain"), "plain");
    assert.equal(errorText(42), "42");
    const unnamed = Object.assign(new Error(), { name: "TimeoutError" });
    assert.equal(errorText(unnamed), "TimeoutError", "an error with only a class is named, not an empty line");
    assert.equal(errorText(new Error("outer", { cause: unnamed })), "outer: TimeoutError");
  });
});
