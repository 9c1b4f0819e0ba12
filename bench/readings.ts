// The readings every benchmark uses: what a BME280 reports (three numeric fields), one per sensor per second,
// interleaved by second the way the sampler commits them. Deterministic, so xedge and its baseline get the same rows.
import type { NumericField, Reading, Sample } from "../lib/model.ts";

function numeric(name: string, value: number, unit: string): NumericField {
  return { type: "numeric", name, value, unit, decimals: 2, flags: { momentary: true } };
}

/** What BME280 number `sensor` reports at `second`: a slow drift, different per sensor. */
export function bme280Fields(sensor: number, second: number): NumericField[] {
  const drift = Math.sin((second + sensor * 37) / 60);
  return [numeric("temperature", 21 + sensor / 10 + drift, "°C"), numeric("humidity", 45 + 5 * drift, "%RH"), numeric("pressure", 1013.25 + drift, "hPa")];
}

/** `perSensor` seconds of readings from sensors `${prefix}1` … `${prefix}${sensors}`, ending now. */
export function bme280Samples(prefix: string, sensors: number, perSensor: number): Sample[] {
  const start = Date.now() - perSensor * 1000;
  const samples: Sample[] = [];
  for (let second = 0; second < perSensor; second++) {
    for (let sensor = 1; sensor <= sensors; sensor++) {
      samples.push({ sensorId: `${prefix}${sensor}`, timestamp: new Date(start + second * 1000), fields: bme280Fields(sensor, second) });
    }
  }
  return samples;
}

/** The samples with the sequence numbers the store gives them: per sensor, from 1 in order. */
export function numbered(samples: Sample[]): Reading[] {
  const last = new Map<string, number>();
  return samples.map((sample) => {
    const seq = (last.get(sample.sensorId) ?? 0) + 1;
    last.set(sample.sensorId, seq);
    return { ...sample, seq };
  });
}
