// A chart on its way to an operator: read one value's history, draw it (chart.ts), hand the PNG to the face's
// upload (XEP-0363 in agent/xmpp/upload.ts) and say what became of it. Chat and ad-hoc show the outcome each
// their own way; nothing here knows about XMPP.
import type { OperatorSession } from "./desk.ts";
import { chartSeries } from "./history.ts";
import { formatDuration } from "../../lib/duration.ts";
import { errorText } from "../log.ts";

export type UploadOutcome = { ok: true; url: string } | { ok: false; reason: string };

/** Where a chart goes to be seen: an upload that gives back the URL a chat client shows inline. */
export interface ImageUpload {
  upload(file: { bytes: Uint8Array; filename: string; contentType: string }): Promise<UploadOutcome>;
}

export type ChartOutcome = UploadOutcome | { ok: false; missing: true; reason: string };

/** Draws `field` of `nodeId` over the last `durationMs` and uploads it; `missing` when nothing of it is stored. */
export async function postChart(
  session: Pick<OperatorSession, "read">,
  upload: ImageUpload | undefined,
  chart: { nodeId: string; field: string; durationMs: number; now: Date; timeZone?: string },
): Promise<ChartOutcome> {
  const { nodeId, field, durationMs, now } = chart;
  const series = await chartSeries(session, nodeId, field, durationMs, now);
  if (!series) return { ok: false, missing: true, reason: `${nodeId} stored no numeric value '${field}' in the last ${formatDuration(durationMs)}` };
  if (!upload) return { ok: false, reason: "this gateway has no file upload set up" };
  // Loaded on the first chart: drawing and pngjs cost every gateway half a megabyte of heap, most never draw one.
  const { renderChart } = await import("./chart.ts");
  const bytes = renderChart({
    title: `${nodeId} ${series.name}, last ${formatDuration(durationMs)}`,
    unit: series.unit,
    decimals: series.decimals,
    from: series.from,
    to: series.to,
    points: series.points,
    ...(chart.timeZone ? { timeZone: chart.timeZone } : {}),
  });
  const stamp = now.toISOString().replace(/[-:]|\.\d+/g, "");
  const filename = `${nodeId}-${series.name}-${stamp}.png`.replace(/[^A-Za-z0-9._-]+/g, "_");
  try {
    return await upload.upload({ bytes, filename, contentType: "image/png" });
  } catch (error) {
    return { ok: false, reason: `the upload failed: ${errorText(error)}` };
  }
}
