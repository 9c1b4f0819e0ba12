// `hardware: sim` with serial sensors, as the agent runs it: world models on pty pairs → drivers from the registry →
// readings; world.close() stops every socat.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import type { SensorDevice } from "../../drivers/driver.ts";
import { sensorDrivers } from "../../drivers/registry.ts";
import { createSimHal } from "../index.ts";
import type { SimSensor } from "../model.ts";
import { populate } from "../world.ts";
import { simSerialPaths } from "./pty.ts";
import { assertNoSocatLeft, eventually } from "./testing.ts";

/** Serial sensors as a config resolves them; each driver's schema fills in the defaults (parity, word order, ...). */
const SENSORS: SimSensor[] = [
  { id: "gps", driver: "nmea", options: { serial: { path: "/dev/ttyUSB0" } }, faults: [] },
  {
    id: "meter",
    driver: "modbus",
    options: {
      serial: { path: "/dev/ttyUSB1", baudRate: 19200 },
      unitId: 1,
      registers: [
        { name: "voltage", function: "input", address: 0, type: "float32", unit: "V", decimals: 1 },
        { name: "current", function: "input", address: 6, type: "float32", unit: "A", decimals: 2 },
        { name: "energy", address: 100, type: "uint32", wordOrder: "little", scale: 0.1, unit: "kWh" },
      ],
    },
    faults: [],
  },
  {
    id: "plc",
    driver: "modbus",
    options: {
      serial: { path: "/dev/ttyUSB1", baudRate: 19200 },
      unitId: 2,
      registers: [{ name: "temperature", address: 10, type: "int16", scale: 0.1, unit: "°C" }],
    },
    faults: [],
  },
  {
    id: "arduino",
    driver: "serial-lines",
    options: {
      serial: { path: "/dev/ttyACM0", baudRate: 115200 },
      format: "json",
      fields: [
        { name: "temp", unit: "°C", decimals: 1 },
        { name: "hum", unit: "%RH", decimals: 0 },
      ],
    },
    faults: [{ kind: "unplug", atMs: 2000, forMs: 2000 }],
  },
];

const socatPids = new Set<number>();
after(() => assertNoSocatLeft(socatPids));

describe("serial sensors under hardware: sim", () => {
  test("every serial driver reads its simulated device; sensors on one path share a pty; close stops socat", async () => {
    const hal = createSimHal();
    const world = await populate(hal, { sensors: SENSORS, actuators: [] });
    assert.deepEqual(world.unsimulated, []);
    assert.deepEqual([...simSerialPaths.keys()].sort(), ["/dev/ttyACM0", "/dev/ttyUSB0", "/dev/ttyUSB1"]);
    for (const port of simSerialPaths.values()) if (port.pid !== undefined) socatPids.add(port.pid);
    const devices: SensorDevice[] = [];
    try {
      // Opened together, as the sampler does: the two modbus sensors must share /dev/ttyUSB1, not race for its lock.
      devices.push(...(await Promise.all(SENSORS.map((sensor) => sensorDrivers[sensor.driver]!.open(hal, sensor.options)))));
      const [gps, meter, plc, arduino] = devices.map((device) => () => device.read());
      const values = async (read: (() => ReturnType<SensorDevice["read"]>) | undefined) =>
        Object.fromEntries((await eventually(read!, 5000)).map((f) => [f.name, f.value]));
      const position = await values(gps);
      assert.ok(Math.abs(Number(position.latitude) - 48.1173) < 0.01, JSON.stringify(position));
      const electrical = await values(meter);
      assert.ok(Number(electrical.voltage) > 220 && Number(electrical.voltage) < 240, JSON.stringify(electrical));
      assert.ok(Number(electrical.current) > 2 && Number(electrical.current) < 8, JSON.stringify(electrical));
      assert.ok(Math.abs(Number(electrical.energy) - 12_345.6) < 1, JSON.stringify(electrical));
      const plcValues = await values(plc);
      assert.ok(Number(plcValues.temperature) > 17 && Number(plcValues.temperature) < 25, JSON.stringify(plcValues));
      const climate = await values(arduino);
      assert.deepEqual(Object.keys(climate), ["temp", "hum"]);
      // The scheduled unplug (2 s .. 4 s) shows as an error, then the sketch is back.
      await eventually(() => assert.rejects(devices[3]!.read(), /no such serial device|serial link is down|no line for/), 5000);
      await eventually(() => devices[3]!.read(), 6000);
    } finally {
      await Promise.all(devices.map((device) => device.close()));
      await world.close();
    }
  });
});
