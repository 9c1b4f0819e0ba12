// The part of i2c-bus 5.x (https://github.com/fivdi/i2c-bus) that drivers/real/i2c.ts uses;
// there is no @types/i2c-bus in the project. The package is CommonJS: module.exports is the default export.
declare module "i2c-bus" {
  export interface BytesRead {
    bytesRead: number;
    buffer: Buffer;
  }

  export interface BytesWritten {
    bytesWritten: number;
    buffer: Buffer;
  }

  export interface OpenOptions {
    /** Access a device even if a kernel driver has claimed its address. */
    forceAccess?: boolean;
  }

  export interface PromisifiedBus {
    readByte(address: number, command: number): Promise<number>;
    readWord(address: number, command: number): Promise<number>;
    /** SMBus "I2C block" read: at most 32 bytes, with repeated start. */
    readI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<BytesRead>;
    writeByte(address: number, command: number, byte: number): Promise<void>;
    writeWord(address: number, command: number, word: number): Promise<void>;
    /** SMBus "I2C block" write: at most 32 bytes. */
    writeI2cBlock(address: number, command: number, length: number, buffer: Buffer): Promise<BytesWritten>;
    i2cRead(address: number, length: number, buffer: Buffer): Promise<BytesRead>;
    i2cWrite(address: number, length: number, buffer: Buffer): Promise<BytesWritten>;
    close(): Promise<void>;
  }

  export function openPromisified(busNumber: number, options?: OpenOptions): Promise<PromisifiedBus>;

  const i2c: { openPromisified: typeof openPromisified };
  export default i2c;
}
