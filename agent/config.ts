// The YAML config (README.md, Configuration), validated with zod. Every problem is reported at once, one line
// each, as "<config path>: <what is wrong and what would be valid>".
import { readFileSync } from "node:fs";
import { isAbsolute, resolve, dirname } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { LineCounter, parseDocument } from "yaml";
import * as z from "../lib/zod.ts";
import { duration, positiveDuration, strict } from "../lib/config-schema.ts";
import { actuatorDrivers, sensorDrivers } from "../drivers/registry.ts";
import { HARDWARE, hardwareBackends, type Hardware } from "./hardware.ts";
import type { ReportPolicy } from "./policy.ts";
import { ROLES, type Operator } from "./authz.ts";
import type { AlertCondition, AlertRule } from "./alerts.ts";
import { parseListenAddress, type ListenAddress } from "./metrics.ts";

/** systemd's RuntimeDirectory=xedge makes the folder (agent/status-endpoint.ts). */
export const DEFAULT_STATUS_SOCKET = "/run/xedge/status.sock";

export const PASSWORD_ENV = "XEDGE_XMPP_PASSWORD";

/** Long enough for a slow link to log in with new settings, short enough that a gateway is not lost for long. */
export const DEFAULT_ROLLBACK_MS = 2 * 60_000;

/** A config that cannot be used: each problem is one line naming its config path. Exit code 2. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem(s) in config:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const nonEmptyText = () => z.string().check(z.minLength(1));
const BARE_JID = /^[^@/\s]+@[^@/\s]+$/;
const bareJid = z.string().check(z.regex(BARE_JID, { message: "expected a bare JID such as gw1@example.net" }));
const sensorId = z
  .string()
  .check(z.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: "expected letters, digits, '_', '.', '-' (up to 64), starting with a letter or digit" }));

/** A path relative to the config file's folder, which must be readable; yields its absolute path. */
const readableFile = (baseDir: string, check?: (text: string) => string | undefined) =>
  z.pipe(
    z.string().check(z.minLength(1)),
    z.transform((path: string, payload) => {
      const absolute = isAbsolute(path) ? path : resolve(baseDir, path);
      try {
        const problem = check?.(readFileSync(absolute, "utf8"));
        if (problem) payload.issues.push({ code: "custom", message: `${absolute} ${problem}`, input: path });
      } catch (error) {
        payload.issues.push({
          code: "custom",
          message: `cannot read ${absolute} (${(error as NodeJS.ErrnoException).code ?? "error"}); check the path and that the service user may read it`,
          input: path,
        });
      }
      return absolute;
    }),
  );

const xmppSchema = (baseDir: string) => strict({
  jid: bareJid,
  password: z.optional(nonEmptyText()),
  passwordFile: z.optional(readableFile(baseDir, (text) => (text.trim() === "" ? "is empty" : undefined))),
  resource: z._default(nonEmptyText(), "edge"),
  service: z.optional(
    z.string().check(z.regex(/^xmpps?:\/\/[^/:]+(:\d{1,5})?$/, { message: "expected xmpp://HOST[:PORT] (STARTTLS) or xmpps://HOST[:PORT] (direct TLS)" })),
  ),
  caFile: z.optional(readableFile(baseDir, (text) => (text.includes("-----BEGIN CERTIFICATE-----") ? undefined : "holds no PEM certificate"))),
  /** How often the link is checked with a XEP-0199 ping to the server while otherwise idle. */
  pingInterval: z._default(positiveDuration("15s"), 15_000),
  /** A ping unanswered this long means the link is dead: drop it and reconnect. */
  pingTimeout: z._default(positiveDuration("10s"), 10_000),
  reconnect: z._default(
    strict({
      initialDelay: z._default(positiveDuration("1s"), 1_000),
      maxDelay: z._default(positiveDuration("5m"), 300_000),
    }),
    { initialDelay: 1_000, maxDelay: 300_000 },
  ),
});

const pubsubSchema = strict({
  service: z.optional(nonEmptyText()),
  nodePrefix: z.optional(z.string().check(z.regex(/^[^\s]+$/, { message: "expected a node name prefix without spaces, such as xedge/gw1" }))),
  maxItems: z._default(z.number().check(z.int(), z.gte(1), z.lte(1_000_000)), 1000),
  accessModel: z.optional(z.enum(["open", "presence", "roster", "whitelist", "authorize"])),
});

const operatorSchema = strict({ jid: bareJid, role: z.enum(ROLES) });

const storeSchema = strict({
  path: z._default(nonEmptyText(), "/var/lib/xedge/xedge.db"),
  maxReadings: z._default(z.number().check(z.int(), z.gte(1)), 1_000_000),
  retention: z._default(duration("7d"), 7 * 86_400_000),
  /** Readings are committed in one transaction per interval: SD cards wear out with an fsync per reading. */
  commitInterval: z._default(duration("1s"), 1_000),
});

/** One of the condition keys, exactly one per rule (checked across keys in alertProblems). */
const ALERT_CONDITIONS = ["above", "below", "outside", "equals", "changesBy", "failing"] as const;

const alertSchema = strict({
  id: sensorId,
  sensor: sensorId,
  /** The field the condition looks at; none for `failing`. */
  field: z.optional(nonEmptyText()),
  above: z.optional(z.number()),
  below: z.optional(z.number()),
  outside: z.optional(z.tuple([z.number(), z.number()])),
  equals: z.optional(z.union([z.number(), z.boolean(), z.string()])),
  changesBy: z.optional(z.number().check(z.positive())),
  failing: z.optional(z.literal(true)),
  hysteresis: z._default(z.number().check(z.gte(0)), 0),
  for: z._default(duration("5m"), 0),
  /** Operators by bare JID, or every operator of a role. */
  notify: z
    .array(z.union([bareJid, strict({ role: z.enum(ROLES) })], { error: `expected a bare JID such as alice@example.net, or { role: ${ROLES.join(" | ")} }` }))
    .check(z.minLength(1)),
});

/** What the simulation adds to a sensor entry (its `sim:` block), validated by the schema firmware-sim gives. */
const simSettings = hardwareBackends.sim.sensorSettings;

const sensorCommon = {
  id: sensorId,
  interval: z._default(positiveDuration("1s"), 10_000),
  /** Keep a sample only when a field moved beyond its band (one for all numeric fields, or per field). */
  deadband: z.optional(z.union([z.number().check(z.gte(0)), z.record(z.string(), z.number().check(z.gte(0)))])),
  /** With a deadband: keep a sample at least this often anyway. */
  maxSilence: z.optional(positiveDuration("15m")),
  sim: z.optional(simSettings.schema),
};

/** Without maxSilence, a sensor with a deadband still reports this often. */
const DEFAULT_MAX_SILENCE_MS = 15 * 60_000;

type SensorEntry = {
  id: string;
  driver: string;
  interval: number;
  deadband?: number | Record<string, number>;
  maxSilence?: number;
  sim?: z.output<typeof simSettings.schema>;
} & Record<string, unknown>;
type ActuatorEntry = { id: string; driver: string } & Record<string, unknown>;

/**
 * A list's entry schema: entries discriminated by `driver`, one strict object schema per driver the list names.
 * A driver's schema is built the first time a config names it and kept: the drivers a config does not use never
 * build their zod schemas (0.4 MB less heap on a BME280-only gateway).
 */
function entriesByDriver(drivers: Record<string, { name: string; options: z.core.$ZodShape }>, common: z.core.$ZodShape) {
  const built = new Map<string, z.ZodMiniObject>();
  const entry = (driver: { name: string; options: z.core.$ZodShape }) => {
    const schema = built.get(driver.name) ?? strict({ ...common, driver: z.literal(driver.name), ...driver.options });
    built.set(driver.name, schema);
    return schema;
  };
  return (list: unknown) => {
    const named = new Set(Array.isArray(list) ? list.map((item: unknown) => (isRecord(item) ? item.driver : undefined)) : []);
    const used = Object.values(drivers).filter((driver) => named.has(driver.name));
    // A union needs one option: when the entries name no known driver, the first stands in, so an unknown name is
    // still reported as one. An empty list needs none.
    const options = (used.length > 0 || named.size === 0 ? used : Object.values(drivers).slice(0, 1)).map(entry);
    if (options.length === 0) return z.never({ message: "no driver of this kind exists yet" });
    return z.discriminatedUnion("driver", options as unknown as [z.ZodMiniObject, ...z.ZodMiniObject[]]);
  };
}

const sensorEntries = entriesByDriver(sensorDrivers, sensorCommon);
const actuatorEntries = entriesByDriver(actuatorDrivers, { id: sensorId });

/** The config's schema; `raw` says which drivers' entry schemas it needs. */
const buildSchema = (baseDir: string, raw: Record<string, unknown>) => strict({
  hardware: z.enum(HARDWARE),
  xmpp: xmppSchema(baseDir),
  pubsub: z._default(pubsubSchema, { maxItems: 1000 }),
  operators: z._default(z.array(operatorSchema), []),
  store: z._default(storeSchema, { path: "/var/lib/xedge/xedge.db", maxReadings: 1_000_000, retention: 7 * 86_400_000, commitInterval: 1_000 }),
  sensors: z._default(z.array(sensorEntries(raw.sensors) as unknown as z.ZodMiniType<SensorEntry>), []),
  actuators: z._default(z.array(actuatorEntries(raw.actuators) as unknown as z.ZodMiniType<ActuatorEntry>), []),
  log: z._default(strict({ level: z._default(z.enum(["debug", "info", "warn", "error"]), "info"), json: z._default(z.boolean(), false) }), {
    level: "info",
    json: false,
  }),
  /** Where the running agent answers `xedge status` (agent/status-endpoint.ts). */
  status: z._default(strict({ socket: z._default(nonEmptyText(), DEFAULT_STATUS_SOCKET) }), { socket: DEFAULT_STATUS_SOCKET }),
  /** A config an admin pushes (agent/remote-config.ts) that leaves the agent offline this long is rolled back. */
  remoteConfig: z._default(strict({ rollbackAfter: z._default(positiveDuration("2m"), DEFAULT_ROLLBACK_MS) }), { rollbackAfter: DEFAULT_ROLLBACK_MS }),
  /** Off when absent (agent/metrics.ts, agent/metrics-endpoint.ts). */
  metrics: z.optional(
    strict({
      listen: z.pipe(
        z.string(),
        z.transform((text: string, payload) => {
          const listen = parseListenAddress(text);
          if (typeof listen !== "string") return listen;
          payload.issues.push({ code: "custom", message: listen, input: text });
          return z.NEVER;
        }),
      ),
    }),
  ),
  /** Rules the alert engine watches (agent/alerts.ts). */
  alerts: z._default(z.array(alertSchema), []),
});

type ParsedConfig = z.output<ReturnType<typeof buildSchema>>;

export interface SensorConfig {
  id: string;
  driver: string;
  intervalMs: number;
  /** The driver's own keys, validated against its schema. */
  options: Record<string, unknown>;
  /** Faults firmware-sim injects (hardware: sim): the entry's `sim:` block, resolved. */
  faults: ReturnType<typeof simSettings.resolve>;
  /** When samples are kept; absent: every sample. */
  report?: ReportPolicy;
}

export interface ActuatorConfig {
  id: string;
  driver: string;
  options: Record<string, unknown>;
}

export interface AgentConfig {
  file: string;
  hardware: Hardware;
  xmpp: {
    jid: string;
    password: string;
    resource: string;
    service: string;
    domain: string;
    caFile?: string;
    pingIntervalMs: number;
    pingTimeoutMs: number;
    reconnect: { initialDelayMs: number; maxDelayMs: number };
  };
  pubsub: { service?: string; nodePrefix: string; maxItems: number; accessModel?: string };
  operators: Operator[];
  store: { path: string; maxReadings: number; retentionMs: number; commitIntervalMs: number };
  sensors: SensorConfig[];
  actuators: ActuatorConfig[];
  alerts: AlertRule[];
  log: { level: "debug" | "info" | "warn" | "error"; json: boolean };
  status: { socket: string };
  remoteConfig: { rollbackAfterMs: number };
  /** The metrics endpoint; absent: off. */
  metrics?: { listen: ListenAddress };
}

/** Whether going from `before` to `after` makes the link again (new server, account or node settings). */
export function changesConnection(before: Pick<AgentConfig, "xmpp" | "pubsub">, after: Pick<AgentConfig, "xmpp" | "pubsub">): boolean {
  return !isDeepStrictEqual(before.xmpp, after.xmpp) || !isDeepStrictEqual(before.pubsub, after.pubsub);
}

/** "sensors[1].i2c.address" from zod's path. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("");
}

function describe(input: unknown): string {
  if (input === undefined) return "nothing";
  if (typeof input === "string") return JSON.stringify(input);
  if (typeof input === "number" || typeof input === "boolean" || input === null) return String(input);
  return Array.isArray(input) ? "a list" : "a mapping";
}

/** Config paths whose value is a secret: a problem with one names what is expected, never the value. */
const SECRET_PATHS = new Set(["xmpp.password"]);

function formatIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path) || "(top level)";
  if (SECRET_PATHS.has(where) && issue.code !== "unrecognized_keys") {
    const expected = issue.code === "invalid_type" ? "expected text (a password of digits needs quotes)" : "expected at least 1 character";
    return `${where}: ${expected}; the value given is not shown, it is a secret`;
  }
  switch (issue.code) {
    case "invalid_type":
      return issue.input === undefined
        ? `${where}: required (${issue.expected})`
        : `${where}: expected ${issue.expected}, got ${describe(issue.input)}`;
    case "invalid_value":
      return `${where}: expected one of ${issue.values.map((v) => String(v)).join(" | ")}, got ${describe(issue.input)}`;
    case "invalid_union":
      if ((issue as { note?: string }).note === "No matching discriminator" && "options" in issue && Array.isArray(issue.options)) {
        const driver = (issue.input as { driver?: unknown } | undefined)?.driver;
        // Every driver of the list's kind, not only the union's: it holds the drivers the config names.
        const known = Object.keys(issue.path[0] === "actuators" ? actuatorDrivers : sensorDrivers);
        return `${where}: unknown driver ${describe(driver)}; expected one of ${known.join(", ")}`;
      }
      return `${where}: ${issue.message}`;
    case "unrecognized_keys": {
      // The key's own config path: "foo" at the top level, "xmpp.foo" inside xmpp.
      const parent = formatPath(issue.path);
      return issue.keys.map((key) => `${parent ? `${parent}.` : ""}${key}: ${issue.message}`).join("\n");
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? `at least ${String(issue.minimum)}` : `at most ${String(issue.maximum)}`;
      const what = issue.origin === "string" ? `a text of ${bound} characters` : issue.origin === "array" ? `${bound} entries` : bound;
      return `${where}: expected ${what}, got ${describe(issue.input)}`;
    }
    default:
      return `${where}: ${issue.message}`;
  }
}

/** Reads, parses and validates a config file. Throws ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(file, [`(file): cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`]);
  }
  return parseConfig(text, file, env);
}

export function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((e) => `(yaml) line ${lineCounter.linePos(e.pos[0]).line}: ${e.message.split("\n")[0] ?? e.code}`),
    );
  }
  const raw: unknown = document.toJS();
  const baseDir = dirname(resolve(file));
  const result = buildSchema(baseDir, isRecord(raw) ? raw : {}).safeParse(raw, { reportInput: true });
  // Checks across keys run on the raw document too, so every problem is reported in one go.
  const problems = [...(result.success ? [] : result.error.issues.flatMap((issue) => formatIssue(issue).split("\n"))), ...crossChecks(raw, env)];
  if (!result.success || problems.length > 0) throw new ConfigError(file, problems);
  return resolveConfig(result.data, file, env);
}

/** Problems that involve several keys, found on the raw document (whatever else is wrong with it). */
function crossChecks(raw: unknown, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  const root = (typeof raw === "object" && raw !== null ? raw : {}) as Record<string, unknown>;
  const xmpp = (typeof root.xmpp === "object" && root.xmpp !== null ? root.xmpp : {}) as Record<string, unknown>;
  if (xmpp.password !== undefined && xmpp.passwordFile !== undefined) {
    problems.push("xmpp.passwordFile: give either xmpp.password or xmpp.passwordFile, not both");
  } else if (xmpp.password === undefined && xmpp.passwordFile === undefined && !env[PASSWORD_ENV]) {
    problems.push(`xmpp.password: required: set xmpp.password, xmpp.passwordFile or the ${PASSWORD_ENV} environment variable`);
  }
  // Sensor and actuator ids share one namespace: both are XEP-0323 node ids.
  const seen = new Map<string, string>();
  for (const list of ["sensors", "actuators"] as const) {
    const entries = root[list];
    if (!Array.isArray(entries)) continue;
    entries.forEach((entry: unknown, index) => {
      const id = (entry as { id?: unknown } | null)?.id;
      if (typeof id !== "string") return;
      const where = `${list}[${index}].id`;
      const first = seen.get(id);
      if (first !== undefined) problems.push(`${where}: duplicate id "${id}" (also ${first})`);
      else seen.set(id, where);
    });
  }
  problems.push(...alertProblems(root));
  return problems;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** An alert rule's problems across keys: one condition, the sensor and its field exist, a clear band remains. */
function alertProblems(root: Record<string, unknown>): string[] {
  if (!Array.isArray(root.alerts)) return [];
  const sensors = new Map<string, string>();
  if (Array.isArray(root.sensors)) {
    for (const sensor of root.sensors) {
      if (isRecord(sensor) && typeof sensor.id === "string" && typeof sensor.driver === "string") sensors.set(sensor.id, sensor.driver);
    }
  }
  const problems: string[] = [];
  const ids = new Map<string, string>();
  root.alerts.forEach((alert: unknown, index) => {
    if (!isRecord(alert)) return;
    const where = `alerts[${index}]`;
    if (typeof alert.id === "string") {
      const first = ids.get(alert.id);
      if (first !== undefined) problems.push(`${where}.id: duplicate id "${alert.id}" (also ${first})`);
      else ids.set(alert.id, `${where}.id`);
    }
    const conditions = ALERT_CONDITIONS.filter((key) => alert[key] !== undefined);
    if (conditions.length === 0) problems.push(`${where}: no condition; give one of ${ALERT_CONDITIONS.join(", ")}`);
    if (conditions.length > 1) problems.push(`${where}.${conditions[1] ?? ""}: one condition per rule; give either ${conditions.join(" or ")}`);
    const failing = conditions.includes("failing");
    if (failing && alert.field !== undefined) problems.push(`${where}.field: a failing rule watches the whole sensor; remove field`);
    if (!failing && conditions.length > 0 && alert.field === undefined) problems.push(`${where}.field: required: the field the condition looks at, such as temperature`);
    const hysteresis = typeof alert.hysteresis === "number" ? alert.hysteresis : 0;
    if (alert.hysteresis !== undefined && (failing || conditions.includes("equals"))) {
      problems.push(`${where}.hysteresis: ${failing ? "failing" : "equals"} has no threshold to come back from; remove hysteresis`);
    }
    const outside = z.tuple([z.number(), z.number()]).safeParse(alert.outside);
    if (outside.success) {
      const [low, high] = outside.data;
      if (low + hysteresis >= high - hysteresis) {
        problems.push(`${where}.outside: expected [low, high] with low + hysteresis below high - hysteresis, got [${low}, ${high}] and hysteresis ${hysteresis}`);
      }
    }
    if (typeof alert.changesBy === "number" && hysteresis > alert.changesBy) {
      problems.push(`${where}.hysteresis: expected at most changesBy (${alert.changesBy}), got ${hysteresis}`);
    }
    if (typeof alert.sensor !== "string") return;
    const driver = sensors.get(alert.sensor);
    if (driver === undefined) {
      const known = [...sensors.keys()];
      problems.push(`${where}.sensor: no sensor "${alert.sensor}"; ${known.length > 0 ? `expected one of ${known.join(", ")}` : "add it under sensors first"}`);
      return;
    }
    const fields = sensorDrivers[driver]?.fields;
    if (fields && typeof alert.field === "string" && !fields.includes(alert.field)) {
      problems.push(`${where}.field: sensor "${alert.sensor}" (${driver}) has no field "${alert.field}"; expected one of ${fields.join(", ")}`);
    }
  });
  return problems;
}

/** The rule's one condition key as the engine takes it; the schema and alertProblems made sure there is one. */
function alertCondition(alert: ParsedConfig["alerts"][number]): AlertCondition {
  if (alert.above !== undefined) return { kind: "above", threshold: alert.above };
  if (alert.below !== undefined) return { kind: "below", threshold: alert.below };
  if (alert.outside !== undefined) return { kind: "outside", low: alert.outside[0], high: alert.outside[1] };
  if (alert.equals !== undefined) return { kind: "equals", value: alert.equals };
  if (alert.changesBy !== undefined) return { kind: "changesBy", amount: alert.changesBy };
  return { kind: "failing" };
}

/** The validated document as the agent uses it: durations in ms, secrets resolved, defaults filled in. */
function resolveConfig(parsed: ParsedConfig, file: string, env: NodeJS.ProcessEnv): AgentConfig {
  const baseDir = dirname(resolve(file));
  const { xmpp } = parsed;
  const password =
    xmpp.passwordFile !== undefined ? readFileSync(xmpp.passwordFile, "utf8").replace(/\r?\n$/, "") : (xmpp.password ?? env[PASSWORD_ENV] ?? "");
  const [localpart = "", domain = ""] = xmpp.jid.split("@");
  return {
    file,
    hardware: parsed.hardware,
    xmpp: {
      jid: xmpp.jid,
      password,
      resource: xmpp.resource,
      service: xmpp.service ?? `xmpp://${domain}`,
      domain,
      caFile: xmpp.caFile,
      pingIntervalMs: xmpp.pingInterval,
      pingTimeoutMs: xmpp.pingTimeout,
      reconnect: { initialDelayMs: xmpp.reconnect.initialDelay, maxDelayMs: xmpp.reconnect.maxDelay },
    },
    pubsub: {
      service: parsed.pubsub.service,
      nodePrefix: parsed.pubsub.nodePrefix ?? `xedge/${localpart}`,
      maxItems: parsed.pubsub.maxItems,
      accessModel: parsed.pubsub.accessModel,
    },
    operators: parsed.operators,
    store: {
      path: isAbsolute(parsed.store.path) ? parsed.store.path : resolve(baseDir, parsed.store.path),
      maxReadings: parsed.store.maxReadings,
      retentionMs: parsed.store.retention,
      commitIntervalMs: parsed.store.commitInterval,
    },
    sensors: parsed.sensors.map((sensor) => {
      const { id, driver, interval, sim, deadband, maxSilence, ...options } = sensor;
      const report = deadband === undefined ? undefined : { deadband, maxSilenceMs: maxSilence ?? DEFAULT_MAX_SILENCE_MS };
      return { id, driver, intervalMs: interval, options, faults: simSettings.resolve(sim), ...(report ? { report } : {}) };
    }),
    actuators: parsed.actuators.map(({ id, driver, ...options }) => ({ id, driver, options })),
    alerts: parsed.alerts.map((alert) => ({
      id: alert.id,
      sensorId: alert.sensor,
      ...(alert.field !== undefined ? { field: alert.field } : {}),
      condition: alertCondition(alert),
      hysteresis: alert.hysteresis,
      forMs: alert.for,
      notify: alert.notify.map((subscriber) => (typeof subscriber === "string" ? { jid: subscriber } : subscriber)),
    })),
    log: parsed.log,
    status: { socket: isAbsolute(parsed.status.socket) ? parsed.status.socket : resolve(baseDir, parsed.status.socket) },
    remoteConfig: { rollbackAfterMs: parsed.remoteConfig.rollbackAfter },
    ...(parsed.metrics ? { metrics: parsed.metrics } : {}),
  };
}
