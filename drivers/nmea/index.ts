// An NMEA-0183 GNSS receiver on a serial port: the registry's card, what config validation needs. The device
// code, device.ts, is loaded when a config opens one.
import * as z from "../../lib/zod.ts";
import { durationMs, durationText } from "../duration-text.ts";
import { defineSensorDriver } from "../driver.ts";
import { serialOptions } from "../serial-options.ts";

export const nmea = defineSensorDriver({
  name: "nmea",
  summary: "NMEA-0183 GNSS receiver (GPS/GLONASS/Galileo) on a serial port: position (°), altitude (m), speed (km/h), course (°), satellites",
  options: () => ({
    serial: serialOptions({ baudRate: 9600 }),
    /** No fresh fix for this long makes a reading an error (3× the receiver's 1 s default rate). */
    staleAfter: z._default(durationText("3s"), "3s"),
  }),
  open: async (hal, options) => {
    const { NmeaDevice } = await import("./device.ts");
    return NmeaDevice.open(hal, options.serial, durationMs(options.staleAfter));
  },
});
