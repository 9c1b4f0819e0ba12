// Smack 4.4.8, the Java client, as an operator: its own IoT API (test/faces/interop/SmackIot.java) reads the
// gateway, switches the relay and meets the agent's refusals, on both servers. One JVM per server runs the whole
// scenario and prints a JSON line per check; this file asserts them. Smack is compiled from its source tarball
// (SMACK_SRC_TARBALL, by default beside the checkout) and cached; without the tarball the test skips.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { serverKinds } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, type SimGateway } from "../support/gateway-fixture.ts";
import { runCli } from "../support/agent.ts";
import { buildSmack, compileAgainstSmack, smackTarball } from "../support/smack.ts";

const PROGRAM = resolve(import.meta.dirname, "interop/SmackIot.java");
const READOUTS = 10;
/** The scenario takes seconds; a JVM still running after this is stuck (a login that never completes). */
const SCENARIO_TIMEOUT_MS = 120_000;

/**
 * Each kind of value Smack reads: booleans (door, pump) and ints (rain's count, the lamp's duty); boiler has only
 * numerics. The lamp (a PCA9685 channel) has the only int parameter, so Smack's node-less set reaches it alone.
 */
const DEVICES = `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 1s }
  - { id: door, driver: gpio-input, gpio: { pin: 17, activeLow: true, debounce: 20ms }, interval: 1s }
  - id: rain
    driver: gpio-input
    gpio: { pin: 27, activeLow: true, debounce: 5ms }
    mode: counter
    counter: { perPulse: 0.2794, unit: mm, per: h, decimals: 1 }
    interval: 1s
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }
  - { id: lamp, driver: pca9685, i2c: { bus: 1, address: 0x40 }, channel: 0 }`;
const SENSORS = ["boiler", "door", "rain"];

interface SmackField {
  name: string;
  type: string;
  value: unknown;
}

interface Check {
  check: "readout" | "set" | "connection";
  by: string;
  try?: number;
  after?: string;
  data?: string;
  outcome?: "ok" | "error" | "exception";
  condition?: string;
  text?: string;
  exception?: string;
  nodes?: SmackField[][];
  connected?: boolean;
  closedOnError?: string | null;
  ms?: number;
}

/** Smack and SmackIot.java, compiled or found in the cache; resolves with the classpath that runs the program. */
async function compileProgram(tarball: string): Promise<string> {
  const smack = await buildSmack(tarball);
  const program = await compileAgainstSmack(smack, PROGRAM);
  const how = (built: boolean, ms: number) => `${built ? "compiled" : "found in the cache"} in ${ms} ms`;
  console.log(`Smack ${how(smack.built, smack.elapsedMs)}, SmackIot.java ${how(program.built, program.elapsedMs)}`);
  return program.classpath;
}

/** Resolves once every sensor has a reading, so the readouts answer data rather than "no reading yet". */
async function waitForReadings(gateway: SimGateway): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const status = await runCli(["status", "--json", "--config", gateway.configFile]);
    const { sensors } = JSON.parse(status.stdout) as { sensors: { sensorId: string; lastSeq: number }[] };
    if (SENSORS.every((id) => sensors.some((sensor) => sensor.sensorId === id && sensor.lastSeq > 0))) return;
    await sleep(250);
  }
  throw new Error(`no reading within 30 s from every one of ${SENSORS.join(", ")}`);
}

/** Runs the scenario in one JVM and resolves with its checks. */
function runScenario(classpath: string, gateway: SimGateway): Promise<{ checks: Check[]; stderr: string }> {
  const { server } = gateway;
  // A short-lived client: the first JIT tier and the serial collector cost less CPU than the defaults.
  const args = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath, "SmackIot", server.host, String(server.port), server.caFile, AGENT_JID, String(READOUTS)];
  return new Promise((resolveRun, reject) => {
    const child = spawn("java", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), SCENARIO_TIMEOUT_MS);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      const checks = stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Check);
      if (code !== 0) reject(new Error(`SmackIot exited with ${String(code)}:\n${stdout}\n${stderr}`));
      else resolveRun({ checks, stderr });
    });
  });
}

/** A readout's fields per node, as [name, type, value]. */
function fieldsOf(check: Check | undefined): [string, string, unknown][][] | undefined {
  return check?.nodes?.map((fields) => fields.map((field) => [field.name, field.type, field.value]));
}

const tarball = smackTarball();
if (!existsSync(tarball)) {
  it("Smack 4.4.8's IoT client", (t) => {
    t.skip(`no Smack source tarball at ${tarball}; set SMACK_SRC_TARBALL to run this test`);
  });
} else {
  let program: Promise<string> | undefined;

  for (const kind of serverKinds) {
    describe(`Smack 4.4.8's IoT client on ${kind}`, () => {
      let gateway: SimGateway | undefined;
      let checks: Check[] = [];
      let stderr = "";
      const find = (predicate: (check: Check) => boolean) => checks.find(predicate);
      const explain = () => `${JSON.stringify(checks, null, 1)}\n${stderr}`;

      before(async () => {
        // Compiled before the server starts: a build beside it would slow the server's and the agent's start.
        program ??= compileProgram(tarball);
        const classpath = await program;
        const started = Date.now();
        gateway = await startSimGateway(kind, { devices: DEVICES });
        await waitForReadings(gateway);
        const ran = Date.now();
        ({ checks, stderr } = await runScenario(classpath, gateway));
        console.log(`${kind}: ${kind} and the agent ready in ${ran - started} ms, the JVM's scenario ran in ${Date.now() - ran} ms`);
      });
      after(async () => {
        if (gateway) assert.equal(await gateway.stop(), 0);
      });

      it(`returns the booleans and ints of every node through IoTDataManager in ${READOUTS} of ${READOUTS} readouts`, () => {
        const readouts = checks.filter((check) => check.check === "readout" && check.by === "ops" && check.try !== undefined);
        assert.equal(readouts.length, READOUTS, explain());
        for (const readout of readouts) {
          assert.equal(readout.outcome, "ok", explain());
          const [boiler, door, rain, pump, lamp] = fieldsOf(readout) ?? [];
          // Smack keeps only <int> and <boolean>: boiler's numerics are dropped, its node stays.
          assert.deepEqual(boiler, [], explain());
          assert.deepEqual(door?.map(([name, type]) => [name, type]), [["state", "boolean"]], explain());
          assert.deepEqual(rain?.map(([name, type]) => [name, type]), [["count", "int"]], explain());
          assert.ok(Number.isInteger(rain?.[0]?.[2]) && Number(rain?.[0]?.[2]) >= 0, explain());
          assert.deepEqual(pump, [["state", "boolean", false]], explain());
          assert.deepEqual(lamp, [["duty", "int", 0]], explain());
        }
      });

      it("sets an int parameter (the lamp's duty) with <int> and reads it back as an int", () => {
        const set = find((check) => check.check === "set" && check.data === "int duty=2048");
        assert.equal(set?.outcome, "ok", explain());
        assert.deepEqual(fieldsOf(find((check) => check.check === "readout" && check.after === "duty=2048"))?.[4], [["duty", "int", 2048]], explain());
      });

      it("switches the relay with <bool> and reads the new state back", () => {
        const sets = checks.filter((check) => check.check === "set" && check.by === "ops" && check.data?.startsWith("bool"));
        assert.deepEqual(sets.map((set) => [set.data, set.outcome]), [["bool state=true", "ok"], ["bool state=false", "ok"]], explain());
        const pumpAfter = (state: string) => fieldsOf(find((check) => check.check === "readout" && check.after === state))?.[3];
        assert.deepEqual(pumpAfter("state=true"), [["state", "boolean", true]], explain());
        assert.deepEqual(pumpAfter("state=false"), [["state", "boolean", false]], explain());
      });

      it("reports a refused <int> as bad-request with the agent's reason", () => {
        const set = find((check) => check.check === "set" && check.data === "int state=1");
        assert.deepEqual([set?.outcome, set?.condition, set?.text], ["error", "bad-request", "state: takes a boolean; got type int"], explain());
      });

      it("lets a read operator read but not switch, and refuses a stranger both, each as forbidden", () => {
        const viewerRead = find((check) => check.check === "readout" && check.by === "viewer");
        assert.equal(viewerRead?.outcome, "ok", explain());
        assert.deepEqual(fieldsOf(viewerRead)?.[3], [["state", "boolean", false]], explain());
        const refused = checks.filter((check) => check.outcome === "error" && check.by !== "ops").map((check) => [check.by, check.check, check.condition]);
        assert.deepEqual(refused, [["viewer", "set", "forbidden"], ["mallory", "readout", "forbidden"], ["mallory", "set", "forbidden"]], explain());
      });

      it("never disconnects Smack: every connection is still up at the end, none closed on an error", () => {
        const connections = checks.filter((check) => check.check === "connection");
        assert.deepEqual(connections.map((check) => [check.by, check.connected, check.closedOnError]), [
          ["ops", true, null],
          ["viewer", true, null],
          ["mallory", true, null],
        ], explain());
        assert.deepEqual(checks.filter((check) => check.outcome === "exception"), [], explain());
      });
    });
  }
}
