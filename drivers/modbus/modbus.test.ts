// The Modbus RTU driver against firmware-sim's slaves, through the real serialport package over a socat pty.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Field } from "../../lib/model.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { SimModbusSlave, crc16 as slaveCrc16 } from "../../firmware-sim/serial/modbus-slave.ts";
import { placeSimSerialPort, releaseSimSerialPort, type SimSerialPort } from "../../firmware-sim/serial/pty.ts";
import { assertNoSocatLeft, eventually } from "../../firmware-sim/serial/testing.ts";
import type { SensorDevice } from "../driver.ts";
import { decodeRegister, planRequests, registerField } from "./device.ts";
import { modbus, type RegisterSpec } from "./index.ts";
import { crc16, parseReadResponse, readRequest } from "./rtu.ts";

const PATH = "/dev/ttyUSB1";
const SERIAL = { path: PATH, baudRate: 19200, parity: "even" } as const;
const socatPids = new Set<number>();

function frame(...bytes: number[]): Buffer {
  const body = Buffer.from(bytes);
  const crc = Buffer.alloc(2);
  crc.writeUInt16LE(crc16(body));
  return Buffer.concat([body, crc]);
}

function hex(buffer: Buffer): string {
  return [...buffer].map((b) => b.toString(16).toUpperCase().padStart(2, "0")).join(" ");
}

function spec(partial: Partial<RegisterSpec> & { name: string; address: number }): RegisterSpec {
  return { function: "holding", type: "uint16", wordOrder: "big", unit: "", ...partial };
}

function values(fields: Field[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((f) => [f.name, f.value]));
}

/** A 3-phase-meter-like register bank at unit 1: float32 registers as e.g. Eastron SDM meters lay them out. */
function meter(port: SimSerialPort, unitId = 1): SimModbusSlave {
  const slave = new SimModbusSlave(port, unitId);
  const float = (value: number) => {
    const bytes = Buffer.alloc(4);
    bytes.writeFloatBE(value);
    return bytes;
  };
  slave.setRegisters("input", 0, float(230.5)); // voltage
  slave.setRegisters("input", 6, float(4.25)); // current
  slave.setRegisters("input", 12, float(979.6)); // active power
  for (let address = 2; address < 6; address++) slave.setRegister("input", address, 0);
  for (let address = 8; address < 12; address++) slave.setRegister("input", address, 0);
  slave.setRegister("holding", 100, 2314); // temperature ×0.01 °C ... as int16
  slave.setRegister("holding", 101, 0xfff6); // -10 as int16
  slave.setRegisters("holding", 200, Buffer.from([0x00, 0x01, 0xe2, 0x40])); // 123456 as uint32, big word order
  slave.start();
  return slave;
}

const METER_REGISTERS = [
  { name: "voltage", function: "input", address: 0, type: "float32", unit: "V", decimals: 1 },
  { name: "current", function: "input", address: 6, type: "float32", unit: "A", decimals: 2 },
  { name: "activePower", function: "input", address: 12, type: "float32", unit: "W", decimals: 0 },
  { name: "temperature", address: 100, type: "int16", scale: 0.01, unit: "°C" },
  { name: "offset", address: 101, type: "int16" },
  { name: "energy", address: 200, type: "uint32", scale: 0.1, unit: "kWh" },
];

async function setup(options: { unitId?: number; registers?: unknown[]; timeout?: string } = {}) {
  const port = await placeSimSerialPort(SERIAL);
  if (port.pid !== undefined) socatPids.add(port.pid);
  const slave = meter(port);
  const hal = createSimHal();
  const device = await modbus.open(hal, {
    serial: SERIAL,
    unitId: options.unitId ?? 1,
    timeout: options.timeout ?? "300ms",
    registers: options.registers ?? METER_REGISTERS,
  });
  const teardown = async () => {
    await device.close();
    slave.stop();
    await releaseSimSerialPort(port);
  };
  return { hal, port, slave, device, teardown };
}

async function readError(device: SensorDevice): Promise<Error> {
  return device.read().then(
    (fields) => assert.fail(`read succeeded: ${JSON.stringify(values(fields))}`),
    (error: unknown) => error as Error,
  );
}

after(() => assertNoSocatLeft(socatPids));

describe("Modbus RTU frames (spec examples, no serial port)", () => {
  test("CRC-16/MODBUS: serial line spec example 02 07 → 0x1241 (sent 41 12); check value 0x4B37", () => {
    assert.equal(crc16(Buffer.from([0x02, 0x07])), 0x1241);
    assert.equal(hex(frame(0x02, 0x07)), "02 07 41 12");
    assert.equal(crc16(Buffer.from("123456789")), 0x4b37); // the CRC catalogue's check value for CRC-16/MODBUS
    assert.equal(slaveCrc16(Buffer.from([0x02, 0x07])), 0x1241);
  });

  test("read request frames: 01 03 00 00 00 0A C5 CD and the application protocol's 11 03 00 6B 00 03 76 87", () => {
    assert.equal(crc16(Buffer.from([0x01, 0x03, 0x00, 0x00, 0x00, 0x0a])), 0xcdc5);
    assert.equal(hex(readRequest(0x01, 0x03, 0x0000, 10)), "01 03 00 00 00 0A C5 CD");
    assert.equal(hex(readRequest(0x11, 0x03, 0x006b, 3)), "11 03 00 6B 00 03 76 87");
  });

  test("application protocol example response: registers 108..110 = 555, 0, 100", () => {
    const data = parseReadResponse(frame(0x11, 0x03, 0x06, 0x02, 0x2b, 0x00, 0x00, 0x00, 0x64), 0x11, 0x03, 3);
    assert.deepEqual([data.readUInt16BE(0), data.readUInt16BE(2), data.readUInt16BE(4)], [555, 0, 100]);
  });

  test("exception responses: function | 0x80 and the code, named", () => {
    const cases: [number, RegExp][] = [
      [0x01, /exception 01: illegal function/],
      [0x02, /exception 02: illegal data address/],
      [0x03, /exception 03: illegal data value/],
      [0x04, /exception 04: server device failure/],
      [0x06, /exception 06: server device busy/],
      [0x0b, /exception 0B: gateway target device failed to respond/],
    ];
    for (const [code, message] of cases) {
      assert.throws(() => parseReadResponse(frame(0x01, 0x83, code), 1, 0x03, 1), (error: Error & { code?: number }) => {
        assert.match(error.message, message);
        assert.equal(error.code, code);
        return true;
      });
    }
  });

  test("a CRC mismatch, another unit, another function or a wrong byte count is rejected", () => {
    const good = frame(0x01, 0x03, 0x02, 0x12, 0x34);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0x01;
    assert.throws(() => parseReadResponse(bad, 1, 0x03, 1), /CRC mismatch: frame carries 0x[0-9A-F]{4}, computed 0x[0-9A-F]{4}/);
    assert.throws(() => parseReadResponse(frame(0x02, 0x03, 0x02, 0x12, 0x34), 1, 0x03, 1), /answer from unit 2 while unit 1 was asked/);
    assert.throws(() => parseReadResponse(frame(0x01, 0x04, 0x02, 0x12, 0x34), 1, 0x03, 1), /answer with function 04 to a 03 request/);
    assert.throws(() => parseReadResponse(good, 1, 0x03, 2), /answer carries 2 data bytes for 2 registers/);
    assert.equal(parseReadResponse(good, 1, 0x03, 1).readUInt16BE(0), 0x1234);
  });

  test("request planning: consecutive registers together, gaps and banks apart, at most 125 per request", () => {
    const plan = planRequests([
      spec({ name: "a", address: 10 }),
      spec({ name: "b", address: 11, type: "float32" }),
      spec({ name: "c", address: 13 }),
      spec({ name: "d", address: 20 }),
      spec({ name: "e", address: 10, function: "input" }),
      spec({ name: "f", address: 11, type: "int16" }), // overlaps b
    ]);
    assert.deepEqual(
      plan.map((r) => [r.function, r.address, r.quantity, r.registers.map((x) => x.name).join("")]),
      [
        ["holding", 10, 4, "abfc"],
        ["holding", 20, 1, "d"],
        ["input", 10, 1, "e"],
      ],
    );
    const many = Array.from({ length: 130 }, (_, i) => spec({ name: `r${i}`, address: i }));
    assert.deepEqual(planRequests(many).map((r) => [r.address, r.quantity]), [
      [0, 125],
      [125, 5],
    ]);
  });

  test("register types and word orders", () => {
    const data = Buffer.from([0x43, 0x66, 0x80, 0x00, 0x80, 0x00, 0x43, 0x66, 0xff, 0xff, 0xff, 0xfe]);
    assert.equal(decodeRegister(data, 0, "float32", "big"), 230.5);
    assert.equal(decodeRegister(data, 4, "float32", "little"), 230.5);
    assert.equal(decodeRegister(data, 8, "int32", "big"), -2);
    assert.equal(decodeRegister(data, 8, "uint32", "big"), 0xfffffffe);
    assert.equal(decodeRegister(data, 8, "int16", "big"), -1);
    assert.equal(decodeRegister(data, 0, "uint16", "big"), 0x4366);
    assert.deepEqual(registerField(spec({ name: "t", address: 0, scale: 0.01, unit: "°C" }), 2314), {
      name: "t",
      type: "numeric",
      value: 23.14,
      unit: "°C",
      decimals: 2,
      flags: { momentary: true },
    });
    assert.deepEqual(registerField(spec({ name: "n", address: 0 }), 7), { name: "n", type: "int", value: 7, flags: { momentary: true } });
  });

  test("config: duplicate names, bad names and registers past 65535 are rejected", async () => {
    const hal = createSimHal();
    const issue = (message: RegExp) => (error: { issues?: { message: string }[] }) => {
      assert.ok(error.issues?.some((i) => message.test(i.message)), JSON.stringify(error.issues));
      return true;
    };
    const open = (registers: unknown[]) => modbus.open(hal, { serial: SERIAL, unitId: 1, registers });
    await assert.rejects(async () => open([{ name: "a", address: 1 }, { name: "a", address: 2 }]), issue(/duplicate field name "a"/));
    await assert.rejects(async () => open([{ name: "Active Power", address: 1 }]), issue(/lowerCamelCase/));
    await assert.rejects(async () => open([{ name: "a", address: 65535, type: "float32" }]), issue(/runs past address 65535/));
    await assert.rejects(async () => modbus.open(hal, { serial: SERIAL, unitId: 248, registers: [{ name: "a", address: 1 }] }), issue(/247/));
  });
});

describe("modbus driver on simulated slaves (real serialport over a pty)", () => {
  test("reads a meter's register map: float32, scaled int16, int16, uint32; one request per consecutive run", async () => {
    const { slave, device, teardown } = await setup();
    try {
      const fields = await device.read();
      assert.deepEqual(values(fields), { voltage: 230.5, current: 4.25, activePower: Math.fround(979.6), temperature: 23.14, offset: -10, energy: 12345.6 });
      assert.deepEqual(
        fields.map((f) => [f.name, f.type, f.type === "numeric" ? f.unit : "", f.type === "numeric" ? f.decimals : -1]),
        [
          ["voltage", "numeric", "V", 1],
          ["current", "numeric", "A", 2],
          ["activePower", "numeric", "W", 0],
          ["temperature", "numeric", "°C", 2],
          ["offset", "int", "", -1],
          ["energy", "numeric", "kWh", 1],
        ],
      );
      // Input 0..1, 6..7 and 12..13 (gaps between them), holding 100..101 (consecutive) and 200..201.
      assert.equal(slave.requests, 5);
    } finally {
      await teardown();
    }
  });

  test("an unmapped address gives exception 02 (illegal data address) naming the range", async () => {
    const { device, teardown } = await setup({ registers: [{ name: "missing", address: 300 }] });
    try {
      assert.match(
        (await readError(device)).message,
        /^modbus unit 1 on \/dev\/ttyUSB1: reading holding registers 300\.\.300: exception 02: illegal data address/,
      );
    } finally {
      await teardown();
    }
  });

  test("exceptions the device reports are named: 01, 03, 04, 06, 0B", async () => {
    const { slave, device, teardown } = await setup({ registers: [{ name: "offset", address: 101, type: "int16" }] });
    try {
      for (const [code, name] of [
        [0x01, "illegal function"],
        [0x03, "illegal data value"],
        [0x04, "server device failure"],
        [0x06, "server device busy"],
        [0x0b, "gateway target device failed to respond"],
      ] as const) {
        slave.forcedException = code;
        assert.match((await readError(device)).message, new RegExp(`exception ${code.toString(16).toUpperCase().padStart(2, "0")}: ${name}`));
      }
      slave.forcedException = null;
      assert.deepEqual(values(await device.read()), { offset: -10 });
    } finally {
      await teardown();
    }
  });

  test("another unit id stays silent: a timeout that says what to check", async () => {
    const { device, teardown } = await setup({ unitId: 7, timeout: "150ms" });
    try {
      assert.match(
        (await readError(device)).message,
        /^modbus unit 7 on \/dev\/ttyUSB1: reading holding registers 100\.\.101: no answer within 150 ms: check unitId 7, 19200 baud 8E1 .*swap A and B/,
      );
    } finally {
      await teardown();
    }
  });

  test("two meters on one bus (multi-drop): concurrent reads are serialised on the shared port", async () => {
    const port = await placeSimSerialPort(SERIAL);
    if (port.pid !== undefined) socatPids.add(port.pid);
    const first = meter(port, 1);
    const second = meter(port, 2);
    second.setRegister("holding", 101, 42);
    const hal = createSimHal();
    const registers = [{ name: "offset", address: 101, type: "int16" }];
    const a = await modbus.open(hal, { serial: SERIAL, unitId: 1, timeout: "500ms", registers });
    const b = await modbus.open(hal, { serial: SERIAL, unitId: 2, timeout: "500ms", registers });
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).read()));
      assert.deepEqual(results.map((fields) => values(fields).offset), [-10, 42, -10, 42, -10, 42, -10, 42, -10, 42]);
      assert.deepEqual([first.requests, second.requests], [5, 5]);
      await assert.rejects(
        modbus.open(hal, { serial: { ...SERIAL, baudRate: 9600 }, unitId: 3, registers }),
        /\/dev\/ttyUSB1 is already used by another modbus sensor at 19200 8E1; all devices on one bus must use the same settings/,
      );
    } finally {
      await a.close();
      // The bus stays open for the second meter after the first sensor closed.
      assert.deepEqual(values(await b.read()), { offset: 42 });
      await b.close();
      first.stop();
      second.stop();
      await releaseSimSerialPort(port);
    }
  });

  const faults = [
    { kind: "garbage", error: /garbled answer|CRC mismatch|cut short|answer (from unit|with function|carries)/ },
    { kind: "truncated", error: /answer cut short: \d+ of \d+ bytes within 300 ms/ },
    { kind: "crc", error: /CRC mismatch: frame carries 0x[0-9A-F]{4}, computed 0x[0-9A-F]{4}/ },
    { kind: "slow", delayMs: 600, error: /no answer within 300 ms/ },
    { kind: "unplug", error: /no answer within 300 ms/ },
  ] as const;
  for (const fault of faults) {
    test(`fault ${fault.kind}: a clear error, then readings again once cleared`, async () => {
      const { slave, device, teardown } = await setup({ registers: METER_REGISTERS.slice(3) });
      try {
        await device.read();
        slave.setFault({ kind: fault.kind, ...("delayMs" in fault ? { delayMs: fault.delayMs } : {}) });
        const error = await readError(device);
        assert.match(error.message, /^modbus unit 1 on \/dev\/ttyUSB1: reading holding registers 100\.\.101: /);
        assert.match(error.message, fault.error);
        slave.setFault(null);
        // A late answer to the timed-out request must not be taken for the next one's.
        assert.deepEqual(values(await eventually(() => device.read())), { temperature: 23.14, offset: -10, energy: 12345.6 });
      } finally {
        await teardown();
      }
    });
  }

  test("fault stuck: the device keeps answering the frozen values until cleared", async () => {
    const { slave, device, teardown } = await setup({ registers: [{ name: "offset", address: 101, type: "int16" }] });
    try {
      slave.setFault({ kind: "stuck" });
      slave.setRegister("holding", 101, 5);
      assert.deepEqual(values(await device.read()), { offset: -10 });
      slave.setFault(null);
      assert.deepEqual(values(await device.read()), { offset: 5 });
    } finally {
      await teardown();
    }
  });

  test("the USB adapter unplugged and replugged: an error naming the path, then the port reopens by itself", async () => {
    const { port, device, teardown } = await setup({ registers: [{ name: "offset", address: 101, type: "int16" }] });
    try {
      await device.read();
      await port.unplug();
      const error = await eventually(async () => {
        const caught = await readError(device);
        assert.match(caught.message, /no such serial device: is the adapter plugged in/);
        return caught;
      });
      assert.match(error.message, /^\/dev\/ttyUSB1: /);
      await port.replug();
      assert.deepEqual(values(await eventually(() => device.read())), { offset: -10 });
    } finally {
      await teardown();
    }
  });
});
