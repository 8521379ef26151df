// EV charging dashboard: plain ES module, no dependencies. All API data is written
// with textContent / setAttribute only, never parsed as HTML.
import { lineChart } from "./charts.js";

const $ = (id) => document.getElementById(id);

/** API base = directory of the page, always with a trailing slash ("/", "/api/"). */
export function apiBase(pathname) {
  let p = pathname || "/";
  if (!p.endsWith("/")) {
    const cut = p.lastIndexOf("/") + 1;
    p = p.slice(cut).includes(".") ? p.slice(0, cut) : p + "/";
  }
  return p;
}

const BASE = apiBase(location.pathname);
const params = new URLSearchParams(location.search);
// ?refresh=N (seconds) shortens the 30 s auto-refresh interval; used by the browser tests.
const REFRESH_S = Math.min(3600, Math.max(1, parseInt(params.get("refresh"), 10) || 30));
const RETRY_S = 5; // while the API is unreachable, retry this often whatever the toggle says
const POLL_S = Math.min(3, REFRESH_S); // selected session polling
const PAGE_SIZE = 20;
const AUTO_KEY = "evdash.autoRefresh";
const FLEET_KEY = "evdash.fleet:" + BASE;
const FLEET_MAX = 720;
// Deployed stages want the operator's API key on every data route: asked once, kept for the browser
// session (sessionStorage: gone when the tab closes), sent as x-api-key.
const API_KEY = "evdash.apiKey:" + BASE;
const DENIED = [401, 403];

const STATUSES = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
  "Finishing", "Reserved", "Unavailable", "Faulted"];
const statusClass = (s) => "st-" + (STATUSES.includes(s) ? s : "Unknown");

// ---------- formatting ----------
const pad = (n) => String(n).padStart(2, "0");
const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
const num = (v, digits = 0) =>
  Number(v).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
const isNum = (v) => typeof v === "number" && Number.isFinite(v);

function money(v, currency) {
  if (!isNum(v)) return "—";
  try {
    return v.toLocaleString(undefined, { style: "currency", currency: currency || "EUR" });
  } catch {
    return `${num(v, 2)} ${currency || ""}`.trim();
  }
}

function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

function duration(ms) {
  if (!(ms >= 0)) return "—";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${pad(m)} min`;
  return `${m} min ${pad(s % 60)} s`;
}

function shortDate(iso) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const d = new Date(t);
  const today = new Date();
  const time = hms(d);
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${time}`;
}

// ---------- DOM helper ----------
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// ---------- API ----------
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function storedKey() {
  try { return sessionStorage.getItem(API_KEY) || ""; } catch { return ""; }
}

async function api(path, method = "GET", body = undefined) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["Content-Type"] = "application/json";
  const key = storedKey();
  if (key) headers["x-api-key"] = key;
  let res;
  try {
    res = await fetch(BASE + path, {
      method,
      cache: "no-store",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "NetworkError", "the server could not be reached");
  }
  const text = await res.text().catch(() => "");
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    if (DENIED.includes(res.status)) askForKey(key);
    // API Gateway's own refusals say {"message"}, the app's errors {"Code", "Message"}.
    throw new ApiError(res.status, data?.Code || `HTTP ${res.status}`,
      data?.Message || data?.message || res.statusText || "request failed");
  }
  if (data === null || typeof data !== "object") throw new ApiError(res.status, "BadResponse", "the answer was not JSON");
  return data;
}

function qs(path, query) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

async function fetchAll(path, key, query, maxPages = 10) {
  const items = [];
  let token = null;
  for (let i = 0; i < maxPages; i++) {
    const data = await api(qs(path, { ...query, nextToken: token }));
    items.push(...(Array.isArray(data[key]) ? data[key] : []));
    token = data.nextToken;
    if (!token) break;
  }
  return items;
}

function askForKey(refusedKey) {
  state.needKey = true;
  $("key-form-text").textContent = refusedKey
    ? "The API refused this API key. Enter the operator's API key:"
    : "This API needs the operator's API key:";
  $("key-form").hidden = false;
}

function useKey(ev) {
  ev.preventDefault();
  const key = $("api-key").value.trim();
  if (!key) return;
  try { sessionStorage.setItem(API_KEY, key); } catch { /* storage disabled: asked again next time */ }
  $("api-key").value = "";
  $("key-form").hidden = true;
  state.needKey = false;
  refresh();
}

// ---------- state ----------
const state = {
  needKey: false,
  commands: {}, // chargePointId -> { text, cls, busy }: a command's note survives the grid's re-render
  stats: null,
  chargePoints: null,
  active: [], // all active sessions (for the fleet chart)
  sessions: null, // current table page
  filter: "",
  pageToken: null,
  pageNo: 1,
  nextToken: null,
  up: true,
  lastOk: null,
  selectedId: null,
  selected: null,
  samples: [], // [timeMs, energyKwh, powerKw|null]
};

// ---------- refresh / scheduling ----------
let inflight = null;
let queued = false;
let timer = null;

async function refresh() {
  if (inflight) { queued = true; return inflight; }
  inflight = doRefresh();
  try { await inflight; } finally { inflight = null; }
  if (queued) { queued = false; return refresh(); }
}

async function doRefresh() {
  try {
    const [stats, chargePoints, active, page] = await Promise.all([
      api("stats"),
      fetchAll("chargepoints", "chargePoints", { limit: 100 }),
      fetchAll("sessions", "sessions", { limit: 100, status: "Active" }, 5),
      api(qs("sessions", { limit: PAGE_SIZE, status: state.filter, nextToken: state.pageToken })).catch((e) => {
        if (e.status === 400 && state.pageToken) { state.pageToken = null; state.pageNo = 1; }
        throw e;
      }),
    ]);
    Object.assign(state, { stats, chargePoints, active, sessions: page.sessions || [], nextToken: page.nextToken || null });
    state.lastOk = new Date();
    setUp();
    renderStats();
    renderChargePoints();
    renderSessions();
    recordFleet();
    renderFleet();
    const sel = [...state.active, ...state.sessions].find((s) => s.sessionId === state.selectedId);
    if (sel) addSample(sel);
    const lu = $("last-updated");
    lu.textContent = `Last updated ${hms(state.lastOk)}`;
    lu.dataset.ts = String(state.lastOk.getTime());
  } catch (e) {
    setDown(e);
  }
  schedule();
}

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (state.needKey) return; // nothing to fetch until the operator gives the key
  if (!state.up) timer = setTimeout(refresh, RETRY_S * 1000);
  else if ($("auto-refresh").checked) timer = setTimeout(refresh, REFRESH_S * 1000);
}

function setUp() {
  state.up = true;
  $("api-banner").hidden = true;
  document.body.classList.remove("is-offline");
}

function setDown(err) {
  state.up = false;
  if (state.needKey) return; // the key form says what is wrong
  const why = err.status ? `The API answered ${err.status} (${err.code}): ${err.message}.` :
    `Cannot reach the API at ${location.origin}${BASE}.`;
  const since = state.lastOk ? ` Showing data from ${hms(state.lastOk)}.` : "";
  $("api-banner-text").textContent = `${why}${since} Retrying every ${RETRY_S} s…`;
  $("api-banner").hidden = false;
  if (state.lastOk) document.body.classList.add("is-offline");
  if (!state.lastOk) {
    $("last-updated").textContent = "Not updated yet";
    for (const c of document.querySelectorAll(".is-loading")) c.classList.remove("is-loading");
    if (!state.sessions) setTablePlaceholder("Sessions could not be loaded.");
    if (!state.chargePoints) {
      $("cp-grid").replaceChildren(h("p", { class: "empty", text: "Charge points could not be loaded." }));
      $("cp-grid").setAttribute("aria-busy", "false");
    }
  }
}

// ---------- stats ----------
function renderStats() {
  const s = state.stats;
  const set = (key, str) => {
    const node = $(`stat-${key}`);
    node.textContent = str;
    node.dataset.value = String(s[key]);
    node.classList.remove("is-loading");
  };
  for (const k of ["totalChargePoints", "availableChargePoints", "chargingChargePoints", "activeSessions",
    "completedSessions", "rejectedMessages"]) set(k, isNum(s[k]) ? num(s[k]) : "—");
  set("totalEnergyKwh", isNum(s.totalEnergyKwh) ? `${num(s.totalEnergyKwh, 1)} kWh` : "—");
  set("totalRevenue", money(s.totalRevenue, s.currency));
  $("stat-currency").textContent = s.currency ? `Currency: ${s.currency}` : "\u00a0";
  const inProgress = activeEnergy();
  $("stat-activeEnergy").textContent = `+ ${num(inProgress, 1)} kWh in active sessions`;
  $("stat-rejectedMessages").parentElement.classList.toggle("warn", s.rejectedMessages > 0);
}

const activeEnergy = () => state.active.reduce((a, s) => a + (isNum(s.currentEnergy) ? s.currentEnergy : 0), 0);

// ---------- charge points ----------
function renderLegend() {
  const counts = {};
  for (const cp of state.chargePoints || []) counts[cp.status] = (counts[cp.status] || 0) + 1;
  $("status-legend").replaceChildren(...STATUSES.map((st) =>
    h("li", { class: `legend-item ${statusClass(st)}`, title: `${counts[st] || 0} charge point(s) ${st}` },
      h("span", { class: "dot", "aria-hidden": "true" }), `${st} `, h("b", { text: counts[st] || 0 }))));
}

function renderChargePoints() {
  renderLegend();
  const grid = $("cp-grid");
  grid.setAttribute("aria-busy", "false");
  const cps = state.chargePoints;
  $("cp-count").textContent = cps.length ? `(${cps.length})` : "";
  if (!cps.length) {
    grid.replaceChildren(h("p", { class: "empty", "data-testid": "cp-empty",
      text: "No charge points yet: the simulator creates 3 on its first run." }));
    return;
  }
  const sorted = [...cps].sort((a, b) => String(a.chargePointId).localeCompare(String(b.chargePointId)));
  grid.replaceChildren(...sorted.map(cpCard));
}

function cpCard(cp) {
  const status = cp.status || "Unknown";
  const meta = h("dl", { class: "cp-meta" });
  const add = (label, value) => meta.append(h("div", {}, h("dt", { text: label }), h("dd", { text: value ?? "—" })));
  add("Model", cp.model);
  add("Vendor", cp.vendor);
  add("Connectors", cp.connectors);
  add("Max power", isNum(cp.maxPower) ? `${num(cp.maxPower, cp.maxPower % 1 ? 1 : 0)} kW` : null);

  const conns = Object.entries(cp.connectorStatus || {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  const chips = h("ul", { class: "chips", "aria-label": "Connectors" });
  if (!conns.length) chips.append(h("li", { class: "chip chip-none", text: "No connector status reported yet" }));
  for (const [id, c] of conns) {
    const cs = c?.status || "Unknown";
    const err = c?.errorCode && c.errorCode !== "NoError" ? c.errorCode : null;
    chips.append(h("li", {
      class: `chip ${statusClass(cs)}`, "data-testid": "connector-chip", "data-connector-id": id, "data-status": cs,
      title: `Connector ${id}: ${cs}${err ? ` (${err})` : ""}${c?.timestamp ? ` since ${c.timestamp}` : ""}`,
    }, h("span", { class: "dot", "aria-hidden": "true" }), `#${id} ${cs}`, err ? h("span", { class: "chip-err", text: ` ⚠ ${err}` }) : null));
  }

  const seen = cp.lastSeen
    ? h("time", { "data-testid": "cp-last-seen", datetime: cp.lastSeen, title: cp.lastSeen, "data-rel": cp.lastSeen, text: relTime(cp.lastSeen) })
    : h("span", { text: "never" });
  const online = typeof cp.online === "boolean"
    ? h("span", { class: `online ${cp.online ? "is-on" : "is-off"}`, text: cp.online ? "Online" : "Offline" }) : null;
  const reg = cp.registration && cp.registration !== "Accepted"
    ? h("span", { class: "reg", text: `Registration: ${cp.registration}` }) : null;

  return h("article", { class: `cp-card ${statusClass(status)}`, "data-testid": "cp-card", "data-cp-id": cp.chargePointId, "data-status": status },
    h("header", { class: "cp-head" },
      h("h3", { text: cp.chargePointId }),
      h("span", { class: `badge ${statusClass(status)}`, "data-testid": "cp-status" }, h("span", { class: "dot", "aria-hidden": "true" }), status)),
    h("p", { class: "cp-loc", text: cp.location || "Unknown location" }),
    meta, chips,
    h("footer", { class: "cp-foot" }, h("span", {}, "Last seen ", seen), online, reg,
      h("div", { class: "cp-actions", "data-testid": "cp-actions" }, ...commandButtons(cp))),
    commandNote(state.commands[cp.chargePointId]));
}

function commandNote(command) {
  return h("p", { class: `cp-command ${command?.cls || ""}`.trim(), "data-testid": "cp-command-status",
    "aria-live": "polite", hidden: !command, text: command?.text });
}

// ---------- remote commands (OCPP over WebSocket) ----------
const COMMAND_ID_TAG = "DASHBOARD";

function commandButtons(cp) {
  const title = cp.online ? null : "The charger is not connected over OCPP WebSocket";
  const busy = Boolean(state.commands[cp.chargePointId]?.busy);
  const button = (label, testid, run) => h("button", {
    type: "button", class: "btn btn-small", "data-testid": testid, disabled: !cp.online || busy, title,
    onclick: () => runCommand(cp, label, run),
  }, label);
  return [
    button("Start", "cp-start", () => ({ action: "RemoteStartTransaction",
      payload: { idTag: COMMAND_ID_TAG, connectorId: freeConnector(cp) } })),
    button("Stop", "cp-stop", async () => {
      const page = await api(qs("sessions", { chargePointId: cp.chargePointId, status: "Active", limit: 1 }));
      const active = (page.sessions || [])[0];
      if (!active) throw new ApiError(0, "NoSession", "no active session to stop");
      return { action: "RemoteStopTransaction", payload: { transactionId: active.transactionId } };
    }),
    button("Reset", "cp-reset", () => ({ action: "Reset", payload: { type: "Soft" } })),
  ];
}

function freeConnector(cp) {
  const free = Object.entries(cp.connectorStatus || {}).find(([id, c]) => id !== "0" && c?.status === "Available");
  return free ? Number(free[0]) : 1;
}

/** The card of a charge point as the grid shows it now: refreshes replace the cards. */
function currentCard(id) {
  return [...$("cp-grid").children].find((card) => card.dataset.cpId === id) || null;
}

/** Record a command's state for its charge point and show it on the current card. */
function setCommand(cp, command) {
  const id = cp.chargePointId;
  state.commands[id] = command;
  const card = currentCard(id);
  if (!card) return;
  card.querySelector("[data-testid=cp-command-status]").replaceWith(commandNote(command));
  for (const b of card.querySelectorAll("[data-testid=cp-actions] button")) b.disabled = !cp.online || command.busy;
}

async function runCommand(cp, label, build) {
  const say = (text, cls, busy = false) => setCommand(cp, { text, cls, busy });
  say(`${label}: sending…`, "is-pending", true);
  try {
    const command = await build();
    const path = `chargepoints/${encodeURIComponent(cp.chargePointId)}/commands`;
    const { commandId } = await api(path, "POST", command);
    say(`${label}: sent, waiting for the charger…`, "is-pending", true);
    // Until the command is final: the server itself reports timedOut after COMMAND_TIMEOUT_SECONDS,
    // so the wait follows the server's timeout rather than a guess of the page's.
    let view = { status: "pending" };
    while (view.status === "pending") {
      await new Promise((r) => setTimeout(r, 1000));
      view = await api(`${path}/${encodeURIComponent(commandId)}`);
    }
    const answer = view.result?.status || view.error?.errorCode || view.status;
    say(`${label}: ${answer}`, view.status === "answered" && answer !== "Rejected" ? "is-ok" : "is-error");
    refresh();
  } catch (e) {
    say(`${label} failed: ${e.message}`, "is-error");
  }
}

// ---------- sessions ----------
function setTablePlaceholder(msg, testid) {
  $("sessions-body").replaceChildren(h("tr", { class: "placeholder" }, h("td", { colspan: 10, "data-testid": testid, text: msg })));
}

function renderSessions() {
  const list = state.sessions;
  $("page-info").textContent = `Page ${state.pageNo}`;
  $("page-next").disabled = !state.nextToken;
  $("page-first").disabled = !state.pageToken;
  if (!list.length) {
    const msg = state.pageToken ? "No more sessions." : state.filter ? `No ${state.filter.toLowerCase()} sessions.` : "No sessions yet";
    setTablePlaceholder(msg, "sessions-empty");
    return;
  }
  $("sessions-body").replaceChildren(...list.map(sessionRow));
}

function sessionRow(s) {
  const active = s.status === "Active";
  const start = Date.parse(s.startTime);
  const stop = Date.parse(s.stopTime);
  const td = (label, content, cls) => h("td", { "data-label": label, class: cls }, content);
  const selected = s.sessionId === state.selectedId;
  const dur = h("span", { "data-testid": "session-duration", text: duration((active ? Date.now() : stop) - start) });
  if (active && !Number.isNaN(start)) dur.dataset.durStart = String(start);
  return h("tr", {
    class: `session-row${selected ? " is-selected" : ""}`, "data-testid": "session-row", "data-session-id": s.sessionId,
    "data-status": s.status, "aria-selected": String(selected),
    onclick: (ev) => { if (!ev.target.closest("button")) selectSession(s); },
  },
  td("Session", h("button", { type: "button", class: "linkish", "aria-pressed": String(selected),
    title: `Chart session ${s.sessionId}`, text: String(s.sessionId || "").slice(0, 8) || "—", onclick: () => selectSession(s) })),
  td("Status", h("span", { class: `badge ${active ? "st-Charging" : "st-Finished"}`, text: s.status || "—" })),
  td("Charge point", `${s.chargePointId ?? "—"} #${s.connectorId ?? "?"}`),
  td("idTag", s.idTag ?? "—"),
  td("Start", h("time", { datetime: s.startTime, title: s.startTime, text: shortDate(s.startTime) })),
  td("Duration", dur),
  td("Energy", isNum(s.currentEnergy) ? `${num(s.currentEnergy, 2)} kWh` : "—", "num"),
  td("Power", active && isNum(s.power) ? `${num(s.power, 1)} kW` : "—", "num"),
  td("SoC", isNum(s.soc) ? `${num(s.soc)} %` : "—", "num"),
  td("Cost", money(s.cost, s.currency), "num"));
}

function gotoPage(token, pageNo) {
  state.pageToken = token;
  state.pageNo = pageNo;
  setTablePlaceholder("Loading…");
  refresh();
}

// ---------- selected session chart ----------
let pollTimer = null;

function selectSession(s) {
  state.selectedId = s.sessionId;
  state.selected = s;
  const t0 = Date.parse(s.startTime);
  state.samples = Number.isNaN(t0) ? [] : [[t0, 0, null]];
  addSample(s);
  for (const row of document.querySelectorAll(".session-row")) {
    const on = row.dataset.sessionId === s.sessionId;
    row.classList.toggle("is-selected", on);
    row.setAttribute("aria-selected", String(on));
    row.querySelector("button")?.setAttribute("aria-pressed", String(on));
  }
  pollSelected();
}

function addSample(s) {
  state.selected = s;
  const t = s.status === "Active" ? Date.parse(s.lastMeterTime) || Date.now() : Date.parse(s.stopTime) || Date.parse(s.lastMeterTime) || Date.now();
  const last = state.samples[state.samples.length - 1];
  const sample = [t, isNum(s.currentEnergy) ? s.currentEnergy : 0, s.status === "Active" && isNum(s.power) ? s.power : null];
  if (last && last[0] === t) state.samples[state.samples.length - 1] = sample;
  else if (!last || t > last[0]) state.samples.push(sample);
  if (state.samples.length > 2000) state.samples.splice(1, 1);
  renderSessionChart();
}

async function pollSelected() {
  clearTimeout(pollTimer);
  const id = state.selectedId;
  if (!id || state.selected?.status !== "Active") return;
  pollTimer = setTimeout(async () => {
    try {
      const s = await api(`sessions/${encodeURIComponent(id)}`);
      if (state.selectedId === id) addSample(s);
    } catch { /* the main refresh reports outages */ }
    if (state.selectedId === id) pollSelected();
  }, POLL_S * 1000);
}

function renderSessionChart() {
  const s = state.selected;
  const svg = $("session-chart");
  if (!s) {
    lineChart(svg, { series: [], emptyText: "Select a session in the table" });
    return;
  }
  const active = s.status === "Active";
  $("session-chart-info").textContent = `${s.chargePointId ?? "?"} #${s.connectorId ?? "?"} · ${s.idTag ?? "—"} · ${s.status}` +
    (isNum(s.currentEnergy) ? ` · ${num(s.currentEnergy, 2)} kWh` : "") + (active && isNum(s.power) ? ` · ${num(s.power, 1)} kW` : "");
  $("session-chart-caption").textContent = active
    ? `Shows samples since selection (polled every ${POLL_S} s), starting from the session start at 0 kWh. ${state.samples.length} points.`
    : "Session completed: start (0 kWh) and final energy.";
  lineChart(svg, {
    series: [
      { label: "Energy", unit: "kWh", color: "#2563eb", axis: "left", points: state.samples.map((p) => [p[0], p[1]]) },
      { label: "Power", unit: "kW", color: "#ea580c", axis: "right", points: state.samples.filter((p) => p[2] !== null).map((p) => [p[0], p[2]]) },
    ],
  });
  svg.setAttribute("data-points", String(state.samples.length));
}

// ---------- fleet chart ----------
function loadFleet() {
  try {
    const v = JSON.parse(sessionStorage.getItem(FLEET_KEY) || "[]");
    return Array.isArray(v) ? v : [];
  } catch { return []; }
}

function recordFleet() {
  const completed = isNum(state.stats.totalEnergyKwh) ? state.stats.totalEnergyKwh : 0;
  const pts = loadFleet();
  pts.push([Date.now(), completed, Math.round(activeEnergy() * 1000) / 1000]);
  while (pts.length > FLEET_MAX) pts.shift();
  try { sessionStorage.setItem(FLEET_KEY, JSON.stringify(pts)); } catch { /* storage full or disabled */ }
}

function renderFleet() {
  const pts = loadFleet();
  const svg = $("fleet-chart");
  lineChart(svg, {
    emptyText: "Collecting data…",
    zero: false,
    series: [
      { label: "Total", unit: "kWh", color: "#16a34a", points: pts.map((p) => [p[0], p[1] + p[2]]) },
      { label: "Completed", unit: "kWh", color: "#64748b", dash: "5 4", points: pts.map((p) => [p[0], p[1]]) },
    ],
  });
  svg.setAttribute("data-points", String(pts.length));
}

// ---------- simulate ----------
function frameAction(msg) {
  if (!Array.isArray(msg)) return "?";
  if (msg[0] === 2) return String(msg[2]);
  if (msg[0] === 3) return "CallResult";
  if (msg[0] === 4) return `CallError ${msg[2] ?? ""}`.trim();
  return "?";
}

function logSim(entry) {
  const log = $("sim-log");
  log.querySelector(".sim-empty")?.remove();
  log.prepend(entry);
  while (log.children.length > 30) log.lastElementChild.remove();
}

async function simulate() {
  const btn = $("simulate-button");
  btn.disabled = true;
  btn.textContent = "Simulating…";
  const time = h("time", { text: hms(new Date()) });
  try {
    const data = await api("simulate", "POST");
    const msgs = Array.isArray(data.messages) ? data.messages : [];
    const frames = h("ul", { class: "sim-frames" }, ...msgs.map((m) => h("li", { "data-testid": "sim-frame" },
      h("span", { class: "sim-cp", text: m.chargePointId ?? "?" }), h("span", { class: "sim-action", text: frameAction(m.message) }))));
    logSim(h("li", { class: "sim-entry", "data-testid": "sim-entry" }, h("div", { class: "sim-head" }, time,
      ` Published ${msgs.length} frame${msgs.length === 1 ? "" : "s"}`), frames));
    await refresh();
  } catch (e) {
    const msg = e.status === 409 ? `Simulator busy: ${e.message}. Try again in a moment.`
      : e.status ? `Simulate failed (${e.status} ${e.code}): ${e.message}` : "Simulate failed: the API could not be reached.";
    logSim(h("li", { class: `sim-entry ${e.status === 409 ? "is-busy" : "is-error"}`, "data-testid": "sim-error" },
      h("div", { class: "sim-head" }, time, ` ${msg}`)));
    if (!e.status) refresh();
  } finally {
    btn.disabled = false;
    btn.textContent = "Simulate now";
  }
}

// ---------- ticker (relative times, durations) ----------
function tick() {
  const now = Date.now();
  for (const t of document.querySelectorAll("[data-rel]")) {
    t.textContent = relTime(t.dataset.rel, now);
    t.classList.toggle("stale", now - Date.parse(t.dataset.rel) > 5 * 60000);
  }
  for (const d of document.querySelectorAll("[data-dur-start]")) d.textContent = duration(now - Number(d.dataset.durStart));
}

// ---------- init ----------
function init() {
  const auto = $("auto-refresh");
  let stored = null;
  try { stored = localStorage.getItem(AUTO_KEY); } catch { /* disabled storage */ }
  auto.checked = stored === null ? true : stored === "1";
  for (const id of ["auto-refresh-interval", "footer-interval"]) $(id).textContent = `${REFRESH_S} s`;
  auto.addEventListener("change", () => {
    try { localStorage.setItem(AUTO_KEY, auto.checked ? "1" : "0"); } catch { /* ignore */ }
    schedule();
  });
  $("refresh-button").addEventListener("click", refresh);
  $("key-form").addEventListener("submit", useKey);
  $("api-banner-retry").addEventListener("click", refresh);
  $("simulate-button").addEventListener("click", simulate);
  $("session-filter").addEventListener("change", (e) => { state.filter = e.target.value; gotoPage(null, 1); });
  $("page-next").addEventListener("click", () => state.nextToken && gotoPage(state.nextToken, state.pageNo + 1));
  $("page-first").addEventListener("click", () => gotoPage(null, 1));
  $("fleet-clear").addEventListener("click", () => {
    try { sessionStorage.removeItem(FLEET_KEY); } catch { /* ignore */ }
    renderFleet();
  });
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && state.up && auto.checked && state.lastOk && Date.now() - state.lastOk > REFRESH_S * 1000) refresh();
  });
  if ("ResizeObserver" in window) {
    let raf = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => { renderSessionChart(); renderFleet(); });
    }).observe(document.querySelector(".charts"));
  }
  renderSessionChart();
  renderFleet();
  setInterval(tick, 1000);
  refresh();
}

init();
