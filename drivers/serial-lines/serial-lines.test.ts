// The serial-lines driver against firmware-sim's line-printing sketch, through the real serialport package over a pty.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Field } from "../../lib/model.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { SimLinePrinter, type SimLinePrinterOptions } from "../../firmware-sim/serial/line-printer.ts";
import { placeSimSerialPort, releaseSimSerialPort } from "../../firmware-sim/serial/pty.ts";
import { assertNoSocatLeft, eventually } from "../../firmware-sim/serial/testing.ts";
import { LineSplitter } from "../serial-util.ts";
import { lineFields, parseLine } from "./device.ts";
import { serialLines } from "./index.ts";

const PATH = "/dev/ttyACM0";
const socatPids = new Set<number>();

const DECLARED = [
  { name: "temp", unit: "°C", decimals: 1 },
  { name: "hum", unit: "%RH" },
  { name: "count", type: "int" },
  { name: "door", type: "boolean" },
];

async function setup(printerOptions: SimLinePrinterOptions = {}, extra: Record<string, unknown> = {}) {
  const port = await placeSimSerialPort({ path: PATH, baudRate: 115200 });
  if (port.pid !== undefined) socatPids.add(port.pid);
  const printer = new SimLinePrinter(port, { periodMs: 100, ...printerOptions });
  printer.setValues({ temp: 21.5, hum: 40, count: 7, door: false });
  const device = await serialLines.open(createSimHal(), { serial: { path: PATH, baudRate: 115200 }, staleAfter: "400ms", ...extra });
  printer.start();
  const teardown = async () => {
    await device.close();
    printer.stop();
    await releaseSimSerialPort(port);
  };
  return { port, printer, device, teardown };
}

function summary(fields: Field[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.name, f.type === "numeric" ? `${f.value} ${f.unit} /${f.decimals}` : f.value]));
}

after(() => assertNoSocatLeft(socatPids));

describe("line parsing (no serial port)", () => {
  test("key=value separated by spaces or commas; numbers, booleans, strings; Arduino's nan is left out", () => {
    for (const line of ["temp=21.50 hum=40 door=true state=idle err=nan", "temp=21.50,hum=40, door=true,state=idle,err=nan\r"]) {
      assert.deepEqual(summary(lineFields(parseLine(line, "auto"), undefined)), { temp: "21.5  /2", hum: "40  /0", door: true, state: "idle" });
    }
  });

  test("one JSON object per line (ArduinoJson): decimals as printed, null left out", () => {
    const fields = lineFields(parseLine('{"temp":21.50,"hum":40,"ok":false,"id":"a1","err":null}', "json"), undefined);
    assert.deepEqual(summary(fields), { temp: "21.5  /2", hum: "40  /0", ok: false, id: "a1" });
  });

  test("declared fields: units, decimals and types; a missing, unmeasured or mistyped one is an error", () => {
    const declared = [
      { name: "temp", type: "numeric" as const, unit: "°C", decimals: 1 },
      { name: "count", type: "int" as const, unit: "" },
    ];
    assert.deepEqual(summary(lineFields(parseLine("temp=21.56 count=3 other=1", "kv"), declared)), { temp: "21.56 °C /1", count: 3 });
    assert.throws(() => lineFields(parseLine("temp=21.5", "kv"), declared), /the line has no "count"/);
    assert.throws(() => lineFields(parseLine("temp=nan count=3", "kv"), declared), /"temp" is nan: the device could not measure it/);
    assert.throws(() => lineFields(parseLine("temp=21.5 count=3.5", "kv"), declared), /"count" is "3.5", expected an integer/);
    assert.throws(() => lineFields(parseLine("temp=warm count=3", "kv"), declared), /"temp" is "warm", expected a number/);
  });

  test("malformed lines say what is wrong", () => {
    assert.throws(() => parseLine("Sensor ready!", "auto"), /"Sensor" is not key=value/);
    assert.throws(() => parseLine("a=1 a=2", "kv"), /key "a" appears twice/);
    assert.throws(() => parseLine('{"temp":21.5', "auto"), /not valid JSON/);
    assert.throws(() => parseLine("[1,2]", "json"), /not a JSON object/);
    assert.throws(() => parseLine('{"a":{"b":1}}', "json"), /"a" holds a nested object/);
    assert.throws(() => parseLine("temp=1", "json"), /not valid JSON/);
  });

  test("the line splitter bounds memory: a line longer than the limit is dropped up to the next newline", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter(16, (line) => lines.push(line));
    splitter.push(Buffer.from("a=1\r\nb="));
    splitter.push(Buffer.from("2\n"));
    splitter.push(Buffer.alloc(40, 0x41)); // no newline: garbage
    splitter.push(Buffer.from("AAAA\nc=3\n"));
    splitter.push(Buffer.from("0123456789abcdefXYZ\nd=4\n"));
    assert.deepEqual(lines, ["a=1", "b=2", "c=3", "d=4"]);
    assert.equal(splitter.overlong, 2);
  });
});

describe("serial-lines driver on the simulated sketch (real serialport over a pty)", () => {
  test("key=value lines: the latest line's values", async () => {
    const { printer, device, teardown } = await setup();
    try {
      assert.deepEqual(summary(await eventually(() => device.read())), { temp: "21.5  /2", hum: "40  /2", count: "7  /2", door: false });
      printer.setValues({ temp: -3.25, hum: 88, count: 8, door: true });
      await eventually(async () => assert.deepEqual(summary(await device.read()), { temp: "-3.25  /2", hum: "88  /2", count: "8  /2", door: true }));
    } finally {
      await teardown();
    }
  });

  test("JSON lines with declared fields: units, decimals, int and boolean types", async () => {
    const { device, teardown } = await setup({ format: "json", decimals: 2 }, { format: "json", fields: DECLARED });
    try {
      const fields = await eventually(() => device.read());
      assert.deepEqual(summary(fields), { temp: "21.5 °C /1", hum: "40 %RH /2", count: 7, door: false });
      assert.deepEqual(fields.map((f) => f.type), ["numeric", "numeric", "int", "boolean"]);
      assert.ok(fields.every((f) => f.flags?.momentary));
    } finally {
      await teardown();
    }
  });

  test("a malformed line is an error until the next good line", async () => {
    const { printer, device, teardown } = await setup({ periodMs: 300 });
    try {
      await eventually(() => device.read());
      printer.stop();
      await printer.printRaw("Booting... v1.2");
      await eventually(() => assert.rejects(device.read(), /^Error: serial-lines on \/dev\/ttyACM0: malformed line "Booting\.\.\. v1\.2": "Booting\.\.\." is not key=value/));
      printer.start();
      await eventually(() => device.read());
    } finally {
      await teardown();
    }
  });

  test("a silent device: an error once the line is older than staleAfter", async () => {
    const { printer, device, teardown } = await setup();
    try {
      await eventually(() => device.read());
      printer.stop();
      await eventually(() => assert.rejects(device.read(), /serial-lines on \/dev\/ttyACM0: no line for [\d.]+ s; check that the sketch runs and prints at 115200 baud/));
    } finally {
      await teardown();
    }
  });

  const faults = [
    { kind: "garbage", error: /malformed line|no line for/ },
    { kind: "truncated", error: /malformed line .*(the line has no "(hum|count|door)"|not valid JSON)/ },
    { kind: "slow", delayMs: 1500, error: /no line for [\d.]+ s/ },
    { kind: "unplug", error: /no such serial device: is the adapter plugged in|the serial link is down/ },
  ] as const;
  for (const format of ["kv", "json"] as const) {
    for (const fault of faults) {
      test(`fault ${fault.kind} (${format}): a clear error, then readings again once cleared`, async () => {
        const { printer, device, teardown } = await setup({ format }, { fields: DECLARED });
        try {
          await eventually(() => device.read());
          printer.setFault({ kind: fault.kind, ...("delayMs" in fault ? { delayMs: fault.delayMs } : {}) });
          await eventually(async () => {
            const error = await device.read().then(
              () => assert.fail("read still succeeds"),
              (e: unknown) => e as Error,
            );
            assert.match(error.message, fault.error);
          }, 4000);
          printer.setFault(null);
          await eventually(() => device.read(), 5000);
        } finally {
          await teardown();
        }
      });
    }
  }

  test("fault stuck: the same line over and over, values frozen until cleared", async () => {
    const { printer, device, teardown } = await setup();
    try {
      await eventually(() => device.read());
      printer.setFault({ kind: "stuck" });
      printer.setValues({ temp: 30, hum: 50, count: 1, door: true });
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(summary(await device.read()).temp, "21.5  /2");
      printer.setFault(null);
      await eventually(async () => assert.equal(summary(await device.read()).temp, "30  /2"));
    } finally {
      await teardown();
    }
  });
});
