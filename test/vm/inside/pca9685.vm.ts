// The pca9685 driver with `hardware: real` on i2c-stub at 0x40, loaded with the chip's power-on registers
// (MODE1 0x11: asleep, All Call; MODE2 0x04; PRE_SCALE 0x1E, 200 Hz; data sheet Table 4). The test reads back
// what the driver wrote: the prescaler for 1 kHz, MODE1 running with auto-increment, and each channel's
// ON/OFF registers, including the safe duty on open and close.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pca9685 } from "../../../drivers/pca9685/index.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import type { Field } from "../../../lib/model.ts";
import { loadStubRegisters, readStubRegisters } from "../../support/vm-guest.ts";
import { VM_I2C_BUS } from "../../support/vm-layout.ts";

const ADDRESS = 0x40;
const CHANNEL = 3;
/** LED3_ON_L: LED0_ON_L (0x06) + 4 per channel. */
const LED_REGISTERS = 0x06 + 4 * CHANNEL;

function duty(fields: Field[]): unknown {
  return fields.find((field) => field.name === "duty")?.value;
}

describe("pca9685 on i2c-stub (hardware: real)", () => {
  test("1 kHz set up in sleep, a duty in the channel's registers, the safe duty on open and close", async () => {
    await loadStubRegisters(ADDRESS, 0x00, [0x11, 0x04]);
    await loadStubRegisters(ADDRESS, 0xfe, [0x1e]);
    await loadStubRegisters(ADDRESS, LED_REGISTERS, [0xaa, 0xaa, 0xaa, 0xaa]);
    const pwm = await pca9685.open(createRealHal(), { i2c: { bus: VM_I2C_BUS, address: ADDRESS }, channel: CHANNEL, frequency: 1000, safeDuty: 0 });
    try {
      // PRE_SCALE = round(25 MHz / (4096 × 1000 Hz)) − 1 = 5; MODE1 = AI | ALLCALL, awake; MODE2 totem pole.
      assert.deepEqual(await readStubRegisters(ADDRESS, 0xfe, 1), [5]);
      assert.deepEqual(await readStubRegisters(ADDRESS, 0x00, 2), [0x21, 0x04]);
      assert.deepEqual(await readStubRegisters(ADDRESS, LED_REGISTERS, 4), [0, 0, 0, 0x10], "safe duty 0 = full off");
      await pwm.write([{ name: "duty", value: 1000 }]);
      assert.deepEqual(await readStubRegisters(ADDRESS, LED_REGISTERS, 4), [0, 0, 1000 & 0xff, 1000 >> 8]);
      assert.equal(duty(await pwm.read()), 1000);
    } finally {
      await pwm.close();
    }
    assert.deepEqual(await readStubRegisters(ADDRESS, LED_REGISTERS, 4), [0, 0, 0, 0x10], "close drives the safe duty");
  });
});
