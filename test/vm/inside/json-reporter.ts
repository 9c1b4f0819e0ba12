// A node:test reporter for the tests inside the VM: one JSON line per finished test, which the host side
// (test/vm/real-devices.test.ts) turns back into subtests. Lines come in node's order: a test after its subtests.
import type { EventData } from "node:test";
import { inspect } from "node:util";

export interface InsideTestResult {
  name: string;
  nesting: number;
  ok: boolean;
  skipped: boolean;
  durationMs: number;
  /** The failure with its cause chain, for the host's report. */
  error?: string;
}

type ReportedEvent =
  | { type: "test:pass"; data: EventData.TestPass }
  | { type: "test:fail"; data: EventData.TestFail }
  | { type: string; data?: unknown };

function isResult(event: ReportedEvent): event is { type: "test:pass"; data: EventData.TestPass } | { type: "test:fail"; data: EventData.TestFail } {
  return event.type === "test:pass" || event.type === "test:fail";
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return inspect(error);
  // node wraps what the test threw in an ERR_TEST_FAILURE whose cause is the real error.
  const cause = "cause" in error && error.cause !== undefined ? error.cause : error;
  return cause instanceof Error ? (cause.stack ?? cause.message) : inspect(cause);
}

export default async function* jsonLines(source: AsyncIterable<ReportedEvent>): AsyncGenerator<string> {
  for await (const event of source) {
    if (!isResult(event)) continue;
    const result: InsideTestResult = {
      name: event.data.name,
      nesting: event.data.nesting,
      ok: event.type === "test:pass",
      skipped: event.data.skip !== undefined && event.data.skip !== false,
      durationMs: event.data.details.duration_ms,
      ...(event.type === "test:fail" ? { error: describeError(event.data.details.error) } : {}),
    };
    yield `${JSON.stringify(result)}\n`;
  }
}
