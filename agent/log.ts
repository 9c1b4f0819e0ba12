// Logging to stderr: one line per event, with syslog priority prefixes under journald (JOURNAL_STREAM)
// and JSON lines on request (prefixed too, so `journalctl -p warning` works in either format). Callers pass facts as fields; secrets are never passed.
export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const SYSLOG_PRIORITY: Record<Level, number> = { debug: 7, info: 6, warn: 4, error: 3 };

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level: Level;
  json: boolean;
  write?: (line: string) => void;
  journald?: boolean;
}

/** A logger whose level and format a reloaded config can change. */
export interface AgentLogger extends Logger {
  reconfigure(options: { level: Level; json: boolean }): void;
}

export function createLogger(initial: LoggerOptions): AgentLogger {
  let options = initial;
  const write = options.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const journald = options.journald ?? process.env.JOURNAL_STREAM !== undefined;
  const emit = (level: Level, message: string, fields: LogFields = {}) => {
    if (RANK[level] < RANK[options.level]) return;
    const defined = Object.entries(fields).filter(([, v]) => v !== undefined);
    // journald reads the priority from a "<N>" prefix and strips it, whatever the line's format.
    const priority = journald ? `<${SYSLOG_PRIORITY[level]}>` : "";
    if (options.json) {
      write(`${priority}${JSON.stringify({ time: new Date().toISOString(), level, message, ...Object.fromEntries(defined) })}`);
      return;
    }
    const details = defined.map(([k, v]) => `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : String(v)}`).join(" ");
    const text = details ? `${message} ${details}` : message;
    // journald adds its own timestamp; a terminal gets one.
    write(journald ? `${priority}${text}` : `${new Date().toISOString()} ${level.padEnd(5)} ${text}`);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    reconfigure: ({ level, json }) => {
      options = { ...options, level, json };
    },
  };
}

/** The message of an unknown thrown value, with its cause when there is one. */
export function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message || error.cause.name}` : "";
  // Some errors carry only their class (xmpp.js's TimeoutError): an empty line would say nothing.
  return `${error.message || error.name}${cause}`;
}
