// The console page: the login form, then one card per gateway (health, alerts, sensors with live values,
// actuators with their controls) and a chart per field on demand. Everything shown comes from ConsoleSession;
// nothing is stored in the browser but the JID and URL, and only when the operator ticks "remember"; the SCRAM
// keys (never the password) only when they tick the second box too.
import morphdom from "morphdom";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { tailReadStart, withTail } from "./chart-tail.ts";
import { discoverWebsocket } from "./discovery.ts";
import { Link } from "./link.ts";
import { isScramKeys, type ScramKeys } from "./scram.ts";
import { ConsoleSession, type FieldState, type GatewayState } from "./session.ts";

const REMEMBERED = "xedge-console";
const HOUR_MS = 60 * 60 * 1000;
/**
 * The ranges a chart offers. The last hour is every stored reading; longer ones are the agent's averages per
 * minute or hour (`periodMs`, each stamped with its UTC start), because it sends at most 5,000 raw readings per node.
 */
const CHART_RANGES = [
  { label: "1 h", ms: HOUR_MS, period: undefined, periodMs: undefined },
  { label: "24 h", ms: 24 * HOUR_MS, period: "historicalMinute", periodMs: 60_000 },
  { label: "7 d", ms: 7 * 24 * HOUR_MS, period: "historicalHour", periodMs: HOUR_MS },
] as const;
type ChartRange = (typeof CHART_RANGES)[number];
/** A bound on a raw chart's points in the browser, whatever the sensor's rate: an hour at a little over 3 Hz. */
const CHART_POINTS_KEPT = 12_000;
/** An averaged chart re-reads its newest period from the agent at most this often while live readings come. */
const TAIL_READ_EVERY_MS = 5_000;

/** An element with attributes and children; text is always set as text, never parsed as HTML. */
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

function byId<T extends HTMLElement>(id: string, type: new () => T): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} missing from the page`);
  return element;
}

function formatValue(field: FieldState): string {
  if (typeof field.value === "boolean") return field.value ? "on" : "off";
  return `${field.text}${field.unit === "" ? "" : ` ${field.unit}`}`;
}

interface OpenChart {
  gateway: string;
  nodeId: string;
  field: string;
  element: HTMLElement;
  /** Why the agent could not give the range's history, if it could not. */
  failureLine: HTMLElement;
  plot: uPlot | undefined;
  range: ChartRange;
  /** Counts the history reads, so that the answer for a range left meanwhile is dropped. */
  loads: number;
  times: number[];
  values: number[];
  /** An averaged chart's re-read of its newest period: when the last one started, and one waiting to run. */
  tailReadAt: number;
  tailRead: ReturnType<typeof setTimeout> | undefined;
  tailReads: number;
}

/** The y range of a chart: the values with a tenth of their spread (at least a little) above and below. */
function valueRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null) return [0, 1];
  const pad = Math.max((max - min) * 0.1, Math.abs(max) * 0.001, 0.01);
  return [min - pad, max + pad];
}

/** The node and field a card's `node/field` key names. */
function fieldAt(gateway: GatewayState, key: string): [string, FieldState] | undefined {
  for (const [nodeId, fields] of gateway.nodes) {
    for (const field of fields.values()) if (`${nodeId}/${field.name}` === key) return [nodeId, field];
  }
  return undefined;
}

/** Charts are keyed by gateway and field: one per field, as many as the operator opens. */
function chartKey(gateway: string, nodeId: string, field: string): string {
  return `${gateway} ${nodeId}/${field}`;
}

class ConsoleView {
  private readonly cards = new Map<string, { card: HTMLElement; body: HTMLElement; editorSlot: HTMLElement; chartSlot: HTMLElement }>();
  private readonly dirty = new Set<string>();
  private listDirty = false;
  private frame = 0;
  private readonly charts = new Map<string, OpenChart>();

  constructor(
    private readonly session: ConsoleSession,
    private readonly list: HTMLElement,
  ) {
    session.onLive((gateway, reading) => {
      for (const field of reading.fields) {
        const chart = this.charts.get(chartKey(gateway.jid, reading.nodeId, field.name));
        if (chart === undefined || typeof field.value !== "number") continue;
        // An average per period changes with the reading, and only the agent's store knows the period's others.
        if (chart.range.periodMs !== undefined) {
          this.readTail(gateway, chart);
          continue;
        }
        chart.times.push(reading.time / 1000);
        chart.values.push(field.value);
        if (chart.times.length > CHART_POINTS_KEPT) {
          chart.times.shift();
          chart.values.shift();
        }
        this.showPoints(chart);
      }
    });
  }

  /** Redraws what changed at the next frame (many stanzas can arrive between two frames). */
  changed(gateway?: GatewayState): void {
    if (gateway === undefined) this.listDirty = true;
    else this.dirty.add(gateway.jid);
    if (this.frame === 0) this.frame = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.frame = 0;
    const redraw = this.listDirty ? [...this.session.gateways.keys()] : [...this.dirty];
    if (this.listDirty) for (const jid of this.cards.keys()) if (!this.session.gateways.has(jid)) this.dropCard(jid);
    this.listDirty = false;
    this.dirty.clear();
    for (const jid of redraw) {
      const gateway = this.session.gateways.get(jid);
      if (gateway !== undefined) this.drawCard(gateway);
    }
  }

  /** A gateway taken off the list: its card and charts go. */
  private dropCard(jid: string): void {
    for (const [key, chart] of this.charts) if (chart.gateway === jid) this.closeChart(key);
    this.cards.get(jid)?.card.remove();
    this.cards.delete(jid);
  }

  private drawCard(gateway: GatewayState): void {
    let slot = this.cards.get(gateway.jid);
    if (slot === undefined) {
      const body = h("div");
      // The body is patched in place with every live value (a few times a second), so that the button under the
      // operator's pointer or keyboard focus stays the same element: its clicks are handled here, on the body, by
      // what the button names. The editor and the charts sit outside it: what the operator types stays as it is.
      body.addEventListener("click", (event) => this.onCardClick(gateway.jid, event));
      const editorSlot = h("div");
      const chartSlot = h("div");
      const card = h("article", { class: "gateway", "data-gateway": gateway.jid }, body, editorSlot, chartSlot);
      // Cards in the order of their JIDs, whatever order the roster and presence came in.
      const next = [...this.cards.keys()].sort().find((jid) => jid > gateway.jid);
      this.list.insertBefore(card, next === undefined ? null : (this.cards.get(next)?.card ?? null));
      slot = { card, body, editorSlot, chartSlot };
      this.cards.set(gateway.jid, slot);
    }
    // A contact that is not an xedge agent (a colleague in the roster) has no card content.
    slot.card.hidden = gateway.isAgent === false;
    const online = gateway.fullJid !== undefined;
    const dotClass = !online ? "dot" : gateway.show === "" ? "dot ok" : `dot ${gateway.show}`;
    const remove = h("button", { type: "button", class: "secondary remove", "data-remove": gateway.jid, title: "Remove from the list (ends the subscriptions)" }, "Remove");
    const parts: HTMLElement[] = [
      h("h2", {}, h("span", { class: dotClass, title: online ? gateway.show || "online" : "offline" }), gateway.jid, remove),
      h("div", { class: "health" }, online ? gateway.health : "offline"),
    ];
    if (gateway.alerts.length > 0 || gateway.alertMessages.length > 0) {
      parts.push(
        h(
          "div",
          { class: "alerts" },
          h("strong", {}, `Active alerts: ${gateway.alerts.length}`),
          h("ul", {}, ...gateway.alerts.map((alert) => h("li", { class: "active-alert" }, alert))),
          ...gateway.alertMessages.slice(0, 3).map((message) => h("div", { class: "alert-message" }, message)),
        ),
      );
    }
    const rows: HTMLElement[] = [];
    for (const [nodeId, fields] of [...gateway.nodes].sort(([a], [b]) => a.localeCompare(b))) {
      let first = true;
      for (const field of fields.values()) {
        rows.push(...this.fieldRows(gateway, nodeId, field, first));
        first = false;
      }
      const failure = gateway.failures.get(nodeId);
      if (failure !== undefined) rows.push(h("tr", { "data-row": `failure ${nodeId}` }, h("td", { class: "node" }, nodeId), h("td", { class: "error", colspan: "3" }, failure)));
    }
    parts.push(h("table", {}, h("tbody", {}, ...rows)));
    // Rows are matched by what they show, not by position: a row that appears moves no button to another field.
    morphdom(slot.body, h("div", {}, ...parts), { childrenOnly: true, getNodeKey: (node) => (node instanceof Element ? (node.getAttribute("data-row") ?? undefined) : undefined) });
  }

  /** A click on a card's button: what it does follows the gateway's state now, not when the button was drawn. */
  private onCardClick(jid: string, event: MouseEvent): void {
    const button = event.target instanceof Element ? event.target.closest("button") : null;
    const gateway = this.session.gateways.get(jid);
    if (button === null || gateway === undefined) return;
    if (button.hasAttribute("data-remove")) {
      if (!confirm(`Remove ${jid} from your gateways? Its presence and live values are no longer sent to you.`)) return;
      this.session.removeGateway(jid).catch((error: unknown) => console.warn(`console: removing ${jid}:`, error));
      return;
    }
    const key = button.getAttribute("data-control") ?? button.getAttribute("data-chart");
    const found = key === null ? undefined : fieldAt(gateway, key);
    if (found === undefined) return;
    const [nodeId, field] = found;
    if (button.hasAttribute("data-chart")) this.openChart(gateway, nodeId, field.name);
    else if (typeof field.value === "boolean") void this.session.set(gateway, nodeId, field, String(!field.value));
    else this.openEditor(gateway, nodeId, field);
  }

  /** The field's row, and under it, across the table, why its last control request was refused, if it was. */
  private fieldRows(gateway: GatewayState, nodeId: string, field: FieldState, firstOfNode: boolean): HTMLElement[] {
    const key = `${nodeId}/${field.name}`;
    const value = h("td", { class: "value", "data-field": key, "data-item": field.itemId ?? "", "data-value": String(field.value) }, formatValue(field));
    const action = h("td");
    if (field.writable) {
      if (typeof field.value === "boolean") {
        const next = !field.value;
        action.append(h("button", { type: "button", "data-control": key }, next ? "Switch on" : "Switch off"));
      } else {
        action.append(h("button", { type: "button", "data-control": key }, "Set…"));
      }
    } else if (typeof field.value === "number") {
      action.append(h("button", { type: "button", class: "secondary", "data-chart": key }, "Chart"));
    }
    const row = h("tr", { "data-row": `field ${key}` }, h("td", { class: "node" }, firstOfNode ? nodeId : ""), h("td", {}, field.name), value, action);
    const error = field.writable ? gateway.controlErrors.get(key) : undefined;
    if (error === undefined) return [row];
    return [row, h("tr", { class: "refusal", "data-row": `refusal ${key}` }, h("td"), h("td", { class: "refused", colspan: "3", "data-refused": key }, error))];
  }

  /** The value to set a numeric or text parameter to, sent as typed: the agent says what it does not accept. */
  private openEditor(gateway: GatewayState, nodeId: string, field: FieldState): void {
    const slot = this.cards.get(gateway.jid);
    if (slot === undefined) return;
    const key = `${nodeId}/${field.name}`;
    const input = h("input", { name: "value", "data-set-input": key, inputmode: typeof field.value === "number" ? "decimal" : "text", autocomplete: "off" });
    input.value = field.text;
    const cancel = h("button", { type: "button", class: "secondary" }, "Close");
    const label = `${nodeId} ${field.name}${field.unit === "" ? "" : ` (${field.unit})`}`;
    const form = h("form", { class: "editor", "data-editor": key }, h("label", {}, label, input), h("button", { type: "submit", "data-set": key }, "Set"), cancel);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      void this.session.set(gateway, nodeId, field, input.value.trim());
    });
    cancel.addEventListener("click", () => form.remove());
    slot.editorSlot.replaceChildren(form);
    input.focus();
  }

  /** A chart of the field: its history over the chosen range, extended by every live reading. */
  private openChart(gateway: GatewayState, nodeId: string, field: string): void {
    const key = chartKey(gateway.jid, nodeId, field);
    const slot = this.cards.get(gateway.jid);
    const open = this.charts.get(key);
    if (open !== undefined || slot === undefined) {
      open?.element.scrollIntoView({ block: "nearest" });
      return;
    }
    const close = h("button", { type: "button", class: "secondary" }, "Close");
    const select = h("select", { "data-range-choice": "", "aria-label": "range" }, ...CHART_RANGES.map((range) => h("option", { value: range.label }, range.label)));
    const failureLine = h("p", { class: "error" });
    const element = h("div", { class: "chart", "data-chart-of": `${nodeId}/${field}` }, h("h3", {}, `${nodeId} ${field}`, h("span", {}, select, close)), failureLine);
    slot.chartSlot.append(element);
    const chart: OpenChart = { gateway: gateway.jid, nodeId, field, element, failureLine, plot: undefined, range: CHART_RANGES[0], loads: 0, times: [], values: [], tailReadAt: 0, tailRead: undefined, tailReads: 0 };
    this.charts.set(key, chart);
    close.addEventListener("click", () => this.closeChart(key));
    select.addEventListener("change", () => {
      chart.range = CHART_RANGES.find((range) => range.label === select.value) ?? CHART_RANGES[0];
      void this.loadChart(gateway, chart);
    });
    void this.loadChart(gateway, chart);
  }

  private closeChart(key: string): void {
    const chart = this.charts.get(key);
    clearTimeout(chart?.tailRead);
    chart?.plot?.destroy();
    chart?.element.remove();
    this.charts.delete(key);
  }

  /** The chart's points drawn, those older than its range left out (the range slides with the time). */
  private showPoints(chart: OpenChart): void {
    const since = (Date.now() - chart.range.ms) / 1000;
    const old = chart.times.findIndex((time) => time >= since);
    if (old !== 0) {
      const cut = old === -1 ? chart.times.length : old;
      chart.times.splice(0, cut);
      chart.values.splice(0, cut);
    }
    chart.plot?.setData([chart.times, chart.values]);
    chart.element.dataset["points"] = String(chart.times.length);
  }

  /**
   * Re-reads an averaged chart's newest period (and any begun since) from the agent, at most every
   * TAIL_READ_EVERY_MS: the readings that came meanwhile are in the answer's averages.
   */
  private readTail(gateway: GatewayState, chart: OpenChart): void {
    const { periodMs } = chart.range;
    if (periodMs === undefined || chart.tailRead !== undefined) return;
    chart.tailRead = setTimeout(() => {
      chart.tailReadAt = Date.now();
      const load = chart.loads;
      const from = tailReadStart(chart.times.at(-1), periodMs, Date.now());
      void this.session
        .history(gateway, chart.nodeId, chart.field, new Date(from), chart.range.period)
        .then((tail) => {
          if (this.charts.get(chartKey(chart.gateway, chart.nodeId, chart.field)) !== chart || load !== chart.loads || tail.failure !== undefined) return;
          ({ times: chart.times, values: chart.values } = withTail(chart, from, tail));
          chart.element.dataset["tailReads"] = String(++chart.tailReads);
          this.showPoints(chart);
        })
        .catch((error: unknown) => console.warn(`console: re-reading ${chart.nodeId} ${chart.field}:`, error))
        .finally(() => {
          chart.tailRead = undefined;
        });
    }, Math.max(0, chart.tailReadAt + TAIL_READ_EVERY_MS - Date.now()));
  }

  /**
   * Reads the chart's range from the agent's store. On a raw chart the live readings that came meanwhile follow the
   * stored ones; an averaged one has them in its newest period's average (and re-reads it as more come).
   */
  private async loadChart(gateway: GatewayState, chart: OpenChart): Promise<void> {
    const load = ++chart.loads;
    clearTimeout(chart.tailRead);
    chart.tailRead = undefined;
    const { range } = chart;
    chart.element.dataset["loading"] = range.label;
    const history = await this.session
      .history(gateway, chart.nodeId, chart.field, new Date(Date.now() - range.ms), range.period)
      .catch((error: unknown) => ({ times: [], values: [], failure: error instanceof Error ? error.message : String(error) }));
    if (this.charts.get(chartKey(chart.gateway, chart.nodeId, chart.field)) !== chart || load !== chart.loads) return;
    const newestStored = history.times.at(-1) ?? 0;
    const live = range.periodMs !== undefined ? [] : chart.times.map((time, index) => [time, chart.values[index] ?? 0] as const).filter(([time]) => time > newestStored);
    chart.times = [...history.times, ...live.map(([time]) => time)];
    chart.values = [...history.values, ...live.map(([, value]) => value)];
    delete chart.element.dataset["loading"];
    chart.element.dataset["range"] = range.label;
    chart.element.dataset["history"] = String(history.times.length);
    chart.element.dataset["points"] = String(chart.times.length);
    chart.failureLine.textContent = history.failure ?? "";
    if (chart.plot !== undefined) {
      chart.plot.setData([chart.times, chart.values]);
      return;
    }
    const unit = gateway.nodes.get(chart.nodeId)?.get(chart.field)?.unit ?? "";
    const width = Math.max(240, chart.element.clientWidth);
    chart.plot = new uPlot(
      {
        width,
        height: 220,
        series: [{}, { label: `${chart.field}${unit === "" ? "" : ` (${unit})`}`, stroke: "#2c5ea8", width: 2 }],
        axes: [{}, { size: 60 }],
        // Around the values, not stretched to zero: uPlot's default reaches down to 0 for a nearly flat series.
        scales: { y: { range: (_plot, min, max) => valueRange(min, max) } },
      },
      [chart.times, chart.values],
      chart.element,
    );
  }
}

// ---------------------------------------------------------------- login

interface Remembered {
  jid?: string;
  service?: string;
  keys?: ScramKeys;
}

function remembered(): Remembered {
  try {
    const saved: unknown = JSON.parse(localStorage.getItem(REMEMBERED) ?? "{}");
    if (typeof saved !== "object" || saved === null) return {};
    const { jid, service, keys } = saved as Record<string, unknown>;
    return { ...(typeof jid === "string" ? { jid } : {}), ...(typeof service === "string" ? { service } : {}), ...(isScramKeys(keys) ? { keys } : {}) };
  } catch {
    return {};
  }
}

function main(): void {
  const form = byId("login", HTMLFormElement);
  const jidInput = form.elements.namedItem("jid") as HTMLInputElement;
  const serviceInput = form.elements.namedItem("service") as HTMLInputElement;
  const rememberInput = form.elements.namedItem("remember") as HTMLInputElement;
  const rememberLoginInput = form.elements.namedItem("rememberLogin") as HTMLInputElement;
  const passwordInput = form.elements.namedItem("password") as HTMLInputElement;
  const loginError = byId("login-error", HTMLElement);
  const status = byId("link-status", HTMLElement);
  const saved = remembered();
  if (saved.jid !== undefined) jidInput.value = saved.jid;
  if (saved.service !== undefined) serviceInput.value = saved.service;
  rememberInput.checked = saved.jid !== undefined;
  rememberLoginInput.checked = saved.keys !== undefined;
  rememberLoginInput.disabled = !rememberInput.checked;
  rememberInput.addEventListener("change", () => {
    rememberLoginInput.disabled = !rememberInput.checked;
    if (!rememberInput.checked) rememberLoginInput.checked = false;
  });
  if (saved.keys !== undefined) {
    passwordInput.required = false;
    passwordInput.placeholder = "remembered on this device; type it to log in anew";
  }

  const discover = async (): Promise<void> => {
    const domain = jidInput.value.split("@")[1]?.split("/")[0];
    if (domain === undefined || domain === "" || serviceInput.value !== "") return;
    const found = await discoverWebsocket(domain);
    if (found !== undefined && serviceInput.value === "") serviceInput.value = found;
  };
  jidInput.addEventListener("change", () => void discover());

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void (async () => {
      loginError.textContent = "";
      await discover();
      const service = serviceInput.value.trim();
      if (!service.startsWith("wss://")) {
        loginError.textContent = "No WebSocket URL: the server's host-meta names none; type its wss:// URL.";
        return;
      }
      if (!rememberInput.checked) localStorage.removeItem(REMEMBERED);
      // With no password typed, the remembered keys of this JID log in.
      const keys = passwordInput.value === "" && saved.jid === jidInput.value ? saved.keys : undefined;
      if (passwordInput.value === "" && keys === undefined) {
        loginError.textContent = `Type the password: nothing is remembered for ${jidInput.value} on this device.`;
        return;
      }
      const link = new Link({ service, jid: jidInput.value, password: passwordInput.value, ...(keys === undefined ? {} : { keys }) });
      // What the operator asked to keep, once the login has succeeded (the keys are then proven).
      let kept = false;
      link.onOnline(() => {
        if (kept || !rememberInput.checked) return;
        kept = true;
        const rememberKeys = rememberLoginInput.checked && link.keys !== undefined;
        localStorage.setItem(REMEMBERED, JSON.stringify({ jid: jidInput.value, service, ...(rememberKeys ? { keys: link.keys } : {}) }));
      });
      const list = byId("gateways", HTMLElement);
      const views: ConsoleView[] = [];
      const session = new ConsoleSession(link, (gateway) => views.forEach((view) => view.changed(gateway)));
      views.push(new ConsoleView(session, list));
      let countdown: ReturnType<typeof setInterval> | undefined;
      link.onStatus((state) => {
        clearInterval(countdown);
        delete status.dataset["retry"];
        status.textContent = state === "online" ? `online as ${link.bareJid} (${link.mechanism ?? "?"})` : state;
        status.dataset["state"] = state;
      });
      // While the connection is lost: when the next attempt comes, counted down.
      link.onRetry((inMs, attempt) => {
        const at = Date.now() + inMs;
        const show = (): void => {
          status.textContent = `connection lost; attempt ${attempt} in ${Math.max(0, Math.ceil((at - Date.now()) / 1000))} s`;
        };
        clearInterval(countdown);
        status.dataset["retry"] = String(attempt);
        show();
        countdown = setInterval(show, 1000);
      });
      link.onError((error) => console.warn("console: link:", error.message));
      try {
        await link.start();
      } catch (error) {
        await link.stop().catch(() => undefined);
        loginError.textContent = `Login failed: ${error instanceof Error ? error.message : String(error)}`;
        return;
      }
      passwordInput.value = "";
      form.hidden = true;
      byId("console", HTMLElement).hidden = false;
      const add = byId("add-gateway", HTMLFormElement);
      add.addEventListener("submit", (addEvent) => {
        addEvent.preventDefault();
        const input = add.elements.namedItem("jid") as HTMLInputElement;
        session.addGateway(input.value).then(
          () => (input.value = ""),
          (error: unknown) => (loginError.textContent = error instanceof Error ? error.message : String(error)),
        );
      });
    })();
  });
}

main();
