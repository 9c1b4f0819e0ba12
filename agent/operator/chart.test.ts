import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PNG } from "pngjs";
import { CHART_HEIGHT, CHART_WIDTH, COLORS, PLOT, renderChart, timeTicks, valueTicks, type ChartPoint } from "./chart.ts";

const TO = new Date("2026-12-03T12:00:00Z");
const DAY = 86_400_000;
const FROM = new Date(TO.getTime() - DAY);

/** One point a minute over the day, from `value(fraction of the day)`, each spanning `spread` either side. */
function minutes(value: (fraction: number) => number, spread: number): ChartPoint[] {
  return Array.from({ length: 1440 }, (_, minute) => {
    const avg = value(minute / 1440);
    return { time: FROM.getTime() + minute * 60_000, avg, min: avg - spread, max: avg + spread };
  });
}

function draw(points: ChartPoint[]) {
  const bytes = renderChart({ title: "boiler temperature", unit: "°C", decimals: 2, from: FROM, to: TO, points, timeZone: "UTC" });
  return { bytes, image: PNG.sync.read(bytes) };
}

const is = (image: PNG, x: number, y: number, color: readonly number[]) => {
  const at = (y * image.width + x) * 4;
  return image.data[at] === color[0] && image.data[at + 1] === color[1] && image.data[at + 2] === color[2];
};

/** The rows of column x painted in `color`. */
const rowsOf = (image: PNG, x: number, color: readonly number[]) => Array.from({ length: image.height }, (_, y) => y).filter((y) => is(image, x, y, color));

const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

describe("renderChart", () => {
  it("writes a PNG of the chart's size", () => {
    const { bytes, image } = draw(minutes((fraction) => 20 + fraction, 0));
    assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(image.width, CHART_WIDTH);
    assert.equal(image.height, CHART_HEIGHT);
    assert.ok(bytes.length < 100_000, `${bytes.length} bytes`);
  });

  it("draws the curve inside the plot where the data are, higher for higher values", () => {
    // A V: down for the first half of the day, back up in the second.
    const { image } = draw(minutes((fraction) => 30 - 20 * Math.min(fraction, 1 - fraction), 0));
    const xs = [0.05, 0.25, 0.45, 0.55, 0.75, 0.95].map((fraction) => Math.round(PLOT.left + fraction * (PLOT.right - PLOT.left)));
    const ys = xs.map((x) => {
      const rows = rowsOf(image, x, COLORS.line);
      assert.ok(rows.length > 0, `no line at x=${x}`);
      assert.ok(rows.every((y) => y > PLOT.top && y < PLOT.bottom), `line at x=${x} leaves the plot`);
      return mean(rows);
    });
    const [y05 = 0, y25 = 0, y45 = 0, y55 = 0, y75 = 0, y95 = 0] = ys;
    assert.ok(y05 < y25 && y25 < y45, `falling values go down the image: ${ys.join(", ")}`);
    assert.ok(y55 > y75 && y75 > y95, `rising values go up the image: ${ys.join(", ")}`);
    // The same value at the same distance from the middle sits at the same height.
    assert.ok(Math.abs(y25 - y75) <= 2 && Math.abs(y05 - y95) <= 2, ys.join(", "));
    const outside = [PLOT.left - 20, PLOT.right + 8].filter((x) => rowsOf(image, x, COLORS.line).length > 0);
    assert.deepEqual(outside, [], "no curve outside the plot");
  });

  it("puts a min/max band behind the line when a column holds more than one reading", () => {
    const dense = draw(minutes(() => 20, 2)).image;
    const x = Math.round((PLOT.left + PLOT.right) / 2);
    const line = mean(rowsOf(dense, x, COLORS.line));
    const band = rowsOf(dense, x, COLORS.band);
    assert.ok(band.some((y) => y < line - 3) && band.some((y) => y > line + 3), `band around the line at ${line}: ${band.length} px`);
    const exact = draw(minutes(() => 20, 0)).image;
    assert.deepEqual(rowsOf(exact, x, COLORS.band), [], "readings without spread draw no band");
  });

  it("breaks the line over a long gap and says so when nothing is stored", () => {
    const points = minutes((fraction) => 20 + fraction, 0).filter((point) => point.time < FROM.getTime() + DAY / 4 || point.time > FROM.getTime() + (3 * DAY) / 4);
    const { image } = draw(points);
    assert.deepEqual(rowsOf(image, Math.round((PLOT.left + PLOT.right) / 2), COLORS.line), [], "no line across the gap");
    const empty = draw([]).image;
    const plotted = Array.from({ length: PLOT.right - PLOT.left - 2 }, (_, offset) => rowsOf(empty, PLOT.left + 1 + offset, COLORS.line).length);
    assert.equal(Math.max(...plotted), 0);
  });
});

describe("chart axes", () => {
  it("labels round values about five times", () => {
    assert.deepEqual(
      valueTicks(17.3, 24.7).map((tick) => tick.value.toFixed(tick.decimals)),
      ["18", "20", "22", "24"],
    );
    assert.deepEqual(
      valueTicks(0.12, 0.31).map((tick) => tick.value.toFixed(tick.decimals)),
      ["0.15", "0.20", "0.25", "0.30"],
    );
  });

  it("labels local clock times on round steps", () => {
    const berlin = timeTicks(Date.parse("2026-12-03T00:00:00Z"), Date.parse("2026-12-04T00:00:00Z"), "Europe/Berlin");
    assert.deepEqual(berlin.map((tick) => tick.label), ["06:00", "12:00", "18:00", "00:00"]);
    assert.equal(berlin[0]?.time, Date.parse("2026-12-03T05:00:00Z"));
    const week = timeTicks(Date.parse("2026-11-26T12:00:00Z"), Date.parse("2026-12-03T12:00:00Z"), "UTC");
    assert.deepEqual(week.map((tick) => tick.label), ["27/11", "29/11", "01/12", "03/12"]);
  });
});
