// The operator console (console/, built into dist/console/) in a real browser: Debian's Chromium, headless,
// loads the page from a private Prosody's own HTTP module (mod_http_files), finds the WebSocket endpoint
// through the host-meta beside it (XEP-0156), logs in over XMPP-over-WebSocket (mod_websocket) and shows two
// simulated gateways. Screenshots stay in test-results/console/.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import type { Browser, Locator, Page } from "playwright-core";
import { AgentProcess, writeAgentConfig } from "../support/agent.ts";
import { launchTrusting, launchWithHome } from "../support/browser.ts";
import { copyConsole, writeHostMeta } from "../support/console-site.ts";
import { startServer, type XmppTestServer } from "../support/servers.ts";

const WAIT_MS = 30_000;

/** gw2's rule holds from the first reading: its alert is active all along. */
const ALWAYS_FIRING = "alerts:\n  - { id: greenhouse-warm, sensor: greenhouse, field: temperature, above: -40, notify: [{ role: read }] }";

const GATEWAYS = {
  gw1: `sensors:
  - { id: boiler, driver: bme280, i2c: { bus: 1, address: 0x76 }, interval: 300ms }
actuators:
  - { id: pump, driver: gpio-output, gpio: { pin: 22, activeLow: true }, safeState: off }
  - { id: lamp, driver: pca9685, i2c: { bus: 1, address: 0x40 }, channel: 0, frequency: 1000 }`,
  gw2: `sensors:
  - { id: greenhouse, driver: sht3x, i2c: { bus: 1, address: 0x44 }, interval: 300ms }`,
};

/** The value cell of a field, e.g. `boiler/temperature`, on a gateway's card. */
function cell(page: Page, gateway: string, field: string) {
  return page.locator(`[data-gateway="${gateway}"] [data-field="${field}"]`);
}

async function logIn(page: Page, url: string, jid: string, password: string, remember = false, rememberLogin = false): Promise<void> {
  await page.goto(url);
  await page.fill("input[name=jid]", jid);
  await page.fill("input[name=password]", password);
  await page.setChecked("input[name=remember]", remember);
  if (remember) await page.setChecked("input[name=rememberLogin]", rememberLogin);
  await page.click("form#login button[type=submit]");
  await page.locator("#link-status[data-state=online]").waitFor({ timeout: WAIT_MS });
}

async function addGateways(page: Page, ...jids: string[]): Promise<void> {
  for (const jid of jids) {
    await page.fill("#add-gateway input[name=jid]", jid);
    await page.click("#add-gateway button");
  }
}

/** Opens the editor of a numeric or text parameter, e.g. `lamp/percent`, and sends `value` as typed. */
async function setParameter(page: Page, gateway: string, key: string, value: string): Promise<void> {
  const card = page.locator(`[data-gateway="${gateway}"]`);
  if ((await card.locator(`[data-editor="${key}"]`).count()) === 0) await card.locator(`[data-control="${key}"]`).click();
  await card.locator(`[data-set-input="${key}"]`).fill(value);
  await card.locator(`[data-set="${key}"]`).click();
}

/** Waits until the agent's refusal of `key` is shown and matches `text`. */
async function refusalShown(page: Page, gateway: string, key: string, text: RegExp): Promise<void> {
  await page.locator(`[data-gateway="${gateway}"] [data-refused="${key}"]`, { hasText: text }).waitFor({ timeout: WAIT_MS });
}

/** Everything the page keeps in the browser's storage, as text. */
async function storedText(page: Page): Promise<string> {
  return String(await page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage), document.cookie])"));
}

/** Waits until the number in `attribute` of the element is above `than`; resolves with it. */
async function attributeAbove(locator: Locator, attribute: string, than: number): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = Number((await locator.getAttribute(attribute, { timeout: WAIT_MS })) || "0");
    if (value > than) return value;
    if (Date.now() > deadline) throw new Error(`${attribute} stayed at ${value}, not above ${than}, for ${WAIT_MS} ms`);
    await sleep(100);
  }
}

/** Waits until the field's live item id (the pubsub item, i.e. the reading's sequence number) is above `than`. */
function liveItemAbove(page: Page, gateway: string, field: string, than: number): Promise<number> {
  return attributeAbove(cell(page, gateway, field), "data-item", than);
}

/** Where the screenshots stay after the run, for a person to look at (git ignores it); each run replaces them. */
const SHOTS = join(dirname(fileURLToPath(import.meta.url)), "../../test-results/console");

describe("operator console in a browser", () => {
  const dir = mkdtempSync(join(tmpdir(), "xedge-console-"));
  const webRoot = join(dir, "www");
  let server: XmppTestServer;
  /**
   * ejabberd with its WebSocket (ejabberd_http_ws) and one gateway of its own, gw3: started in the background by
   * `before` (it takes longer than Prosody) and awaited by the one test that uses it.
   */
  let ejabberd: XmppTestServer | undefined;
  let ejabberdReady: Promise<XmppTestServer>;
  const agents: AgentProcess[] = [];
  /** When the Prosody gateways started: their history spans the minutes since. */
  let gatewaysStarted = 0;
  let browser: Browser;
  let url: string;
  let websocket: string;

  before(async () => {
    copyConsole(webRoot);
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });
    ejabberdReady = (async () => {
      ejabberd = await startServer("ejabberd", { accounts: { gw3: "gw3-secret", ops: "ops-secret" }, websocket: true, plainPasswords: true });
      const config = writeAgentConfig(ejabberd, {
        user: "gw3",
        password: "gw3-secret",
        nodePrefix: "xedge/gw3",
        devices: GATEWAYS.gw1.split("\nactuators:")[0],
        logLevel: "info",
        operators: [{ jid: "ops@localhost", role: "control" }],
      });
      const agent = AgentProcess.start(config.file);
      agents.push(agent);
      await agent.waitForMessage("online", WAIT_MS);
      return ejabberd;
    })();
    // Settled here too, so that a failed start is reported by its test, not as an unhandled rejection.
    ejabberdReady.catch(() => undefined);
    server = await startServer("prosody", {
      accounts: { gw1: "gw1-secret", gw2: "gw2-secret", ops: "ops-secret", viewer: "viewer-secret" },
      pubsubAdmins: ["gw1@localhost", "gw2@localhost"],
      websocket: true,
      httpFiles: webRoot,
    });
    url = `https://localhost:${server.httpsPort}/`;
    websocket = writeHostMeta(webRoot, server.httpsPort);
    for (const [user, devices] of Object.entries(GATEWAYS)) {
      const config = writeAgentConfig(server, {
        user,
        password: `${user}-secret`,
        // gw2 publishes to its own PEP service under a prefix of its own: the console follows what the agent
        // names in disco#items.
        nodePrefix: user === "gw2" ? "site-b/greenhouses" : `xedge/${user}`,
        ...(user === "gw2" ? { pubsubService: null } : {}),
        devices,
        extra: user === "gw2" ? ALWAYS_FIRING : "",
        logLevel: "info",
        operators: [
          { jid: "ops@localhost", role: "control" },
          { jid: "viewer@localhost", role: "read" },
        ],
      });
      gatewaysStarted ||= Date.now();
      agents.push(AgentProcess.start(config.file));
    }
    await Promise.all(agents.map((agent) => agent.waitForMessage("online", WAIT_MS)));
    browser = await launchTrusting([server.caFile], join(dir, "home"));
  });

  after(async () => {
    await browser?.close();
    await Promise.all(agents.map((agent) => agent.stop()));
    await ejabberdReady?.catch(() => undefined);
    await Promise.all([server?.stop(), ejabberd?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("is refused by a browser that does not trust the run's CA: certificate errors are not ignored", async () => {
    const stranger = await launchWithHome(join(dir, "home-without-ca"));
    try {
      const page = await stranger.newPage();
      await assert.rejects(page.goto(url), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await stranger.close();
    }
  });

  it("a control operator logs in, sees both gateways' values move, opens a chart, switches the relay", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    // What the page itself gets wrong: uncaught errors, and anything its Content-Security-Policy blocks.
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error" && /Content.Security.Policy/i.test(message.text())) pageErrors.push(message.text());
    });
    // The login on the wire: SCRAM (WebCrypto) where xmpp.js's browser build alone would send PLAIN.
    const auth: string[] = [];
    page.on("websocket", (socket) => socket.on("framesent", ({ payload }) => auth.push(...(String(payload).match(/<auth [^>]*>/g) ?? []))));
    await logIn(page, url, "ops@localhost", "ops-secret");
    assert.deepEqual(
      auth.map((element) => /mechanism=["']([^"']+)/.exec(element)?.[1]),
      ["SCRAM-SHA-1"],
    );
    assert.equal(await page.locator("#link-status").textContent(), "online as ops@localhost (SCRAM-SHA-1)");
    assert.equal(await page.inputValue("input[name=service]"), websocket, "the URL found through host-meta");
    assert.equal(await storedText(page), '[[],[],""]', "nothing stored unless the operator asks");
    await addGateways(page, "gw1@localhost", "gw2@localhost");

    // Current values from the readout, then live ones from pubsub, on both gateways.
    const first = await liveItemAbove(page, "gw1@localhost", "boiler/temperature", 0);
    await liveItemAbove(page, "gw1@localhost", "boiler/temperature", first);
    await liveItemAbove(page, "gw2@localhost", "greenhouse/humidity", 0);
    assert.match((await cell(page, "gw1@localhost", "boiler/temperature").textContent()) ?? "", /^-?\d+(\.\d+)? °C$/);
    assert.match((await page.locator('[data-gateway="gw1@localhost"] .health').textContent()) ?? "", /sensor/, "the health line from presence");
    // gw2's active alert, from the health line its presence leads with; the gateway shows away.
    const alert = page.locator('[data-gateway="gw2@localhost"] .active-alert');
    await alert.waitFor({ timeout: WAIT_MS });
    assert.match((await alert.textContent()) ?? "", /^greenhouse temperature above -40/);
    assert.equal(await page.locator('[data-gateway="gw2@localhost"] h2 .dot').getAttribute("class"), "dot away");
    assert.equal(await page.locator('[data-gateway="gw1@localhost"] .active-alert').count(), 0);

    // The chart: the stored readings, then extended by live ones.
    await page.click('[data-gateway="gw1@localhost"] [data-chart="boiler/temperature"]');
    const chart = page.locator('[data-gateway="gw1@localhost"] [data-chart-of="boiler/temperature"]');
    await chart.locator("canvas").waitFor({ timeout: WAIT_MS });
    const stored = Number(await chart.getAttribute("data-history"));
    assert.ok(stored >= 2, `history readout gave ${stored} points`);
    await attributeAbove(chart, "data-points", stored);
    // A chart per field: a second one opens beside the first.
    await page.click('[data-gateway="gw1@localhost"] [data-chart="boiler/humidity"]');
    await page.locator('[data-gateway="gw1@localhost"] [data-chart-of="boiler/humidity"][data-range="1 h"] canvas').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('[data-gateway="gw1@localhost"] [data-chart-of] canvas').count(), 2);
    // Another range reads the history again: over 24 h the agent's averages per minute, one per minute begun since
    // the gateway started (one or two in an unloaded run).
    await chart.locator("select").selectOption("24 h");
    await page.locator('[data-gateway="gw1@localhost"] [data-chart-of="boiler/temperature"][data-range="24 h"]').waitFor({ timeout: WAIT_MS });
    const perMinute = Number(await chart.getAttribute("data-history"));
    const minutesBegun = Math.floor((Date.now() - gatewaysStarted) / 60_000) + 2;
    assert.ok(perMinute >= 1 && perMinute <= minutesBegun && perMinute < stored, `24 h gave ${perMinute} averages per minute (raw: ${stored}, minutes begun: ≤ ${minutesBegun})`);
    // Live readings go into their minute's average, re-read from the agent, not drawn as raw points beside them.
    await attributeAbove(chart, "data-tail-reads", 0);
    const points = Number(await chart.getAttribute("data-points"));
    const minutesNow = Math.floor((Date.now() - gatewaysStarted) / 60_000) + 2;
    assert.ok(points >= perMinute && points <= minutesNow, `${points} points after live readings: one per minute begun (≤ ${minutesNow})`);

    // The relay: switched through XEP-0325, the readout afterwards shows the new state.
    const pump = cell(page, "gw1@localhost", "pump/state");
    assert.equal(await pump.getAttribute("data-value"), "false");
    await page.click('[data-gateway="gw1@localhost"] [data-control="pump/state"]');
    await page.locator('[data-gateway="gw1@localhost"] [data-field="pump/state"][data-value=true]').waitFor({ timeout: WAIT_MS });

    // A numeric parameter (the lamp's PWM in percent), set as typed; what the agent does not take is its error.
    await setParameter(page, "gw1@localhost", "lamp/percent", "25");
    await page.locator('[data-gateway="gw1@localhost"] [data-field="lamp/percent"][data-value="25"]').waitFor({ timeout: WAIT_MS });
    assert.equal(await cell(page, "gw1@localhost", "lamp/duty").getAttribute("data-value"), "1024", "the same output read as a duty");
    await page.screenshot({ path: join(SHOTS, "console.png"), fullPage: true });
    await setParameter(page, "gw1@localhost", "lamp/percent", "150");
    await refusalShown(page, "gw1@localhost", "lamp/percent", /^failed: bad-request: .*150 is outside 0\.\.100 %/);
    await setParameter(page, "gw1@localhost", "lamp/percent", "bright");
    await refusalShown(page, "gw1@localhost", "lamp/percent", /^failed: bad-request: .*expected a finite number, got "bright"/);
    assert.equal(await cell(page, "gw1@localhost", "lamp/percent").getAttribute("data-value"), "25", "refused values leave the lamp as it was");
    await page.screenshot({ path: join(SHOTS, "console-value-refused.png"), fullPage: true });
    assert.deepEqual(pageErrors, []);
    await page.close();
  });

  it("a control pressed or focused while live values redraw its card still acts", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await logIn(page, url, "ops@localhost", "ops-secret");
    await addGateways(page, "gw1@localhost");
    const setLamp = page.locator('[data-gateway="gw1@localhost"] [data-control="lamp/percent"]');
    const editor = page.locator('[data-gateway="gw1@localhost"] [data-editor="lamp/percent"]');
    /** Waits until the boiler's next reading has been drawn on the card. */
    const redrawn = async () => liveItemAbove(page, "gw1@localhost", "boiler/temperature", await liveItemAbove(page, "gw1@localhost", "boiler/temperature", 0));

    // The button held down while a reading comes in (every 300 ms here): the release is still its click.
    await setLamp.hover();
    await page.mouse.down();
    await redrawn();
    await page.mouse.up();
    await editor.waitFor({ timeout: WAIT_MS });
    await editor.locator("button", { hasText: "Close" }).click();
    assert.equal(await editor.count(), 0);

    // Reached with the keyboard: the focus stays on the button across readings, and Enter opens the editor.
    await setLamp.focus();
    await redrawn();
    assert.equal(await page.evaluate("document.activeElement.getAttribute('data-control')"), "lamp/percent", "the focus kept");
    await page.keyboard.press("Enter");
    await editor.waitFor({ timeout: WAIT_MS });
    await page.close();
  });

  it("a read operator sees the values, and the relay's switch is refused", async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
    const page = await context.newPage();
    await page.goto(url);
    assert.equal(await page.isChecked("input[name=rememberLogin]"), false, "logging in without the password is off by default");
    // A wrong password is refused once, with the server's reason: no reconnect loop behind the form.
    await page.fill("input[name=jid]", "viewer@localhost");
    await page.fill("input[name=password]", "not-the-password");
    await page.click("form#login button[type=submit]");
    await page.locator("#login-error", { hasText: /^Login failed: .*not-authorized/ }).waitFor({ timeout: WAIT_MS });
    await sleep(500);
    assert.equal(await page.locator("#link-status[data-retry]").count(), 0, "no attempt scheduled after a refused login");
    await logIn(page, url, "viewer@localhost", "viewer-secret", true);
    const stored = await storedText(page);
    assert.ok(stored.includes("viewer@localhost") && stored.includes(websocket), `asked to remember, the JID and URL are kept: ${stored}`);
    assert.ok(!stored.includes("viewer-secret"), "never the password");
    assert.ok(!stored.includes("clientKey"), `no keys unless asked: ${stored}`);
    await addGateways(page, "gw1@localhost");
    await liveItemAbove(page, "gw1@localhost", "boiler/temperature", 0);
    const before = await cell(page, "gw1@localhost", "pump/state").getAttribute("data-value");
    await page.click('[data-gateway="gw1@localhost"] [data-control="pump/state"]');
    const refusal = page.locator('[data-gateway="gw1@localhost"] [data-refused="pump/state"]');
    await refusal.waitFor({ timeout: WAIT_MS });
    assert.match((await refusal.textContent()) ?? "", /refused: forbidden/);
    assert.equal(await cell(page, "gw1@localhost", "pump/state").getAttribute("data-value"), before, "the relay stays as it was");
    const lamp = await cell(page, "gw1@localhost", "lamp/percent").getAttribute("data-value");
    await setParameter(page, "gw1@localhost", "lamp/percent", "60");
    await refusalShown(page, "gw1@localhost", "lamp/percent", /^refused: forbidden/);
    assert.equal(await cell(page, "gw1@localhost", "lamp/percent").getAttribute("data-value"), lamp, "the lamp too");
    await page.screenshot({ path: join(SHOTS, "console-phone-read-operator.png"), fullPage: true });

    // Remove gateway: the card goes, and so does the roster item (the next login lists gw1 alone).
    await addGateways(page, "gw2@localhost");
    await liveItemAbove(page, "gw2@localhost", "greenhouse/humidity", 0);
    page.once("dialog", (dialog) => void dialog.accept());
    await page.click('[data-gateway="gw2@localhost"] [data-remove="gw2@localhost"]');
    await page.locator('[data-gateway="gw2@localhost"]').waitFor({ state: "detached", timeout: WAIT_MS });
    // Asked for, the next login keeps the SCRAM keys (not the password), and the one after needs no password.
    await logIn(page, url, "viewer@localhost", "viewer-secret", true, true);
    await page.locator('[data-gateway="gw1@localhost"]').waitFor({ timeout: WAIT_MS });
    const listed = await Promise.all((await page.locator("[data-gateway]").all()).map((card) => card.getAttribute("data-gateway")));
    assert.deepEqual(listed, ["gw1@localhost"]);
    const withKeys = await storedText(page);
    assert.ok(withKeys.includes("clientKey") && !withKeys.includes("viewer-secret"), `the keys, never the password: ${withKeys}`);
    await page.goto(url);
    assert.equal(await page.inputValue("input[name=password]"), "");
    await page.click("form#login button[type=submit]");
    await page.locator("#link-status[data-state=online]").waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator("#link-status").textContent(), "online as viewer@localhost (SCRAM-SHA-1)");
    await context.close();
  });

  it("logs in over ejabberd's WebSocket (ejabberd_http_ws) with SCRAM, and the values move", async (t) => {
    const started = await ejabberdReady;
    // A browser that trusts ejabberd's CA too: the page comes from Prosody, the URL typed names ejabberd's endpoint.
    const both = await launchTrusting([server.caFile, started.caFile], join(dir, "home-ejabberd"));
    t.after(() => both.close());
    const page = await both.newPage({ viewport: { width: 1100, height: 800 } });
    await page.goto(url);
    // The URL first: the page looks for one (host-meta, which names Prosody's) only while the field is empty.
    await page.fill("input[name=service]", `wss://localhost:${started.httpsPort}/xmpp-websocket`);
    await page.fill("input[name=jid]", "ops@localhost");
    await page.fill("input[name=password]", "ops-secret");
    await page.click("form#login button[type=submit]");
    await page.locator("#link-status[data-state=online]").waitFor({ timeout: WAIT_MS });
    // ejabberd keeping plain passwords offers SCRAM-SHA-256 too, which the console prefers.
    assert.equal(await page.locator("#link-status").textContent(), "online as ops@localhost (SCRAM-SHA-256)");
    await addGateways(page, "gw3@localhost");
    const first = await liveItemAbove(page, "gw3@localhost", "boiler/temperature", 0);
    await liveItemAbove(page, "gw3@localhost", "boiler/temperature", first);
  });

  it("comes back by itself after the server restarts, and the values move again", async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    await logIn(page, url, "ops@localhost", "ops-secret");
    // The roster kept the gateways added in the first test.
    const before = await liveItemAbove(page, "gw1@localhost", "boiler/temperature", 0);
    await server.restart();
    await page.locator("#link-status:not([data-state=online])").waitFor({ timeout: WAIT_MS });
    // The next attempt is shown while the server is away; then the line says online again.
    await page.locator("#link-status[data-retry]", { hasText: /^connection lost; attempt \d+ in \d+ s$/ }).waitFor({ timeout: WAIT_MS });
    await page.locator("#link-status[data-state=online]").waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator("#link-status").getAttribute("data-retry"), null);
    const after = await liveItemAbove(page, "gw1@localhost", "boiler/temperature", before);
    await liveItemAbove(page, "gw1@localhost", "boiler/temperature", after);
    await page.screenshot({ path: join(SHOTS, "console-after-restart.png"), fullPage: true });
    await page.close();
  });
});
