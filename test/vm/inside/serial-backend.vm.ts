// The real serial backend (drivers/real/serial.ts over serialport) on the VM's 16550 UARTs, whose other ends
// are firmware-sim models on the host.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HardwareAccessError } from "../../../drivers/hal.ts";
import { crc16, readRequest } from "../../../drivers/modbus/rtu.ts";
import { createRealHal } from "../../../drivers/real/index.ts";
import { eventually } from "../../../firmware-sim/serial/testing.ts";
import { VM_MODBUS, VM_UARTS } from "../../support/vm-layout.ts";

const hal = createRealHal();

describe("real serial backend on the VM's UARTs", () => {
  test(`${VM_UARTS.gps.path} receives the host's NMEA sentences with valid checksums`, async () => {
    const link = await hal.serial({ path: VM_UARTS.gps.path, baudRate: VM_UARTS.gps.baudRate });
    try {
      let text = "";
      link.onData((chunk) => (text += chunk.toString("latin1")));
      const sentence = await eventually(async () => {
        const found = /\$GNRMC,[^*\r\n]*\*[0-9A-F]{2}/.exec(text);
        assert.ok(found, `no complete RMC sentence yet in ${JSON.stringify(text.slice(-200))}`);
        return found[0];
      }, 5000);
      const body = sentence.slice(1, sentence.indexOf("*"));
      const sum = [...body].reduce((acc, character) => acc ^ character.charCodeAt(0), 0);
      assert.equal(sum.toString(16).toUpperCase().padStart(2, "0"), sentence.slice(-2));
    } finally {
      await link.close();
    }
  });

  test(`${VM_UARTS.modbus.path} carries a Modbus request out and the slave's answer back`, async () => {
    const link = await hal.serial({ path: VM_UARTS.modbus.path, baudRate: VM_UARTS.modbus.baudRate });
    try {
      let answer = Buffer.alloc(0);
      link.onData((chunk) => (answer = Buffer.concat([answer, chunk])));
      await link.write(readRequest(VM_MODBUS.unitId, 0x04, VM_MODBUS.input.address, 3));
      const expectedLength = 3 + 3 * 2 + 2;
      await eventually(async () => assert.ok(answer.length >= expectedLength, `${answer.length} bytes so far`), 3000);
      assert.equal(answer[0], VM_MODBUS.unitId);
      assert.equal(answer[1], 0x04);
      assert.equal(answer[2], 6);
      assert.deepEqual([answer.readUInt16BE(3), answer.readUInt16BE(5), answer.readUInt16BE(7)], VM_MODBUS.input.registers);
      assert.equal(crc16(answer.subarray(0, 9)), answer.readUInt16LE(9));
    } finally {
      await link.close();
    }
  });

  test("a UART the kernel does not have names the fix", async () => {
    await assert.rejects(hal.serial({ path: "/dev/ttyAMA0", baudRate: 9600 }), (error: unknown) => {
      assert.ok(error instanceof HardwareAccessError);
      assert.match(error.message, /the Pi's UART is not enabled/);
      return true;
    });
  });
});
