// A value's history as a PNG line chart for a phone's chat window: series in, PNG bytes out, nothing about XMPP.
// The line joins the average of each pixel column; where a column holds more than one reading, a band behind it
// spans their minimum to maximum, so a day of one-second readings shows its spread, not just its mean. Times on
// the axis are the gateway's local clock (or the zone given). Drawn without anti-aliasing, in a few flat colours,
// with the 12x24 bitmap font of chart-font.ts: crisp on any screen, and a PNG that deflate makes small.
import { PNG } from "pngjs";
import { GLYPHS, GLYPH_HEIGHT, GLYPH_WIDTH } from "./chart-font.ts";

/** One aggregated period: its start and the average, minimum and maximum of the readings in it. */
export interface ChartPoint {
  time: number;
  avg: number;
  min: number;
  max: number;
}

export interface ChartInput {
  /** What is charted, e.g. "boiler temperature". */
  title: string;
  unit: string;
  decimals: number;
  from: Date;
  to: Date;
  /** In time order. */
  points: readonly ChartPoint[];
  /** IANA zone for the axis; the gateway's own zone when absent. */
  timeZone?: string;
}

/** Wide as a phone held sideways, and about the shape of its screen, so the chat shows it large. */
export const CHART_WIDTH = 800;
export const CHART_HEIGHT = 480;
/** The plotting area, in pixels from the top left; the curve and band stay inside it. */
export const PLOT = { left: 96, top: 44, right: CHART_WIDTH - 16, bottom: CHART_HEIGHT - 40 } as const;

type Rgb = readonly [number, number, number];
export const COLORS = {
  background: [255, 255, 255],
  grid: [226, 226, 226],
  axis: [64, 64, 64],
  text: [32, 32, 32],
  line: [20, 90, 200],
  band: [176, 204, 240],
} as const satisfies Record<string, Rgb>;

const LINE_WIDTH = 3;

/** The PNG of `input`: a CHART_WIDTH × CHART_HEIGHT RGB image. */
export function renderChart(input: ChartInput): Buffer {
  const canvas = new Canvas(CHART_WIDTH, CHART_HEIGHT);
  canvas.fill(0, 0, CHART_WIDTH, CHART_HEIGHT, COLORS.background);
  const columns = toColumns(input);
  const range = valueRange(columns);
  const plotHeight = PLOT.bottom - PLOT.top;
  const yOf = (value: number) => Math.round(PLOT.bottom - ((value - range.low) / (range.high - range.low)) * plotHeight);

  for (const tick of valueTicks(range.low, range.high)) {
    const y = yOf(tick.value);
    canvas.fill(PLOT.left, y, PLOT.right, y + 1, COLORS.grid);
    canvas.text(tick.value.toFixed(tick.decimals), PLOT.left - 8, y - GLYPH_HEIGHT / 2, "right");
  }
  const span = input.to.getTime() - input.from.getTime();
  const xOfTime = (time: number) => Math.round(PLOT.left + ((time - input.from.getTime()) / span) * (PLOT.right - PLOT.left));
  for (const tick of timeTicks(input.from.getTime(), input.to.getTime(), input.timeZone)) {
    const x = xOfTime(tick.time);
    canvas.fill(x, PLOT.top, x + 1, PLOT.bottom, COLORS.grid);
    canvas.fill(x, PLOT.bottom, x + 1, PLOT.bottom + 6, COLORS.axis);
    canvas.text(tick.label, x, PLOT.bottom + 10, "center");
  }

  for (const column of columns) {
    if (column.max > column.min) canvas.fill(column.x, yOf(column.max), column.x + 1, yOf(column.min) + 1, COLORS.band);
  }
  // A gap much longer than the usual spacing (the sensor was off) stays a gap instead of a straight line.
  const gapColumns = 3 * medianSpacing(columns);
  for (let index = 0; index < columns.length; index++) {
    const column = columns[index];
    const previous = columns[index - 1];
    if (!column) continue;
    if (previous && column.x - previous.x <= gapColumns) canvas.line(previous.x, yOf(previous.avg), column.x, yOf(column.avg), COLORS.line, LINE_WIDTH);
    else canvas.line(column.x, yOf(column.avg), column.x, yOf(column.avg), COLORS.line, LINE_WIDTH);
  }

  canvas.fill(PLOT.left, PLOT.top, PLOT.left + 1, PLOT.bottom + 1, COLORS.axis);
  canvas.fill(PLOT.left, PLOT.bottom, PLOT.right + 1, PLOT.bottom + 1, COLORS.axis);
  const heading = `${input.title}${input.unit ? ` (${input.unit})` : ""}`;
  canvas.text(heading, PLOT.left, 10, "left");
  if (columns.length === 0) canvas.text("no readings in this period", (PLOT.left + PLOT.right) / 2, (PLOT.top + PLOT.bottom) / 2 - GLYPH_HEIGHT / 2, "center");
  return canvas.png();
}

/** The readings of one pixel column: x, and the average of the averages with the extremes of the extremes. */
interface Column {
  x: number;
  avg: number;
  min: number;
  max: number;
}

function toColumns({ points, from, to }: ChartInput): Column[] {
  const width = PLOT.right - PLOT.left;
  const span = Math.max(1, to.getTime() - from.getTime());
  const byX = new Map<number, { sum: number; count: number; min: number; max: number }>();
  for (const point of points) {
    const x = PLOT.left + Math.min(width, Math.max(0, Math.floor(((point.time - from.getTime()) / span) * width)));
    const column = byX.get(x);
    if (!column) byX.set(x, { sum: point.avg, count: 1, min: point.min, max: point.max });
    else {
      column.sum += point.avg;
      column.count += 1;
      column.min = Math.min(column.min, point.min);
      column.max = Math.max(column.max, point.max);
    }
  }
  return [...byX.entries()].sort(([a], [b]) => a - b).map(([x, { sum, count, min, max }]) => ({ x, avg: sum / count, min, max }));
}

function medianSpacing(columns: readonly Column[]): number {
  const gaps = columns.slice(1).map((column, index) => column.x - (columns[index]?.x ?? 0)).sort((a, b) => a - b);
  return gaps[Math.floor(gaps.length / 2)] ?? 1;
}

/** The values' extent with a margin, so the curve never touches the frame; a flat series gets a band around it. */
function valueRange(columns: readonly Column[]): { low: number; high: number } {
  if (columns.length === 0) return { low: 0, high: 1 };
  const low = Math.min(...columns.map((column) => column.min));
  const high = Math.max(...columns.map((column) => column.max));
  const margin = high > low ? (high - low) * 0.08 : Math.max(Math.abs(low) * 0.05, 0.5);
  return { low: low - margin, high: high + margin };
}

/** Round values (1, 2 or 5 times a power of ten apart) inside the range, four to six of them. */
export function valueTicks(low: number, high: number): { value: number; decimals: number }[] {
  const rough = (high - low) / 6;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= rough) ?? 10) * power;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: { value: number; decimals: number }[] = [];
  for (let value = Math.ceil(low / step) * step; value <= high; value += step) ticks.push({ value: Number(value.toFixed(decimals)), decimals });
  return ticks;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
/** Labels fit a phone: "12:00" is five glyphs, and six of them share the axis without crowding. */
const MAX_TIME_TICKS = 6;

/** Local clock times on round steps ("06:00", "12:00"), or dates ("03/12") for steps of a day or more. */
export function timeTicks(from: number, to: number, timeZone?: string): { time: number; label: string }[] {
  const step = TIME_STEPS.find((candidate) => (to - from) / candidate <= MAX_TIME_TICKS) ?? TIME_STEPS[TIME_STEPS.length - 1] ?? DAY;
  const format = new Intl.DateTimeFormat("en-GB", {
    ...(step >= DAY ? { day: "2-digit", month: "2-digit" } : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" }),
    ...(timeZone ? { timeZone } : {}),
  });
  // Round steps in local time: shift by the zone's offset at the start (a DST change within the span moves the
  // labels by the hour it changes, which a reader of the times still sees right).
  const offset = zoneOffset(new Date(from), timeZone);
  const ticks: { time: number; label: string }[] = [];
  for (let local = Math.ceil((from + offset) / step) * step; local - offset <= to; local += step) {
    const time = local - offset;
    ticks.push({ time, label: format.format(new Date(time)) });
  }
  return ticks;
}

/** How far the zone's clock is ahead of UTC at `date`, in ms. */
function zoneOffset(date: Date, timeZone?: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    hourCycle: "h23",
    ...(timeZone ? { timeZone } : {}),
  }).formatToParts(date);
  const part = (type: string) => Number(parts.find((candidate) => candidate.type === type)?.value ?? 0);
  const local = Date.UTC(part("year"), part("month") - 1, part("day"), part("hour"), part("minute"), part("second"));
  return local - Math.floor(date.getTime() / 1000) * 1000;
}

/** An RGBA pixel buffer with the few drawing operations a chart needs. */
class Canvas {
  private readonly image: PNG;

  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.image = new PNG({ width, height, colorType: 2 });
  }

  /** Fills [x0, x1) × [y0, y1), clipped to the image. */
  fill(x0: number, y0: number, x1: number, y1: number, color: Rgb): void {
    const data = this.image.data;
    for (let y = Math.max(0, Math.round(y0)); y < Math.min(this.height, Math.round(y1)); y++) {
      for (let x = Math.max(0, Math.round(x0)); x < Math.min(this.width, Math.round(x1)); x++) {
        const at = (y * this.width + x) * 4;
        data[at] = color[0];
        data[at + 1] = color[1];
        data[at + 2] = color[2];
        data[at + 3] = 255;
      }
    }
  }

  /** A line `width` pixels thick (a square pen moved along Bresenham's line). */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, width: number): void {
    const half = Math.floor(width / 2);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let error = dx + dy;
    let [x, y] = [x0, y0];
    for (;;) {
      this.fill(x - half, y - half, x - half + width, y - half + width, color);
      if (x === x1 && y === y1) return;
      const doubled = 2 * error;
      if (doubled >= dy) {
        error += dy;
        x += sx;
      }
      if (doubled <= dx) {
        error += dx;
        y += sy;
      }
    }
  }

  /** One line of text with its top at `y`, anchored at `x` by its left edge, centre or right edge. */
  text(text: string, x: number, y: number, anchor: "left" | "center" | "right"): void {
    const glyphs = [...text].map((char) => GLYPHS.get(char.codePointAt(0) ?? 0) ?? GLYPHS.get(63) ?? "");
    const width = glyphs.length * GLYPH_WIDTH;
    const left = Math.round(anchor === "left" ? x : anchor === "center" ? x - width / 2 : x - width);
    const rowDigits = Math.ceil(GLYPH_WIDTH / 8) * 2;
    glyphs.forEach((rows, index) => {
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        const bits = Number.parseInt(rows.slice(row * rowDigits, (row + 1) * rowDigits), 16);
        for (let column = 0; column < GLYPH_WIDTH; column++) {
          if (bits & (1 << (rowDigits * 4 - 1 - column))) this.fill(left + index * GLYPH_WIDTH + column, y + row, left + index * GLYPH_WIDTH + column + 1, y + row + 1, COLORS.text);
        }
      }
    });
  }

  png(): Buffer {
    // The "up" filter suits a chart's horizontal runs: measured on a day's chart, 16 kB in 18 ms, where pngjs's
    // default (trying every filter on each row) took twice the time for the same size.
    return PNG.sync.write(this.image, { colorType: 2, filterType: 2 });
  }
}
