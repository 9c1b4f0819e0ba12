// Remote configuration: an admin fetches the running config file (secrets redacted) and pushes a new one. A push
// is validated exactly as a local file is, written atomically beside the running file (the previous one kept as
// <file>.previous), and applied through the same reload SIGHUP uses. A push that makes the link again is tried,
// as `netplan try` does: if the agent is not online again within `remoteConfig.rollbackAfter`, the previous file
// comes back, is reloaded, and the admin is told why once the agent is online. Every push is audited, refusals
// included. Knows no protocol: the faces reach it through the operator desk, and it speaks to the admin through
// the `tell` it is given.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync, chownSync, unlinkSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isMap, parseDocument } from "yaml";
import { ConfigError, changesConnection, parseConfig, type AgentConfig } from "./config.ts";
import type { Authz } from "./authz.ts";
import { errorText, type Logger } from "./log.ts";
import { formatDuration } from "../lib/duration.ts";

/** What a fetched config shows instead of an inline password; pushed back unchanged, it keeps the running one. */
export const REDACTED = "(secret, not shown)";
/** Longest config text a push may carry. */
export const MAX_CONFIG_BYTES = 64 * 1024;
/** Time for the answer to a push to leave on the old link before new connection settings close it. */
const ANSWER_GRACE_MS = 500;

export interface ConfigAuditEntry {
  at: Date;
  /** The full JID of the admin (or whoever tried). */
  requester: string;
  /** The face: chat, adhoc. */
  via: string;
  /** What changed, e.g. "sensors added: cellar; connection settings: reconnecting"; or the problems found. */
  summary: string;
  result: "applied" | "unchanged" | "rolled-back" | "refused" | "forbidden" | "failed";
  detail?: string;
}

/** The reload SIGHUP runs: read the running file again and apply it. */
export type FileReload = () => Promise<{ ok: true; applied: string[]; needsRestart: string[] } | { ok: false; problems: string[] }>;

export interface RemoteConfigDeps {
  authz: Pick<Authz, "roleOf" | "canAdminister">;
  /** The config in force; its `file` is the one fetched and replaced. */
  running: () => AgentConfig;
  reloadFile: FileReload;
  link: {
    isOnline: () => boolean;
    /** Calls `listener` each time the link comes up; returns what stops that. */
    onOnline: (listener: () => void) => () => void;
    /** Why the last attempt to connect failed, in words a person can act on. */
    lastConnectError: () => string | undefined;
  };
  /** A chat message to an admin, sent while the agent is online. */
  tell: (jid: string, text: string) => void;
  audit: (entry: ConfigAuditEntry) => Promise<void>;
  log: Logger;
  env?: NodeJS.ProcessEnv;
}

export type ConfigFailure = "forbidden" | "invalid" | "busy" | "failed";

export type FetchResult = { ok: true; file: string; text: string } | { ok: false; kind: "forbidden" | "failed"; text: string };

export type PushResult =
  | { ok: true; outcome: "applied"; applied: string[]; needsRestart: string[] }
  | { ok: true; outcome: "unchanged" }
  /** New connection settings: written, applied after the answer, rolled back unless online within `deadlineMs`. */
  | { ok: true; outcome: "trying"; deadlineMs: number }
  | { ok: false; kind: ConfigFailure; problems: string[] };

const AUDITED_AS: Record<ConfigFailure, ConfigAuditEntry["result"]> = { forbidden: "forbidden", invalid: "refused", busy: "refused", failed: "failed" };

export interface PushOptions {
  /** The admin said explicitly that an inline xmpp.password is meant. */
  acceptInlineSecrets: boolean;
}

/** Config as one requester sees it: every call is authorized (admins only) and every push audited. */
export interface ConfigCounter {
  fetch(): FetchResult;
  push(text: string, options: PushOptions, via: string): Promise<PushResult>;
}

export class RemoteConfig {
  /** The push being tried (new connection settings), if any: others wait for its outcome. */
  private trying: { cancel: () => void } | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly deps: RemoteConfigDeps) {}

  for(requester: string): ConfigCounter {
    return { fetch: () => this.fetch(requester), push: (text, options, via) => this.push(requester, text, options, via) };
  }

  fetch(requester: string): FetchResult {
    if (!this.deps.authz.canAdminister(requester)) return { ok: false, kind: "forbidden", text: this.refusal(requester, "fetching") };
    const { file } = this.deps.running();
    try {
      return { ok: true, file, text: redact(readFileSync(file, "utf8")) };
    } catch (error) {
      return { ok: false, kind: "failed", text: `cannot read ${file}: ${errorText(error)}` };
    }
  }

  /** Pushes run one at a time: each is validated, written and reloaded before the next is looked at. */
  push(requester: string, text: string, options: PushOptions, via: string): Promise<PushResult> {
    const run = this.tail.then(() => this.pushNow(requester, text, options, via));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async pushNow(requester: string, text: string, options: PushOptions, via: string): Promise<PushResult> {
    const result = await this.decide(requester, text, options, via);
    if (!result.ok) {
      const audited = AUDITED_AS[result.kind];
      this.deps.log.info("config push refused", { requester, via, problems: result.problems.length, result: audited });
      await this.record({ at: new Date(), requester, via, summary: result.problems.join("; "), result: audited });
    }
    return result;
  }

  /** Drops a pending try's timers (the agent is stopping); its file and marker stay, for `resume` at the next start. */
  stop(): void {
    this.stopped = true;
    this.trying?.cancel();
    this.trying = undefined;
  }

  private refusal(requester: string, what: string): string {
    const role = this.deps.authz.roleOf(requester);
    return role === undefined ? "not an operator of this gateway" : `${what} the config needs the admin role; this operator has ${role}`;
  }

  private async decide(requester: string, text: string, options: PushOptions, via: string): Promise<PushResult> {
    if (!this.deps.authz.canAdminister(requester)) return { ok: false, kind: "forbidden", problems: [this.refusal(requester, "pushing")] };
    if (this.trying) return { ok: false, kind: "busy", problems: ["a pushed config is being tried; wait for its outcome (you will be told)"] };
    if (Buffer.byteLength(text) > MAX_CONFIG_BYTES) return { ok: false, kind: "invalid", problems: [`(file): longer than ${MAX_CONFIG_BYTES} bytes`] };
    const before = this.deps.running();
    const { file } = before;
    const secrets = checkSecrets(text, readFileSync(file, "utf8"), options);
    let next: AgentConfig;
    try {
      next = parseConfig(secrets.text, file, this.deps.env ?? process.env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      return { ok: false, kind: "invalid", problems: [...secrets.problems, ...error.problems] };
    }
    if (secrets.problems.length > 0) return { ok: false, kind: "invalid", problems: secrets.problems };
    const attempt: TryMarker | undefined = changesConnection(before, next) ? { requester, via, pushedAt: new Date().toISOString() } : undefined;
    try {
      // The marker first: a file written without it would never be rolled back.
      if (attempt) replaceFile(markerOf(file), Buffer.from(JSON.stringify(attempt)), statSync(file));
      writeBeside(file, secrets.text);
    } catch (error) {
      rmSync(markerOf(file), { force: true });
      // An installed service may not write /etc/xedge unless the host allows it (ProtectSystem=strict).
      const code = (error as NodeJS.ErrnoException).code ?? "";
      const hint = ["EROFS", "EACCES", "EPERM"].includes(code) ? " (the host does not let the service write its config: see 'Changing the gateway's config' in the operator guide)" : "";
      return { ok: false, kind: "failed", problems: [`cannot write ${file}: ${errorText(error)}; nothing was changed${hint}`] };
    }
    this.deps.log.info("config pushed", { requester, via, file });
    if (attempt) {
      const deadlineMs = before.remoteConfig.rollbackAfterMs;
      this.tryConnection(attempt, deadlineMs);
      return { ok: true, outcome: "trying", deadlineMs };
    }
    const reloaded = await this.deps.reloadFile();
    if (!reloaded.ok) return this.restoreAfterFailedReload(reloaded.problems);
    const summary = [...reloaded.applied, ...reloaded.needsRestart.map((change) => `after a restart: ${change}`)];
    await this.record({ at: new Date(), requester, via, summary: summary.join("; ") || "nothing", result: summary.length > 0 ? "applied" : "unchanged" });
    return summary.length > 0 ? { ok: true, outcome: "applied", applied: reloaded.applied, needsRestart: reloaded.needsRestart } : { ok: true, outcome: "unchanged" };
  }

  /** The file changed between validation and reload (someone else wrote it): the previous one comes back. */
  private async restoreAfterFailedReload(problems: string[]): Promise<PushResult> {
    restorePrevious(this.deps.running().file);
    await this.deps.reloadFile();
    return { ok: false, kind: "failed", problems: ["the written config did not load; the previous one was restored", ...problems] };
  }

  /**
   * Applies new connection settings once the answer is on its way, then watches the link. A marker beside the
   * file says a try is under way, so an agent restarted during it takes the watch up again (`resume`).
   */
  private tryConnection(attempt: TryMarker, deadlineMs: number): void {
    const { requester, via } = attempt;
    const grace = setTimeout(() => void apply(), ANSWER_GRACE_MS);
    this.trying = { cancel: () => clearTimeout(grace) };
    const apply = async () => {
      const reloaded = await this.deps.reloadFile();
      if (!reloaded.ok) {
        this.settle();
        await this.restoreAfterFailedReload(reloaded.problems);
        await this.record({ at: new Date(), requester, via, summary: reloaded.problems.join("; "), result: "failed" });
        return;
      }
      this.watch(attempt, deadlineMs, [...reloaded.applied, ...reloaded.needsRestart.map((change) => `after a restart: ${change}`)].join("; "));
    };
  }

  /**
   * Takes up a try the agent was stopped in the middle of (a restart, a crash): the running config is the pushed
   * one, not yet seen online, so it gets the whole deadline again from now.
   */
  resume(): void {
    const { file, remoteConfig } = this.deps.running();
    let attempt: TryMarker;
    try {
      attempt = JSON.parse(readFileSync(markerOf(file), "utf8")) as TryMarker;
    } catch {
      return;
    }
    this.deps.log.warn("taking up the try of a pushed config after a restart", { requester: attempt.requester, via: attempt.via });
    this.watch(attempt, remoteConfig.rollbackAfterMs, "connection settings (the agent restarted while trying them)");
  }

  /** Online in time keeps the config; otherwise the previous file is restored and reloaded, and the admin told why. */
  private watch(attempt: TryMarker, deadlineMs: number, summary: string): void {
    if (this.stopped) return;
    const { link, log } = this.deps;
    const { requester, via, pushedAt } = attempt;
    const admin = requester.split("/")[0] ?? requester;
    const stopListening = link.onOnline(() => {
      this.settle();
      log.info("pushed config kept: online with the new connection settings", { requester, via });
      void this.record({ at: new Date(), requester, via, summary, result: "applied" }).then(() =>
        this.deps.tell(admin, `The config you pushed at ${pushedAt} is applied and the gateway is online with it: ${summary}.`),
      );
    });
    const deadline = setTimeout(() => void rollBack(), deadlineMs);
    this.trying = {
      cancel: () => {
        clearTimeout(deadline);
        stopListening();
      },
    };
    const rollBack = async () => {
      this.settle();
      const cause = link.lastConnectError() ?? "no connection error was reported";
      const reason = `not online within ${formatDuration(deadlineMs)} with the new settings; last connection error: ${cause}`;
      log.warn("pushed config rolled back", { requester, via, reason });
      try {
        restorePrevious(this.deps.running().file);
      } catch (error) {
        log.error("restoring the previous config failed", { error: errorText(error) });
        await this.record({ at: new Date(), requester, via, summary, result: "failed", detail: `${reason}; restoring the previous file failed: ${errorText(error)}` });
        return;
      }
      const reloaded = await this.deps.reloadFile();
      const restored = reloaded.ok ? "The previous config is running again" : `The previous config did not load: ${reloaded.problems.join("; ")}`;
      await this.record({ at: new Date(), requester, via, summary, result: "rolled-back", detail: reason });
      const text = `The config you pushed at ${pushedAt} was rolled back: ${reason}. ${restored}.`;
      // The admin hears it once the restored settings bring the link back.
      if (link.isOnline()) this.deps.tell(admin, text);
      else {
        const stopWaiting = link.onOnline(() => {
          stopWaiting();
          this.deps.tell(admin, text);
        });
      }
    };
  }

  /** The try is over (kept or rolled back): its timers stop and its marker goes. */
  private settle(): void {
    this.trying?.cancel();
    this.trying = undefined;
    rmSync(markerOf(this.deps.running().file), { force: true });
  }

  private async record(entry: ConfigAuditEntry): Promise<void> {
    try {
      await this.deps.audit(entry);
    } catch (error) {
      this.deps.log.error("audit trail write failed", { requester: entry.requester, via: entry.via, result: entry.result, error: errorText(error) });
    }
  }
}

/** The config text with an inline xmpp.password replaced by REDACTED; comments and layout stay. */
export function redact(text: string): string {
  const document = parseDocument(text);
  if (document.errors.length > 0 || !document.hasIn(["xmpp", "password"])) return text;
  document.setIn(["xmpp", "password"], REDACTED);
  return document.toString({ lineWidth: 0 });
}

/**
 * Secrets in a pushed config: a passwordFile reference (checked like any file the config names), an inline
 * password only when accepted explicitly, or REDACTED, which keeps the running file's inline password.
 */
export function checkSecrets(text: string, runningText: string, options: PushOptions): { text: string; problems: string[] } {
  const document = parseDocument(text);
  const xmpp = document.errors.length === 0 ? document.get("xmpp") : undefined;
  if (!isMap(xmpp) || !xmpp.has("password")) return { text, problems: [] };
  const password: unknown = xmpp.get("password");
  if (password === REDACTED) {
    const running: unknown = parseDocument(runningText).getIn(["xmpp", "password"]);
    if (typeof running !== "string") {
      return { text, problems: [`xmpp.password: ${JSON.stringify(REDACTED)} keeps the running password, but the running config has none inline; give xmpp.passwordFile`] };
    }
    xmpp.set("password", running);
    return { text: document.toString({ lineWidth: 0 }), problems: [] };
  }
  if (options.acceptInlineSecrets) return { text, problems: [] };
  return {
    text,
    problems: ["xmpp.password: an inline password is accepted only when you say so explicitly (accept inline secrets); or name a file on the gateway with xmpp.passwordFile"],
  };
}

/** Writes `data` to `path` through a temporary file in the same folder: fsync, the given owner and mode, rename. */
function replaceFile(path: string, data: Buffer, like: { mode: number; uid: number; gid: number }): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(temporary, "w", like.mode & 0o7777);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    const mine = statSync(temporary);
    if (mine.uid !== like.uid || mine.gid !== like.gid) chownSync(temporary, like.uid, like.gid);
    renameSync(temporary, path);
  } catch (error) {
    unlinkSync(temporary);
    throw error;
  }
  syncFolder(dirname(path));
}

/** The rename itself survives a power cut only once the folder is synced. */
function syncFolder(folder: string): void {
  const fd = openSync(folder, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

const previousOf = (file: string) => `${file}.previous`;
/** Present while pushed connection settings are being tried. */
const markerOf = (file: string) => `${file}.trying`;

interface TryMarker {
  requester: string;
  via: string;
  /** ISO 8601. */
  pushedAt: string;
}

/** Keeps the running file as <file>.previous, then puts `text` in its place; both with the running file's owner and mode. */
export function writeBeside(file: string, text: string): void {
  const like = statSync(file);
  replaceFile(previousOf(file), readFileSync(file), like);
  replaceFile(file, Buffer.from(text), like);
}

/** Puts <file>.previous back in place of `file`. */
export function restorePrevious(file: string): void {
  replaceFile(file, readFileSync(previousOf(file)), statSync(file));
}
