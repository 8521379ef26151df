// EV charging dashboard, entry module: refreshes the panels, says when the API is down. No dependencies;
// module map in docs/dashboard.md. API data is only ever text (textContent / setAttribute), never HTML.
import { withQuery } from "./api.js";
import { api, config, state, wireKeyForm } from "./context.js";
import { $ } from "./dom.js";
import { duration, hms, relTime } from "./format.js";
import { addSample, refreshFleet, wireCharts } from "./panel-charts.js";
import { renderChargePoints, showGridFailure, wireChargePoints } from "./panel-chargepoints.js";
import { wireExport } from "./panel-export.js";
import { renderSessions, setTablePlaceholder, wireSessions } from "./panel-sessions.js";
import { wireSimulator } from "./panel-simulator.js";
import { renderStats } from "./panel-stats.js";
import { findSelected, pageLoaded, pageRefused } from "./state.js";

// ---------- refresh / scheduling ----------
let inflight = null;
let queued = false;
let timer = null;

/** One at a time: asked for during one, it runs again after. */
async function refresh() {
  if (inflight) { queued = true; return inflight; }
  inflight = doRefresh();
  try { await inflight; } finally { inflight = null; }
  if (queued) { queued = false; return refresh(); }
}

async function doRefresh() {
  try {
    const [stats, chargePoints, active, page] = await Promise.all([
      api.request("stats"),
      api.all("chargepoints", "chargePoints", { limit: 100 }),
      api.all("sessions", "sessions", { limit: 100, status: "Active" }, 5),
      api.request(withQuery("sessions", { limit: config.pageSize, status: state.filter, nextToken: state.page.token }))
        .catch((e) => {
          state.page = pageRefused(state.page, e.status);
          throw e;
        }),
    ]);
    Object.assign(state, { stats, chargePoints, active, sessions: page.sessions || [] });
    state.page = pageLoaded(state.page, page.nextToken);
    state.lastOk = new Date();
    setUp();
    renderStats();
    renderChargePoints();
    renderSessions();
    refreshFleet();
    const sel = findSelected(state);
    if (sel) addSample(sel);
    refreshViews();
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
  if (!state.up) timer = setTimeout(refresh, config.retryS * 1000);
  else if ($("auto-refresh").checked) timer = setTimeout(refresh, config.refreshS * 1000);
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
    `Cannot reach the API at ${location.origin}${config.base}.`;
  const since = state.lastOk ? ` Showing data from ${hms(state.lastOk)}.` : "";
  $("api-banner-text").textContent = `${why}${since} Retrying every ${config.retryS} s…`;
  $("api-banner").hidden = false;
  if (state.lastOk) document.body.classList.add("is-offline");
  if (!state.lastOk) {
    $("last-updated").textContent = "Not updated yet";
    for (const c of document.querySelectorAll(".is-loading")) c.classList.remove("is-loading");
    if (!state.sessions) setTablePlaceholder("Sessions could not be loaded.");
    if (!state.chargePoints) showGridFailure();
  }
}

// ---------- the idTags and reservations views: their modules load when they first open ----------
const views = () => document.querySelectorAll("details[data-module]");
const loadView = (view) => import(`./${view.dataset.module}`).then((m) => m.load());

function refreshViews() {
  for (const view of views()) if (view.open) loadView(view);
}

function wireViews() {
  for (const view of views()) view.addEventListener("toggle", () => view.open && loadView(view));
}

// ---------- ticker (relative times, durations) ----------
function tick() {
  const now = Date.now();
  for (const t of document.querySelectorAll("[data-rel]")) {
    t.textContent = relTime(t.dataset.rel, now);
    t.classList.toggle("stale", now - Date.parse(t.dataset.rel) > 5 * 60000);
  }
  for (const d of document.querySelectorAll("[data-dur-start]")) {
    d.textContent = duration(now - Number(d.dataset.durStart));
  }
}

// ---------- init ----------
function wireAutoRefresh() {
  const auto = $("auto-refresh");
  let stored = null;
  try { stored = localStorage.getItem(config.autoRefreshKey); } catch { /* disabled storage */ }
  auto.checked = stored === null ? true : stored === "1";
  for (const id of ["auto-refresh-interval", "footer-interval"]) $(id).textContent = `${config.refreshS} s`;
  auto.addEventListener("change", () => {
    try { localStorage.setItem(config.autoRefreshKey, auto.checked ? "1" : "0"); } catch { /* ignore */ }
    schedule();
  });
  document.addEventListener("visibilitychange", () => {
    const stale = state.lastOk && Date.now() - state.lastOk > config.refreshS * 1000;
    if (!document.hidden && state.up && auto.checked && stale) refresh();
  });
}

function init() {
  wireAutoRefresh();
  $("refresh-button").addEventListener("click", refresh);
  $("api-banner-retry").addEventListener("click", refresh);
  wireKeyForm(refresh);
  wireSimulator(refresh);
  wireSessions(refresh);
  wireChargePoints(refresh);
  wireCharts();
  wireExport();
  wireViews();
  setInterval(tick, 1000);
  refresh();
}

init();
