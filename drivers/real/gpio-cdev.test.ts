// The GPIO character-device backend without a GPIO chip: its struct layouts, flags and ioctl numbers against
// what the C compiler makes of the kernel's own header, the bytes of a line request, edge decoding, and the
// choice between the character device and sysfs on /dev-shaped folders. The lines themselves are tested in
// the VM, where the kernel has gpio-sim chips.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { parseConfig, ConfigError } from "../../agent/config.ts";
import { HardwareAccessError } from "../hal.ts";
import {
  ATTR_ID,
  chooseGpioBackend,
  decodeEvents,
  encodeLineRequest,
  EVENT_ID,
  IOCTL,
  LAYOUT,
  LINE_FLAG,
  lineFlags,
  monotonicToDate,
  type ChipInfo,
} from "./gpio-cdev.ts";
import { biasNeedsCdev } from "./index.ts";

const folders: string[] = [];
after(() => folders.forEach((folder) => rmSync(folder, { recursive: true, force: true })));

function tempFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "xedge-gpio-cdev-"));
  folders.push(folder);
  return folder;
}

/** Every number the backend takes from linux/gpio.h, by the header's own name. */
function ourNumbers(): Map<string, bigint> {
  const numbers = new Map<string, bigint>();
  for (const [struct, fields] of Object.entries(LAYOUT)) {
    for (const [field, value] of Object.entries(fields)) {
      numbers.set(field === "size" ? `sizeof(struct ${struct})` : `offsetof(struct ${struct}, ${field})`, BigInt(value));
    }
  }
  for (const [name, value] of Object.entries(LINE_FLAG)) numbers.set(`GPIO_V2_LINE_FLAG_${name}`, value);
  for (const [name, value] of Object.entries(ATTR_ID)) numbers.set(`GPIO_V2_LINE_ATTR_ID_${name}`, BigInt(value));
  for (const [name, value] of Object.entries(EVENT_ID)) numbers.set(`GPIO_V2_LINE_EVENT_${name}`, BigInt(value));
  for (const [name, value] of Object.entries(IOCTL)) numbers.set(name, BigInt(value));
  return numbers;
}

const HEADER_INCLUDES = "#include <stddef.h>\n#include <stdio.h>\n#include <linux/gpio.h>\n";

/** gcc for the cross targets the release ships (armhf, arm64), when installed (scripts/ensure.sh test installs them). */
const CROSS_COMPILERS = ["aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc"];

function installed(command: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiled results are kept in node_modules/.cache, keyed by the compiler and the preprocessed program (so by the
 * kernel header's text too): a second run only runs the preprocessor.
 */
const ABI_CACHE = resolve(import.meta.dirname, "../../node_modules/.cache/xedge-gpio-abi");

function cacheKey(compiler: string, source: string): string {
  const preprocessed = execFileSync(compiler, ["-E", "-P", source], { encoding: "utf8", maxBuffer: 16 << 20 });
  return createHash("sha256").update(`${compiler}\0${preprocessed}`).digest("hex").slice(0, 24);
}

describe("GPIO character device: the kernel's ABI", () => {
  test("struct sizes, field offsets, flags and ioctl numbers match linux/gpio.h as gcc compiles it", () => {
    const folder = tempFolder();
    const numbers = ourNumbers();
    const program =
      HEADER_INCLUDES +
      "int main(void) {\n" +
      [...numbers.keys()].map((name) => `  printf("%s=%llu\\n", ${JSON.stringify(name)}, (unsigned long long)(${name}));`).join("\n") +
      "\n  return 0;\n}\n";
    const source = join(folder, "layout.c");
    writeFileSync(source, program);
    const cached = join(ABI_CACHE, `${cacheKey("gcc", source)}.txt`);
    if (!existsSync(cached)) {
      execFileSync("gcc", ["-Wall", "-o", join(folder, "layout"), source]);
      mkdirSync(ABI_CACHE, { recursive: true });
      writeFileSync(cached, execFileSync(join(folder, "layout"), { encoding: "utf8" }));
    }
    const printed = new Map(
      readFileSync(cached, "utf8")
        .trim()
        .split("\n")
        .map((line) => {
          const [name = "", value = ""] = line.split("=");
          return [name, BigInt(value)] as const;
        }),
    );
    assert.equal(printed.size, numbers.size);
    const differences = [...numbers].filter(([name, value]) => printed.get(name) !== value).map(([name, value]) => `${name}: ours ${value}, header ${printed.get(name)}`);
    assert.deepEqual(differences, []);
  });

  for (const compiler of CROSS_COMPILERS) {
    test(`the same numbers hold for ${compiler.split("-")[0]} (compile-time asserts)`, { skip: !installed(compiler) && `${compiler} is not installed` }, () => {
      const folder = tempFolder();
      const asserts = [...ourNumbers()].map(([name, value]) => `_Static_assert((${name}) == ${value}ULL, ${JSON.stringify(name)});`);
      const source = join(folder, "layout.c");
      writeFileSync(source, `${HEADER_INCLUDES}${asserts.join("\n")}\n`);
      // The asserts are part of the preprocessed text: a cached pass is for exactly these numbers and this header.
      const passed = join(ABI_CACHE, `${cacheKey(compiler, source)}.ok`);
      if (existsSync(passed)) return;
      execFileSync(compiler, ["-fsyntax-only", source], { stdio: "pipe" });
      mkdirSync(ABI_CACHE, { recursive: true });
      writeFileSync(passed, "");
    });
  }
});

describe("GPIO character device: requests and events", () => {
  test("a line request carries the offset, consumer, flags and attributes where the kernel reads them", () => {
    const request = LAYOUT.gpio_v2_line_request;
    const config = request.config;
    const attribute = (index: number) => config + LAYOUT.gpio_v2_line_config.attrs + index * LAYOUT.gpio_v2_line_config_attribute.size;
    const output = encodeLineRequest({ offset: 22, flags: lineFlags({ direction: "out", activeLow: true, bias: "up" }), outputValue: 1 });
    assert.equal(output.length, request.size);
    assert.equal(output.readUInt32LE(request.offsets), 22);
    assert.equal(output.toString("utf8", request.consumer, request.consumer + 6), "xedge\0");
    assert.equal(output.readUInt32LE(request.num_lines), 1);
    assert.equal(output.readBigUInt64LE(config), LINE_FLAG.OUTPUT | LINE_FLAG.ACTIVE_LOW | LINE_FLAG.BIAS_PULL_UP);
    assert.equal(output.readUInt32LE(config + LAYOUT.gpio_v2_line_config.num_attrs), 1);
    assert.equal(output.readUInt32LE(attribute(0)), ATTR_ID.OUTPUT_VALUES);
    assert.equal(output.readBigUInt64LE(attribute(0) + LAYOUT.gpio_v2_line_attribute.values), 1n);
    assert.equal(output.readBigUInt64LE(attribute(0) + LAYOUT.gpio_v2_line_config_attribute.mask), 1n, "the attribute applies to the request's line 0");

    const input = encodeLineRequest({ offset: 17, flags: lineFlags({ direction: "in", edge: "both", bias: "down" }), debounceUs: 20_000 });
    assert.equal(input.readBigUInt64LE(config), LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING | LINE_FLAG.EDGE_FALLING | LINE_FLAG.BIAS_PULL_DOWN);
    assert.equal(input.readUInt32LE(attribute(0)), ATTR_ID.DEBOUNCE);
    assert.equal(input.readUInt32LE(attribute(0) + LAYOUT.gpio_v2_line_attribute.debounce_period_us), 20_000);
    assert.ok(input.readUInt32LE(request.event_buffer_size) > 0);
  });

  test("flags: edges only for inputs, one bias flag per bias, none without one", () => {
    assert.equal(lineFlags({ direction: "in" }), LINE_FLAG.INPUT);
    assert.equal(lineFlags({ direction: "in", edge: "rising" }), LINE_FLAG.INPUT | LINE_FLAG.EDGE_RISING);
    assert.equal(lineFlags({ direction: "in", edge: "falling", bias: "none" }), LINE_FLAG.INPUT | LINE_FLAG.EDGE_FALLING | LINE_FLAG.BIAS_DISABLED);
    assert.equal(lineFlags({ direction: "out", edge: "both" }), LINE_FLAG.OUTPUT);
  });

  test("edge events decode to logical levels with the kernel's timestamp as wall-clock time", () => {
    const size = LAYOUT.gpio_v2_line_event.size;
    const buffer = Buffer.alloc(size * 3);
    const event = (index: number, id: number, ns: bigint) => {
      buffer.writeBigUInt64LE(ns, index * size + LAYOUT.gpio_v2_line_event.timestamp_ns);
      buffer.writeUInt32LE(id, index * size + LAYOUT.gpio_v2_line_event.id);
    };
    event(0, EVENT_ID.RISING_EDGE, 1_000_000_000n);
    event(1, EVENT_ID.FALLING_EDGE, 1_250_000_000n);
    // A short read holds only whole events.
    assert.deepEqual(decodeEvents(buffer, size * 2 + 10), [
      { value: 1, timestampNs: 1_000_000_000n },
      { value: 0, timestampNs: 1_250_000_000n },
    ]);
    // An edge 250 ms before "now" on the monotonic clock happened 250 ms before now on the wall clock.
    assert.equal(monotonicToDate(1_250_000_000n, 1_500_000_000n, Date.UTC(2026, 11, 3, 12)).toISOString(), "2026-12-03T11:59:59.750Z");
  });
});

describe("GPIO character device: which interface opens a pin", () => {
  /** A /dev lookalike: files named gpiochipN, whose label and uAPI the fake inspector reports. */
  function devTree(chips: { name: string; label: string; v2?: boolean }[]) {
    const root = tempFolder();
    mkdirSync(join(root, "dev"));
    const byPath = new Map<string, ChipInfo>();
    for (const { name, label, v2 = true } of chips) {
      const path = join(root, "dev", name);
      writeFileSync(path, "");
      byPath.set(path, { path, label, lines: 58, v2 });
    }
    const inspect = async (path: string) => {
      const chip = byPath.get(path);
      if (chip === undefined) throw new Error(`unexpected ${path}`);
      return chip;
    };
    return { devRoot: join(root, "dev"), inspect };
  }

  test("auto takes the character device labelled as the Pi's pin controller, on each generation", async () => {
    // Pi 4: the SoC's controller beside the firmware's expander.
    const pi4 = devTree([
      { name: "gpiochip0", label: "pinctrl-bcm2711" },
      { name: "gpiochip1", label: "raspberrypi-exp-gpio" },
    ]);
    assert.deepEqual(await chooseGpioBackend("auto", pi4), { backend: "cdev", chip: { path: join(pi4.devRoot, "gpiochip0"), label: "pinctrl-bcm2711", lines: 58, v2: true } });
    // Pi 5: RP1 is gpiochip4 among the SoC's own chips (and gpiochip10 sorts after gpiochip4, not before).
    const pi5 = devTree([
      { name: "gpiochip0", label: "gpio-brcmstb@107d508500" },
      { name: "gpiochip10", label: "gpio-brcmstb@107d517c00" },
      { name: "gpiochip4", label: "pinctrl-rp1" },
    ]);
    const route = await chooseGpioBackend("auto", pi5);
    assert.equal(route.backend === "cdev" && route.chip.label, "pinctrl-rp1");
    const pi3 = devTree([{ name: "gpiochip0", label: "pinctrl-bcm2835" }]);
    assert.equal((await chooseGpioBackend("cdev", pi3)).backend, "cdev");
  });

  test("auto falls back to sysfs without a header chip or on a kernel without uAPI v2, and says why", async () => {
    const none = devTree([]);
    assert.deepEqual(await chooseGpioBackend("auto", none), {
      backend: "sysfs",
      why: `no GPIO character device labelled pinctrl-bcm2835 or pinctrl-bcm2711 or pinctrl-rp1 (${none.devRoot} has no gpiochip)`,
    });
    const old = devTree([{ name: "gpiochip0", label: "pinctrl-bcm2835", v2: false }]);
    const route = await chooseGpioBackend("auto", old);
    assert.equal(route.backend, "sysfs");
    assert.match(route.backend === "sysfs" ? route.why : "", /gpiochip0 \(pinctrl-bcm2835, no uAPI v2\)/);
    assert.deepEqual(await chooseGpioBackend("sysfs", devTree([{ name: "gpiochip0", label: "pinctrl-bcm2711" }])), {
      backend: "sysfs",
      why: "the config asks for backend: sysfs",
    });
    // No /dev at all (a container): sysfs, whose own error then says there is no GPIO.
    assert.equal((await chooseGpioBackend("auto", { devRoot: join(tempFolder(), "missing") })).backend, "sysfs");
  });

  test("cdev takes the only chip of another board, and refuses with the fix when it cannot tell", async () => {
    const single = devTree([{ name: "gpiochip0", label: "gpio-mockup-A" }]);
    assert.equal((await chooseGpioBackend("cdev", single)).backend, "cdev");
    assert.equal((await chooseGpioBackend("auto", single)).backend, "sysfs", "auto takes the character device only for a header label");
    const two = devTree([
      { name: "gpiochip0", label: "a" },
      { name: "gpiochip1", label: "b" },
    ]);
    await assert.rejects(chooseGpioBackend("cdev", two), (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /no GPIO character device drives the 40-pin header: .*gpiochip0 \(a\), .*gpiochip1 \(b\), none labelled pinctrl-bcm2835/);
      assert.match(error.message, /Use gpio\.backend: sysfs on an older kernel/);
      return true;
    });
  });

  test("a chip the user may not open is the gpio group's fix, not a silent fall back to sysfs", async () => {
    const { devRoot } = devTree([{ name: "gpiochip0", label: "pinctrl-bcm2711" }]);
    const denied = async () => {
      throw Object.assign(new Error("EACCES: permission denied, open '/dev/gpiochip0'"), { code: "EACCES" });
    };
    await assert.rejects(chooseGpioBackend("auto", { devRoot, inspect: denied }), (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.equal(error.device, join(devRoot, "gpiochip0"));
      assert.match(error.fix, /gpio/);
      return true;
    });
  });

  test("this machine has no GPIO character device: the real backend reports sysfs's error, as before", async () => {
    assert.equal(existsSync("/dev/gpiochip0"), false, "this test is about a machine without GPIO");
    assert.equal((await chooseGpioBackend("auto")).backend, "sysfs");
  });
});

describe("GPIO bias needs the character device", () => {
  const config = (gpio: string, driver = "gpio-input", list = "sensors") =>
    `hardware: real\nxmpp: { jid: gw1@example.net, password: secret }\n${list}:\n  - { id: door, driver: ${driver}, gpio: ${gpio} }\n`;

  test("config validation refuses bias with backend: sysfs, naming the key and both fixes", () => {
    assert.throws(
      () => parseConfig(config("{ pin: 17, bias: up, backend: sysfs }"), "/tmp/xedge.yaml", {}),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          "sensors[0].gpio.bias: backend: sysfs cannot set pull resistors: use gpio.backend: cdev (the GPIO character device, kernel 5.10 " +
            "or later), or leave gpio.bias out and set the pull in /boot/firmware/config.txt (`gpio=17=ip,pu`), then reboot",
        ]);
        return true;
      },
    );
    assert.throws(() => parseConfig(config("{ pin: 22, bias: none, backend: sysfs }", "gpio-output", "actuators"), "/tmp/xedge.yaml", {}), {
      message: /actuators\[0\]\.gpio\.bias: backend: sysfs cannot set pull resistors: .*`gpio=22=pn`/,
    });
    assert.throws(() => parseConfig(config("{ pin: 17, bias: sideways }"), "/tmp/xedge.yaml", {}), {
      message: /sensors\[0\]\.gpio\.bias: expected one of up \| down \| none, got "sideways"/,
    });
    assert.throws(() => parseConfig(config("{ pin: 17, backend: gpiod }"), "/tmp/xedge.yaml", {}), {
      message: /sensors\[0\]\.gpio\.backend: expected one of auto \| cdev \| sysfs, got "gpiod"/,
    });
  });

  test("bias with backend auto or cdev is a valid config; auto is the default", () => {
    const [door] = parseConfig(config("{ pin: 17, bias: up, activeLow: true }"), "/tmp/xedge.yaml", {}).sensors;
    assert.deepEqual(door?.options.gpio, { pin: 17, bias: "up", backend: "auto", activeLow: true, debounce: "20ms" });
    assert.ok(parseConfig(config("{ pin: 17, bias: down, backend: cdev }"), "/tmp/xedge.yaml", {}));
  });

  test("auto ending on sysfs with a bias is one error naming the key and the fix", () => {
    assert.equal(
      biasNeedsCdev(27, { direction: "in", bias: "up" }, "no GPIO character device labelled pinctrl-bcm2711").message,
      "GPIO 27: gpio.bias: up needs the GPIO character device, and this line would open through sysfs (no GPIO character device " +
        "labelled pinctrl-bcm2711), which cannot set pull resistors: use gpio.backend: cdev (the GPIO character device, kernel 5.10 " +
        "or later), or leave gpio.bias out and set the pull in /boot/firmware/config.txt (`gpio=27=ip,pu`), then reboot",
    );
  });
});
