// The real I2C backend (drivers/real/i2c.ts over i2c-bus) against i2c-stub on /dev/i2c-1.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { I2cBus } from "../../../drivers/hal.ts";
import { HardwareAccessError } from "../../../drivers/hal.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { loadStubRegisters, loadStubWord, readStubRegisters, readStubWord } from "../../support/vm-guest.ts";
import { VM_I2C_BUS } from "../../support/vm-layout.ts";

const CHIP = 0x77;

describe("real I2C backend on i2c-stub", () => {
  let bus: I2cBus;
  before(async () => {
    bus = await createRealHal().i2c(VM_I2C_BUS);
  });
  after(() => bus.close());

  test("byte registers read what i2c-dev stored and store what the backend writes", async () => {
    await loadStubRegisters(CHIP, 0x10, [0xa5]);
    assert.equal(await bus.readByte(CHIP, 0x10), 0xa5);
    await bus.writeByte(CHIP, 0x11, 0x3c);
    assert.deepEqual(await readStubRegisters(CHIP, 0x11, 1), [0x3c]);
  });

  test("SMBus words go both ways whole; the low byte is the one at the register", async () => {
    await bus.writeWord(CHIP, 0x20, 0x1234);
    assert.equal(await readStubWord(CHIP, 0x20), 0x1234);
    assert.deepEqual(await readStubRegisters(CHIP, 0x20, 1), [0x34]);
    await loadStubWord(CHIP, 0x22, 0xabcd);
    assert.equal(await bus.readWord(CHIP, 0x22), 0xabcd);
  });

  test("blocks: 8 bytes in one transfer, 40 bytes in two, both ways", async () => {
    const data = Buffer.from(Array.from({ length: 40 }, (_, i) => (i * 7 + 3) & 0xff));
    await bus.writeBlock(CHIP, 0x40, data.subarray(0, 8));
    assert.deepEqual(await readStubRegisters(CHIP, 0x40, 8), [...data.subarray(0, 8)]);
    await loadStubRegisters(CHIP, 0x80, data);
    assert.deepEqual(await bus.readBlock(CHIP, 0x80, 40), data);
  });

  test("an address nobody answers fails the transfer", async () => {
    await assert.rejects(bus.readByte(0x23, 0x00));
  });

  test("a bus that does not exist names the fix", async () => {
    await assert.rejects(createRealHal().i2c(5), (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /\/dev\/i2c-5: I2C bus 5 is not enabled/);
      return true;
    });
  });
});
