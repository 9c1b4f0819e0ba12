// What the test VM (test/support/vm.ts) provides, shared by the host side that boots it and the tests that run
// inside it. Kept free of imports so a test inside the VM loads it cheaply.

/** The I2C bus i2c-stub becomes: bus 1, the Pi's header bus (I2C_SDA1/SCL1 on pins 3/5). */
export const VM_I2C_BUS = 1;

/**
 * The addresses i2c-stub answers on bus 1 (PCA9685, ADS1115, BME280 and its alternative address). i2c-stub only
 * stores registers: a test loads the register image it needs over i2c-dev before the driver opens the chip.
 */
export const VM_I2C_ADDRESSES: readonly number[] = [0x40, 0x48, 0x76, 0x77];

export interface VmGpioChip {
  /** The gpio-sim device's folder in configfs (/sys/kernel/config/gpio-sim/<name>). */
  name: string;
  /** The chip's label, as the real backends find it. */
  label: string;
  lines: number;
  board: string;
}

/** gpio-sim chips labelled as the Pi's header pin controllers; both are live after boot. */
export const VM_GPIO_CHIPS: readonly VmGpioChip[] = [
  { name: "bcm2711", label: "pinctrl-bcm2711", lines: 58, board: "Raspberry Pi 4 / 400 (BCM numbering)" },
  { name: "rp1", label: "pinctrl-rp1", lines: 54, board: "Raspberry Pi 5 (RP1, BCM-compatible numbering)" },
];

export interface VmUart {
  /** The guest's device node. */
  path: string;
  baudRate: number;
  /** What the host runs at the other end. */
  feed: string;
}

/** The 16550 UARTs wired to firmware-sim models on the host (ttyS0 is the VM's console). */
export const VM_UARTS = {
  gps: { path: "/dev/ttyS1", baudRate: 9600, feed: "firmware-sim GPS: NMEA GGA + RMC once a second, driving a 150 m loop" },
  modbus: { path: "/dev/ttyS2", baudRate: 9600, feed: "firmware-sim Modbus RTU slave (8N1)" },
  lines: { path: "/dev/ttyS3", baudRate: 9600, feed: "firmware-sim line printer (key=value lines once a second)" },
} as const satisfies Record<string, VmUart>;

/** Where the GPS model's loop is centred (firmware-sim's default origin) and how far from it a fix may lie. */
export const VM_GPS_ORIGIN = { latitude: 48.1173, longitude: 11.516667, radiusM: 150 };

/** The Modbus slave on ttyS2: its unit id and fixed register contents (big-endian 16-bit registers). */
export const VM_MODBUS = {
  unitId: 7,
  /** Input registers 0–1: float32 231.25 V (exactly representable); 2: uint16 5012 (50.12 Hz at scale 0.01). */
  input: { address: 0, registers: [0x4367, 0x4000, 5012] },
  /** Holding registers 10–11: int16 −125 (−12.5 °C at scale 0.1) and uint16 4321. */
  holding: { address: 10, registers: [0xff83, 4321] },
};

/** The values the line printer on ttyS3 prints (as `temp=21.50 hum=40.25`). */
export const VM_PRINTED_VALUES = { temp: 21.5, hum: 40.25 };

/** The host as the guest reaches it over qemu's user networking. */
export const VM_HOST_ADDRESS = "10.0.2.2";

/** Set inside the VM: a folder whose files come back to the host in VmRun.outputFiles. */
export const VM_OUT_ENV = "XEDGE_VM_OUT";
