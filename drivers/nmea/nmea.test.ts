// The NMEA driver against firmware-sim's GNSS receiver, through the real serialport package over a socat pty.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { Field, NumericField } from "../../lib/model.ts";
import { createSimHal } from "../../firmware-sim/index.ts";
import { SimGps, withChecksum, type SimGpsOptions } from "../../firmware-sim/serial/gps.ts";
import { placeSimSerialPort, releaseSimSerialPort } from "../../firmware-sim/serial/pty.ts";
import { assertNoSocatLeft, eventually } from "../../firmware-sim/serial/testing.ts";
import { HardwareAccessError } from "../hal.ts";
import { nmeaChecksum, parseCoordinate, parseGga, parseRmc, parseSentence } from "./device.ts";
import { nmea } from "./index.ts";

const PATH = "/dev/ttyUSB0";
const PERIOD_MS = 100;
const STALE_MS = 400;
const socatPids = new Set<number>();

// The example sentences most NMEA references quote (a fix at 12:35:19 UTC near Munich, 23 March 1994).
const GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47";
const RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A";

async function setup(gpsOptions: SimGpsOptions = {}) {
  const port = await placeSimSerialPort({ path: PATH, baudRate: 9600 });
  if (port.pid !== undefined) socatPids.add(port.pid);
  const gps = new SimGps(port, { periodMs: PERIOD_MS, ...gpsOptions });
  const hal = createSimHal();
  const device = await nmea.open(hal, { serial: { path: PATH }, staleAfter: `${STALE_MS}ms` });
  gps.start();
  const teardown = async () => {
    await device.close();
    gps.stop();
    await releaseSimSerialPort(port);
  };
  return { port, gps, device, teardown };
}

function numericField(fields: Field[], name: string): NumericField {
  const found = fields.find((f) => f.name === name);
  assert.ok(found?.type === "numeric", `no numeric field ${name} in ${JSON.stringify(fields)}`);
  return found;
}

after(() => assertNoSocatLeft(socatPids));

describe("NMEA sentences (no serial port)", () => {
  test("checksum of the reference GGA and RMC sentences: 0x47 and 0x6A", () => {
    assert.equal(nmeaChecksum(GGA.slice(1, GGA.indexOf("*"))), 0x47);
    assert.equal(nmeaChecksum(RMC.slice(1, RMC.indexOf("*"))), 0x6a);
    assert.equal(withChecksum(GGA.slice(1, GGA.indexOf("*"))), `${GGA}\r\n`);
    const check = parseSentence(GGA);
    assert.ok(check.ok);
    assert.equal(check.sentence.talker, "GP");
    assert.equal(check.sentence.type, "GGA");
  });

  test("a wrong, malformed or missing checksum is rejected; lower-case hex is accepted", () => {
    assert.deepEqual(parseSentence(GGA.replace("*47", "*48")), { ok: false, reason: "checksum 48 does not match the computed 47" });
    assert.deepEqual(parseSentence(GGA.slice(0, GGA.indexOf("*"))), { ok: false, reason: "has no *hh checksum" });
    assert.deepEqual(parseSentence(GGA.replace("*47", "*4")), { ok: false, reason: 'has a malformed checksum "4"' });
    assert.ok(parseSentence(RMC.replace("*6A", "*6a")).ok);
    assert.equal(parseSentence("GPGGA,1*47").ok, false);
  });

  test("reference GGA: 48°07.038' N, 11°31.000' E, quality 1, 8 satellites, HDOP 0.9, 545.4 m", () => {
    const check = parseSentence(GGA);
    assert.ok(check.ok);
    const fix = parseGga(check.sentence.fields);
    assert.ok(fix);
    assert.ok(Math.abs((fix.latitude ?? 0) - 48.1173) < 1e-9);
    assert.ok(Math.abs((fix.longitude ?? 0) - (11 + 31 / 60)) < 1e-9);
    assert.deepEqual([fix.quality, fix.satellites, fix.hdop, fix.altitude, fix.time], [1, 8, 0.9, 545.4, "123519"]);
  });

  test("reference RMC: 22.4 knots = 41.48 km/h, course 84.4°, 1994-03-23T12:35:19Z", () => {
    const check = parseSentence(RMC);
    assert.ok(check.ok);
    const fix = parseRmc(check.sentence.fields);
    assert.ok(fix);
    assert.equal(fix.valid, true);
    assert.ok(Math.abs((fix.speedKmh ?? 0) - 41.4848) < 1e-9);
    assert.equal(fix.course, 84.4);
    assert.equal(fix.timestamp, "1994-03-23T12:35:19Z");
  });

  test("southern and western hemispheres are negative; nonsense coordinates are undefined", () => {
    assert.ok(Math.abs((parseCoordinate("3352.12800", "S") ?? 0) + (33 + 52.128 / 60)) < 1e-12);
    assert.ok(Math.abs((parseCoordinate("15112.64200", "W") ?? 0) + (151 + 12.642 / 60)) < 1e-12);
    assert.equal(parseCoordinate("", "N"), undefined);
    assert.equal(parseCoordinate("4861.000", "N"), undefined);
    assert.equal(parseCoordinate("4807.038", "X"), undefined);
  });
});

describe("nmea driver on the simulated receiver (real serialport over a pty)", () => {
  test("the first read right after opening waits for the receiver's first sentence instead of calling it silent", async () => {
    const { device, teardown } = await setup();
    try {
      const fields = await device.read(); // no retry: the receiver has not spoken yet when this starts
      assert.ok(numericField(fields, "latitude"));
    } finally {
      await teardown();
    }
  });

  test("fields follow the moving receiver: position, altitude, satellites, HDOP, speed, course, time", async () => {
    const { gps, device, teardown } = await setup();
    try {
      const fields = await eventually(() => device.read());
      const sent = gps.lastEmission;
      assert.ok(sent);
      const lat = numericField(fields, "latitude");
      const lon = numericField(fields, "longitude");
      // One period may pass between the read and looking at lastEmission: 30 km/h moves 0.83 m per 100 ms.
      assert.ok(Math.abs(lat.value - sent.latitude) < 2e-5, `latitude ${lat.value} vs ${sent.latitude}`);
      assert.ok(Math.abs(lon.value - sent.longitude) < 2e-5, `longitude ${lon.value} vs ${sent.longitude}`);
      assert.deepEqual([lat.unit, lat.decimals, lon.unit, lon.decimals], ["°", 6, "°", 6]);
      assert.ok(Math.abs(numericField(fields, "altitude").value - sent.altitude) < 0.2);
      assert.equal(numericField(fields, "altitude").unit, "m");
      assert.ok(Math.abs(numericField(fields, "speed").value - 30) < 0.01);
      assert.equal(numericField(fields, "speed").unit, "km/h");
      assert.equal(numericField(fields, "hdop").value, 0.9);
      assert.ok(numericField(fields, "course").value >= 0 && numericField(fields, "course").value < 360);
      assert.deepEqual(
        fields.filter((f) => f.type === "int").map((f) => [f.name, f.value]),
        [
          ["satellites", 9],
          ["fixQuality", 1],
        ],
      );
      const time = fields.find((f) => f.name === "fixTime");
      assert.ok(time?.type === "string" && Math.abs(Date.parse(time.value) - Date.now()) < 2000, JSON.stringify(time));
      assert.deepEqual(fields.map((f) => f.name), ["latitude", "longitude", "altitude", "satellites", "fixQuality", "hdop", "speed", "course", "fixTime"]);
      assert.ok(fields.every((f) => f.flags?.momentary));
    } finally {
      await teardown();
    }
  });

  for (const talker of ["GP", "GN", "GL", "GA"] as const) {
    test(`talker ${talker} is accepted`, async () => {
      const { device, teardown } = await setup({ talker });
      try {
        const fields = await eventually(() => device.read());
        assert.ok(Math.abs(numericField(fields, "latitude").value - 48.1173) < 0.01);
      } finally {
        await teardown();
      }
    });
  }

  test("sentences of other talkers and types are ignored; the reference sentences give the reference fix", async () => {
    const { port, gps, device, teardown } = await setup();
    try {
      gps.stop();
      const deadline = Date.now() + 1000;
      await eventually(async () => {
        // A BeiDou talker (GB) and a GSV sentence do not count as a fix; the reference sentences do.
        await port.write(`${withChecksum("GBGGA,123519,0000.000,N,00000.000,E,1,08,0.9,1.0,M,0,M,,")}${withChecksum("GPGSV,1,1,00")}${GGA}\r\n${RMC}\r\n`);
        const fields = await device.read();
        assert.ok(Math.abs(numericField(fields, "latitude").value - 48.1173) < 1e-9);
        assert.ok(Math.abs(numericField(fields, "speed").value - 41.4848) < 1e-9);
        assert.equal(fields.find((f) => f.name === "fixTime")?.value, "1994-03-23T12:35:19Z");
      }, deadline - Date.now());
    } finally {
      await teardown();
    }
  });

  test("no fix: an error with the satellites in use, then the fix comes back", async () => {
    const { gps, device, teardown } = await setup();
    try {
      await eventually(() => device.read());
      gps.setReception(0, 3);
      await eventually(() =>
        assert.rejects(device.read(), /^Error: nmea on \/dev\/ttyUSB0: the receiver has no position fix \(3 satellite\(s\) in use\)/),
      );
      gps.setReception(2, 11);
      const fields = await eventually(async () => {
        const read = await device.read();
        assert.equal(read.find((f) => f.name === "fixQuality")?.value, 2);
        return read;
      });
      assert.equal(fields.find((f) => f.name === "satellites")?.value, 11);
    } finally {
      await teardown();
    }
  });

  test("a path with no simulated device is refused at open, naming the path", async () => {
    await assert.rejects(nmea.open(createSimHal(), { serial: { path: "/dev/ttyUSB7" } }), /\/dev\/ttyUSB7: no simulated serial device/);
  });

  const faults = [
    { kind: "garbage", error: /no valid GGA\/RMC sentence for [\d.]+ s; (data arrives but no complete sentence|\d+ sentence\(s\) rejected)/ },
    { kind: "truncated", error: /no valid GGA\/RMC sentence .* has no \*hh checksum/ },
    { kind: "crc", error: /no valid GGA\/RMC sentence .* checksum [0-9A-F]{2} does not match the computed [0-9A-F]{2}/ },
    { kind: "slow", delayMs: 1500, error: /no NMEA data for [\d.]+ s: check the receiver's power .* baud rate \(9600\)/ },
    { kind: "stuck", error: /the receiver keeps repeating the fix time \d{6}\.\d{2} for [\d.]+ s: it is stuck/ },
    { kind: "unplug", error: /serial link is down|no such serial device: is the adapter plugged in/ },
  ] as const;
  for (const fault of faults) {
    test(`fault ${fault.kind}: a clear error, then readings again once cleared`, async () => {
      const { gps, device, teardown } = await setup();
      try {
        await eventually(() => device.read());
        gps.setFault({ kind: fault.kind, ...("delayMs" in fault ? { delayMs: fault.delayMs } : {}) });
        const error = await eventually(async () => {
          const caught = await device.read().then(
            () => undefined,
            (e: unknown) => e as Error,
          );
          assert.ok(caught, "read still succeeds");
          assert.match(caught.message, fault.error);
          return caught;
        }, 4000);
        assert.ok(error.message.startsWith("nmea on /dev/ttyUSB0: ") || error instanceof HardwareAccessError, error.message);
        gps.setFault(null);
        await eventually(() => device.read(), 5000);
      } finally {
        await teardown();
      }
    });
  }

  test("read after close rejects", async () => {
    const { device, teardown } = await setup();
    await teardown();
    await assert.rejects(device.read(), /nmea on \/dev\/ttyUSB0: device is closed/);
  });
});
