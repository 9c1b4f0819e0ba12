// An operator at a terminal: Profanity (the Debian package) runs in a private tmux server and is driven with
// keystrokes, following docs/operator-guide.md — trust the server's CA with /tls certpath (verification stays on),
// connect typing the password at the prompt, chat commands in a chat with the gateway, an ad-hoc command with
// /cmd. Every check reads the screen as the person would see it (tmux capture-pane).
import { after, afterEach, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import { serverKinds } from "../support/servers.ts";
import { AGENT_JID, startSimGateway, type SimGateway } from "../support/gateway-fixture.ts";

const run = promisify(execFile);
const POLL_MS = 100;
const LAST_SCREEN = "last-screen.txt";

/** Profanity in a tmux server of its own, with a home folder of its own: nothing of the real user's is read or written. */
class ProfanityTerminal {
  private constructor(
    private readonly dir: string,
    private readonly socket: string,
  ) {}

  static async start(dir: string): Promise<ProfanityTerminal> {
    const home = join(dir, "home");
    mkdirSync(home);
    const terminal = new ProfanityTerminal(dir, join(dir, "tmux.sock"));
    // The pane inherits this environment: no SSL_CERT_* or profile of the caller reaches Profanity.
    const env = { PATH: process.env["PATH"] ?? "/usr/bin:/bin", LANG: "C.UTF-8", HOME: home, XDG_CONFIG_HOME: join(home, ".config"), XDG_DATA_HOME: join(home, ".local/share") };
    await run("tmux", ["-u", "-S", terminal.socket, "-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", "profanity"], { env });
    return terminal;
  }

  get logFile(): string {
    return join(this.dir, "home/.local/share/profanity/logs/profanity.log");
  }

  private tmux(...args: string[]) {
    return run("tmux", ["-S", this.socket, ...args]);
  }

  /** Types a line and presses Enter; `-l` sends the text literally, so nothing in it is read as a key name. */
  async type(line: string): Promise<void> {
    await this.tmux("send-keys", "-l", line);
    await this.tmux("send-keys", "Enter");
  }

  /** The visible screen, wrapped lines joined. */
  async screen(): Promise<string> {
    return (await this.tmux("capture-pane", "-p", "-J")).stdout;
  }

  /** Resolves with the screen once `pattern` is on it; on timeout the error holds the last screen (also saved to a file). */
  async waitFor(pattern: RegExp, what: string, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let screen = "";
    while (Date.now() < deadline) {
      screen = await this.screen();
      if (pattern.test(screen)) return screen;
      await sleep(POLL_MS);
    }
    const saved = join(this.dir, LAST_SCREEN);
    writeFileSync(saved, screen);
    throw new Error(`${what}: ${String(pattern)} not on Profanity's screen within ${timeoutMs} ms (saved in ${saved}; Profanity's log: ${this.logFile}). Last screen:\n${screen.trimEnd()}`);
  }

  async running(): Promise<boolean> {
    return this.tmux("has-session").then(
      () => true,
      () => false,
    );
  }

  /** Ends the tmux server (and Profanity with it, if /quit did not). */
  async kill(): Promise<void> {
    await this.tmux("kill-server").catch(() => undefined);
  }
}

/** A folder holding only the test CA, hashed the way OpenSSL looks certificates up in a directory. */
async function trustFolder(dir: string, caFile: string): Promise<string> {
  const folder = join(dir, "trusted-ca");
  mkdirSync(folder);
  copyFileSync(caFile, join(folder, "xedge-test-ca.crt"));
  await run("openssl", ["rehash", folder]);
  return folder;
}

before(async () => {
  const version = await run("profanity", ["--version"]).catch((error: unknown) => {
    throw new Error(`Profanity is needed for this test (Debian package profanity; scripts/ensure.sh test installs it): ${String(error)}`);
  });
  assert.match(version.stdout, /^Profanity, version \d+\.\d+/);
  await run("tmux", ["-V"]).catch((error: unknown) => {
    throw new Error(`tmux is needed for this test (Debian package tmux): ${String(error)}`);
  });
});

for (const kind of serverKinds) {
  describe(`an operator in Profanity on ${kind}`, () => {
    let gateway: SimGateway;
    let terminal: ProfanityTerminal;
    let dir: string;
    let failed = false;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "xedge-profanity-"));
      gateway = await startSimGateway(kind);
      terminal = await ProfanityTerminal.start(dir);
      await terminal.waitFor(/Type '\/help'/, "Profanity's welcome");
    });
    after(async () => {
      await terminal?.kill();
      await gateway?.stop();
      // The screen and Profanity's log stay for a look after a failure (also one in before()).
      if (!failed && !existsSync(join(dir, LAST_SCREEN))) rmSync(dir, { recursive: true, force: true });
    });
    afterEach((t) => {
      if ("passed" in t && !t.passed) failed = true;
    });

    const connect = async () => {
      await terminal.type(`/connect ops@localhost server ${gateway.server.host} port ${gateway.server.port}`);
      await terminal.waitFor(/Enter password:/, "the password prompt");
      await terminal.type("ops-secret");
    };

    it("refuses the server's certificate until the CA is trusted through /tls certpath, then logs in", async () => {
      await connect();
      await terminal.waitFor(/TLS certificate verification failed[\s\S]*Use '\/tls deny'/, "the untrusted certificate");
      await terminal.type("/tls deny");
      await terminal.waitFor(/Login failed/, "the refused connection");
      await terminal.type(`/tls certpath set ${await trustFolder(dir, gateway.server.caFile)}`);
      await terminal.waitFor(/Certificate path set to/, "/tls certpath");
      await connect();
      await terminal.waitFor(/ops@localhost\/\S+ logged in successfully/, "login");
    });

    it("read in a chat with the gateway shows every sensor's values", async () => {
      // The bare JID, as the guide says. Profanity 0.13 files every message from gw1@localhost/edge under the bare
      // JID, so a chat opened with /msg on the full JID would get its answers in a second window.
      await terminal.type("/msg gw1@localhost read");
      const screen = await terminal.waitFor(/pump: state false \[settable\]/, "the answer to read");
      assert.match(screen, /gw1@localhost\/edge: boiler: temperature -?\d+\.\d+ °C · humidity \d+\.\d+ %RH · pressure \d+\.\d+ hPa/);
      // Right after start the streaming serial devices (gps, bench) may still wait for their first data.
      for (const id of ["greenhouse", "tank", "cellar", "door", "rain", "gps", "meter", "bench"]) assert.match(screen, new RegExp(`^\\s+(⚠ )?${id}: `, "m"));
    });

    it("set pump state true is confirmed, and read pump then shows it on", async () => {
      await terminal.type("set pump state true");
      await terminal.waitFor(/Done: pump state = true\./, "the answer to set");
      await terminal.type("read pump");
      await terminal.waitFor(/gw1@localhost\/edge: pump: state true \[settable\]/, "the answer to read pump");
    });

    it("a watch set by chat fires: its message appears in the chat window, and unwatch ends it", async () => {
      // The simulated boiler stays between 18 and 24 °C: a watch above -40 fires at its next reading.
      await terminal.type("watch boiler temperature > -40");
      await terminal.waitFor(/Watching 1: boiler temperature above -40\. You get a message when it fires/, "the answer to watch");
      await terminal.waitFor(/gw1@localhost\/edge: ⚠ boiler temperature -?\d+\.\d+ °C: above -40 °C since \d\d:\d\d:\d\d \(watch 1\)/, "the fired watch");
      await terminal.type("unwatch 1");
      await terminal.waitFor(/Stopped watch 1: boiler temperature above -40\./, "the answer to unwatch");
    });

    it("/cmd list shows the ad-hoc commands; read as a form shows the chosen sensor's values", async () => {
      // Profanity prints the list in its console, window 1.
      await terminal.type("/win 1");
      await terminal.type(`/cmd list ${AGENT_JID}`);
      await terminal.waitFor(/Ad hoc commands:\n.*audit\n.*history\n.*read\n.*set\n.*status\n.*unwatch\n.*watch\n.*watches\n/, "the command list");
      // A form opens in a window of its own; its fields are edited with /fieldN and sent with /form submit.
      await terminal.type(`/cmd exec read ${AGENT_JID}`);
      await terminal.waitFor(/Form title: Read current values[\s\S]*\[field1\] Nodes:/, "the read form");
      await terminal.type("/field1 add boiler");
      await terminal.waitFor(/Field updated\.\.\./, "the choice of boiler");
      await terminal.type("/form submit");
      await terminal.waitFor(/Form title: Current values\s*\n.*\n.*boiler temperature \(°C\): -?\d+\.\d+/, "the values form");
    });

    it("/cmd exec status shows the agent's health", async () => {
      await terminal.type(`/cmd exec status ${AGENT_JID}`);
      const screen = await terminal.waitFor(/Form title: Agent status[\s\S]*Connection: online[\s\S]*Sensors ok: \d+/, "the status form");
      assert.match(screen, /Unsent readings: \d+/);
    });

    it("/quit ends Profanity", async () => {
      await terminal.type("/quit");
      const deadline = Date.now() + 10_000;
      while ((await terminal.running()) && Date.now() < deadline) await sleep(POLL_MS);
      assert.equal(await terminal.running(), false, "Profanity still runs 10 s after /quit");
    });
  });
}
