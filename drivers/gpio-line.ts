// The keys every GPIO driver's `gpio:` block shares (pin, pull resistor, kernel interface, active-low), and
// the one rule across them: sysfs cannot set a pull resistor, so `bias` needs the character device.
import * as z from "../lib/zod.ts";
import type { Bias, GpioBackend, GpioOptions } from "./hal.ts";

/** BCM numbers of the GPIOs on the 40-pin header. */
export const headerPin = z.number().check(z.int(), z.gte(0), z.lte(27));

export const gpioLineKeys = {
  pin: headerPin,
  /** The pull resistor; absent leaves the pin as the board set it (GPIO 0–8 pull up, 9–27 pull down at reset). */
  bias: z.optional(z.enum(["up", "down", "none"])),
  /** auto: the character device (/dev/gpiochipN) when the kernel has one for the header, else sysfs. */
  backend: z._default(z.enum(["auto", "cdev", "sysfs"]), "auto"),
  activeLow: z._default(z.boolean(), false),
};

/**
 * The check a `gpio:` block adds with superRefine: backend sysfs with a bias is refused at config validation,
 * on the bias key, with the fix.
 */
export function refuseSysfsBias(direction: GpioOptions["direction"]) {
  return (gpio: { pin: number; bias?: Bias; backend: GpioBackend }, context: z.core.$RefinementCtx): void => {
    if (gpio.backend !== "sysfs" || gpio.bias === undefined) return;
    context.addIssue({
      code: "custom",
      path: ["bias"],
      message: `backend: sysfs cannot set pull resistors: ${sysfsPullFix(gpio.pin, { direction, bias: gpio.bias })}`,
    });
  };
}

/** What to do instead of gpio.bias where only sysfs is available: the firmware sets the pull at boot. */
export function sysfsPullFix(pin: number, { direction, bias }: Pick<GpioOptions, "direction" | "bias">): string {
  const pull = bias === "up" ? "pu" : bias === "down" ? "pd" : "pn";
  const setting = direction === "in" ? `ip,${pull}` : pull;
  return (
    "use gpio.backend: cdev (the GPIO character device, kernel 5.10 or later), or leave gpio.bias out and set the pull in " +
    `/boot/firmware/config.txt (\`gpio=${pin}=${setting}\`), then reboot`
  );
}
