// The ads1115 driver with `hardware: real` on i2c-stub at 0x48. The chip's registers are 16 bits, MSB first on
// the wire (not SMBus words, which are LSB first); the driver uses 2-byte block transfers. i2c-stub stores
// bytes with auto-increment, so its "conversion register" 0x00 is followed by the config register's first
// byte: a 2-byte read of 0x00 returns [conversion MSB, config MSB]. The expected code is built the same way,
// which also checks the config the driver wrote (MUX per channel, PGA, single-shot, OS).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ads1115 } from "../../../drivers/ads1115/index.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { numericField, withDevice } from "../../../drivers/testing.ts";
import { loadStubRegisters, readStubRegisters } from "../../support/vm-guest.ts";
import { VM_I2C_BUS } from "../../support/vm-layout.ts";

const ADDRESS = 0x48;

/** Config MSB the driver writes to start a conversion: OS 1, MUX 1xx (AINx to GND), PGA, MODE 1 (Table 8). */
function configMsb(channel: number, pga: number): number {
  return 0x80 | ((0b100 | channel) << 4) | (pga << 1) | 0x01;
}

describe("ads1115 on i2c-stub (hardware: real)", () => {
  test("conversion registers decode big-endian into volts, per channel", async () => {
    await loadStubRegisters(ADDRESS, 0x00, [0x40]);
    const device = await ads1115.open(createRealHal(), {
      i2c: { bus: VM_I2C_BUS, address: ADDRESS },
      channels: [
        { channel: 0, name: "a0", gain: 4.096 },
        { channel: 3, name: "a3", gain: 2.048, scale: { unit: "mA", factor: 1000 / 150 } },
      ],
    });
    await withDevice(device, async () => {
      const fields = await device.read();
      const code0 = (0x40 << 8) | configMsb(0, 1); // 0x40C3 = 16579
      const code3 = (0x40 << 8) | configMsb(3, 2); // 0x40F5 = 16629
      assert.equal(numericField(fields, "a0").value, (code0 * 4.096) / 0x8000);
      assert.equal(numericField(fields, "a0").unit, "V");
      assert.ok(Math.abs(numericField(fields, "a3").value - ((code3 * 2.048) / 0x8000) * (1000 / 150)) < 1e-9);
      assert.equal(numericField(fields, "a3").unit, "mA");
    });
    // The last conversion's config: AIN3, ±2.048 V, single-shot, 128 SPS, comparator off (0xF583).
    assert.deepEqual(await readStubRegisters(ADDRESS, 0x01, 2), [0xf5, 0x83]);
  });

  test("a negative code (MSB 0xC0) reads below zero volts", async () => {
    await loadStubRegisters(ADDRESS, 0x00, [0xc0]);
    const device = await ads1115.open(createRealHal(), {
      i2c: { bus: VM_I2C_BUS, address: ADDRESS },
      channels: [{ channel: 1, name: "a1", gain: 6.144 }],
    });
    await withDevice(device, async () => {
      const code = ((0xc0 << 8) | configMsb(1, 0)) - 0x10000;
      assert.equal(numericField(await device.read(), "a1").value, (code * 6.144) / 0x8000);
    });
  });
});
