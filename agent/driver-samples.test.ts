// Every driver's sample.yaml is a config the agent accepts, as Telegraf tests its plugins' sample configs: a sample
// cannot rot when a driver's options change. The test lives here, not in drivers/, because the schema that accepts a
// sample is the agent's config, and drivers import nothing from agent/.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { ConfigError, parseConfig, type AgentConfig } from "./config.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";

const DRIVERS_DIR = resolve(import.meta.dirname, "../drivers");

/** Appended to a sample (which holds `sensors:` or `actuators:`) to make a minimal config; after it, so line numbers match. */
const REST_OF_CONFIG = "hardware: real\nxmpp: { jid: gw1@example.net, password: secret }\n";

/** The driver folders that ship a sample.yaml. */
const sampleFolders = readdirSync(DRIVERS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(DRIVERS_DIR, entry.name, "sample.yaml")))
  .map((entry) => entry.name)
  .sort();

/** The config, or a failure listing every problem the agent finds in it. */
function accepted(text: string, file: string): AgentConfig {
  try {
    return parseConfig(text, file, {});
  } catch (error) {
    if (error instanceof ConfigError) assert.fail(`${file} is refused:\n${error.problems.join("\n")}`);
    throw error;
  }
}

describe("driver samples", () => {
  for (const folder of sampleFolders) {
    it(`drivers/${folder}/sample.yaml is accepted, every device in it with driver ${folder}`, () => {
      const file = join(DRIVERS_DIR, folder, "sample.yaml");
      const config = accepted(`${readFileSync(file, "utf8")}\n${REST_OF_CONFIG}`, file);
      const devices = [...config.sensors, ...config.actuators];
      assert.ok(devices.length > 0, `${file} configures no device`);
      assert.deepEqual(
        devices.map((device) => `${device.id}: ${device.driver}`),
        devices.map((device) => `${device.id}: ${folder}`),
      );
    });
  }

  it("every registered driver has a folder with README.md and sample.yaml", () => {
    const missing = [...Object.keys(sensorDrivers), ...Object.keys(actuatorDrivers)]
      .flatMap((name) => ["README.md", "sample.yaml"].map((doc) => `drivers/${name}/${doc}`))
      .filter((path) => !existsSync(resolve(DRIVERS_DIR, "..", path)));
    assert.deepEqual(missing, []);
  });
});
