// The layering of scripts/import-rules.ts holds over the repository's import graph, so a wrong arrow fails CI;
// and the checker itself catches every kind of wrong arrow in a small graph made up here.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { importsOf, layerOf, repositorySources, REPOSITORY_ROOT, wrongArrows } from "../scripts/import-rules.ts";

/** The "file imports specifier" part of each problem, in order. */
function arrows(problems: string[]): string[] {
  return problems.map((problem) => /^\S+ imports "[^"]*"/.exec(problem)?.[0] ?? problem);
}

describe("import rules", () => {
  it("every import in the repository follows the layering", () => {
    const problems = wrongArrows(importsOf(repositorySources(REPOSITORY_ROOT)));
    assert.deepEqual(problems, [], `wrong arrows (scripts/import-rules.ts has the rules):\n${problems.join("\n")}`);
  });

  it("places files in layers: the composition roots apart from the core, every agent subfolder but xmpp in the core", () => {
    assert.equal(layerOf("lib/model.ts"), "lib");
    assert.equal(layerOf("drivers/real/gpio.ts"), "drivers/real");
    assert.equal(layerOf("drivers/bme280/index.ts"), "drivers");
    assert.equal(layerOf("firmware-sim/serial/models.ts"), "firmware-sim");
    assert.equal(layerOf("agent/main.ts"), "composition root");
    assert.equal(layerOf("agent/hardware.ts"), "hardware table");
    assert.equal(layerOf("agent/hardware-backends.ts"), "hardware table");
    assert.equal(layerOf("agent/mainframe.ts"), "agent core");
    assert.equal(layerOf("agent/operator/health.ts"), "agent core");
    assert.equal(layerOf("agent/xmpp/presence.ts"), "agent/xmpp");
    assert.equal(layerOf("test/support/servers.ts"), "test");
    assert.equal(layerOf("console/session.ts"), "console");
    assert.equal(layerOf("package.json"), undefined);
    assert.equal(layerOf("agent"), "agent core", "a folder import lands in its layer");
    assert.equal(layerOf("library/x.ts"), undefined);
  });

  it("checks an import of a folder like one of a file", () => {
    const problems = wrongArrows(importsOf([["drivers/gpio-input/index.ts", `import { x } from "../../agent";`]]));
    assert.deepEqual(arrows(problems), ['drivers/gpio-input/index.ts imports "../../agent"']);
  });

  it("names the file, the import and the rule of every wrong arrow, and lets the right ones pass", () => {
    const graph: [string, string][] = [
      ["lib/text.ts", `import type { Reading } from "../agent/store.ts";`],
      ["drivers/bme280/index.ts", `import { z } from "zod";\nimport { seconds } from "../../lib/duration.ts";\nexport { x } from "../../agent/config.ts";`],
      ["firmware-sim/world.ts", `import { readFileSync } from "node:fs";\nimport type { SensorConfig } from "../agent/config.ts";\nimport { FileOneWire } from "../drivers/real/onewire.ts";`],
      ["agent/sampler.ts", `const { publish } = await import("./xmpp/pubsub.ts");\nimport type { Hal } from "../drivers/hal.ts";`],
      ["agent/store.ts", `import { createRealHal } from "../drivers/real/index.ts";\nimport { notes } from "../../elsewhere/notes.ts";`],
      ["agent/config.ts", `import { HARDWARE } from "./hardware.ts";\nimport { startAgent } from "./main.ts";`],
      ["agent/hardware.ts", `import { sensorSimSchema } from "../firmware-sim/settings.ts";\nimport { registerChat } from "./xmpp/chat.ts";`],
      ["agent/main.ts", `import { registerPubsub } from "./xmpp/pubsub.ts";\nimport { createSimHal } from "../firmware-sim/index.ts";`],
      ["agent/xmpp/pubsub.ts", `import { Publisher } from "../publisher.ts";\nimport { populate } from "../../firmware-sim/world.ts";`],
      ["agent/store.test.ts", `import { createSimHal } from "../firmware-sim/index.ts";\nimport { startServer } from "../test/support/servers.ts";`],
      ["test/e2e.test.ts", `import { main } from "../agent/main.ts";\nimport { run } from "../bench/run.ts";`],
    ];
    const problems = wrongArrows(importsOf(graph));
    assert.deepEqual(arrows(problems), [
      `lib/text.ts imports "../agent/store.ts"`,
      `drivers/bme280/index.ts imports "../../agent/config.ts"`,
      `firmware-sim/world.ts imports "../agent/config.ts"`,
      `agent/sampler.ts imports "./xmpp/pubsub.ts"`,
      `agent/store.ts imports "../drivers/real/index.ts"`,
      `agent/store.ts imports "../../elsewhere/notes.ts"`,
      `agent/config.ts imports "./main.ts"`,
      `agent/hardware.ts imports "./xmpp/chat.ts"`,
      `agent/xmpp/pubsub.ts imports "../../firmware-sim/world.ts"`,
      `agent/store.test.ts imports "../test/support/servers.ts"`,
    ]);
    assert.equal(
      problems[2],
      `firmware-sim/world.ts imports "../agent/config.ts" (agent core): firmware-sim may import only lib, drivers, ` +
        `drivers/real, firmware-sim; the simulator stands behind the HAL and owns its settings; it never imports the agent`,
    );
    assert.equal(problems[5], `agent/store.ts imports "../../elsewhere/notes.ts", outside the repository: a clone must stand alone`);
    assert.equal(
      problems[9],
      `agent/store.test.ts imports "../test/support/servers.ts" (test): product code never imports test/, bench/ or scripts/`,
    );
  });
});
