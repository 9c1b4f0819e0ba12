// The nmea, modbus and serial-lines drivers with `hardware: real` on the VM's UARTs, fed from the host by
// firmware-sim's GPS, Modbus RTU slave and line printer (test/support/vm.ts).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { modbus } from "../../../drivers/modbus/index.ts";
import { nmea } from "../../../drivers/nmea/index.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { serialLines } from "../../../drivers/serial-lines/index.ts";
import { numericField, withDevice } from "../../../drivers/testing.ts";
import { eventually } from "../../../firmware-sim/serial/testing.ts";
import { VM_GPS_ORIGIN, VM_MODBUS, VM_PRINTED_VALUES, VM_UARTS } from "../../support/vm-layout.ts";

const METRES_PER_DEGREE = 111_195;

describe("serial drivers on the VM's UARTs (hardware: real)", () => {
  test(`nmea on ${VM_UARTS.gps.path}: a fix on the host GPS's loop`, async () => {
    const device = await nmea.open(createRealHal(), { serial: { path: VM_UARTS.gps.path, baudRate: VM_UARTS.gps.baudRate } });
    await withDevice(device, async () => {
      // A read may come between the GGA sentence (position) and the RMC (speed): wait until both arrived.
      const fields = await eventually(
        async () => {
          const read = await device.read();
          numericField(read, "speed");
          return read;
        },
        6000,
        200,
      );
      const north = (numericField(fields, "latitude").value - VM_GPS_ORIGIN.latitude) * METRES_PER_DEGREE;
      const east =
        (numericField(fields, "longitude").value - VM_GPS_ORIGIN.longitude) *
        METRES_PER_DEGREE *
        Math.cos((VM_GPS_ORIGIN.latitude * Math.PI) / 180);
      const distance = Math.hypot(north, east);
      assert.ok(Math.abs(distance - VM_GPS_ORIGIN.radiusM) < 5, `${distance.toFixed(1)} m from the loop's centre`);
      assert.ok(Math.abs(numericField(fields, "speed").value - 30) < 0.01, `speed ${numericField(fields, "speed").value} km/h`);
    });
  });

  test(`modbus on ${VM_UARTS.modbus.path}: float32, uint16 and int16 registers from the host's slave`, async () => {
    const device = await modbus.open(createRealHal(), {
      serial: { path: VM_UARTS.modbus.path, baudRate: VM_UARTS.modbus.baudRate, parity: "none", stopBits: 1 },
      unitId: VM_MODBUS.unitId,
      timeout: "1s",
      registers: [
        { name: "voltage", function: "input", address: VM_MODBUS.input.address, type: "float32", unit: "V" },
        { name: "frequency", function: "input", address: VM_MODBUS.input.address + 2, type: "uint16", scale: 0.01, unit: "Hz" },
        { name: "waterTemperature", address: VM_MODBUS.holding.address, type: "int16", scale: 0.1, unit: "°C" },
        { name: "runHours", address: VM_MODBUS.holding.address + 1, type: "uint16", unit: "h" },
      ],
    });
    await withDevice(device, async () => {
      const fields = await device.read();
      assert.equal(numericField(fields, "voltage").value, 231.25);
      assert.ok(Math.abs(numericField(fields, "frequency").value - 50.12) < 1e-9);
      assert.ok(Math.abs(numericField(fields, "waterTemperature").value - -12.5) < 1e-9);
      // An unscaled 16-bit register is published as an integer.
      assert.deepEqual(
        fields.filter((field) => field.name === "runHours").map((field) => [field.type, field.value]),
        [["int", 4321]],
      );
    });
  });

  test(`modbus on ${VM_UARTS.modbus.path}: another unit id gets no answer and the read times out`, async () => {
    const device = await modbus.open(createRealHal(), {
      serial: { path: VM_UARTS.modbus.path, baudRate: VM_UARTS.modbus.baudRate, parity: "none", stopBits: 1 },
      unitId: VM_MODBUS.unitId + 1,
      timeout: "300ms",
      registers: [{ name: "voltage", function: "input", address: 0, type: "float32", unit: "V" }],
    });
    await withDevice(device, async () => {
      await assert.rejects(device.read(), /timeout|no answer|did not answer/i);
    });
  });

  test(`serial-lines on ${VM_UARTS.lines.path}: the host's key=value lines`, async () => {
    const device = await serialLines.open(createRealHal(), {
      serial: { path: VM_UARTS.lines.path, baudRate: VM_UARTS.lines.baudRate },
      fields: [
        { name: "temp", unit: "°C", decimals: 2 },
        { name: "hum", unit: "%RH", decimals: 2 },
      ],
    });
    await withDevice(device, async () => {
      const fields = await eventually(() => device.read(), 6000, 200);
      assert.equal(numericField(fields, "temp").value, VM_PRINTED_VALUES.temp);
      assert.equal(numericField(fields, "temp").unit, "°C");
      assert.equal(numericField(fields, "hum").value, VM_PRINTED_VALUES.hum);
    });
  });
});
