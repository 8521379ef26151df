// The charts: the selected session (its stored meter history, then polled while active) and the fleet's
// energy per interval (GET /stats/energy, from the stored snapshots), both drawn from what the server stored so
// a fresh tab shows the past.
import { lineChart } from "./charts.js";
import { api, config, state } from "./context.js";
import { $, cssColor } from "./dom.js";
import { isNum, num } from "./format.js";
import { fleetSeries, historySamples, mergeSamples } from "./history.js";
import { firstSamples, withSample } from "./state.js";

// Pages of 100 readings fetched for one session: 2,000, as many as the chart keeps (state.js), 33 hours at
// one a minute.
const HISTORY_PAGES = 20;
// The fleet's intervals change every 5 minutes: asking once a minute keeps the last one current enough.
const FLEET_REFRESH_MS = 60000;

// ---------- selected session ----------
let pollTimer = null;
let historyReadings = null; // the selected session's stored readings once loaded, else null

export function selectSession(s) {
  state.selectedId = s.sessionId;
  state.samples = firstSamples(s);
  historyReadings = null;
  addSample(s);
  for (const row of document.querySelectorAll(".session-row")) {
    const on = row.dataset.sessionId === s.sessionId;
    row.classList.toggle("is-selected", on);
    row.setAttribute("aria-selected", String(on));
    row.querySelector("button")?.setAttribute("aria-pressed", String(on));
  }
  loadHistory(s);
  pollSelected();
}

async function loadHistory(s) {
  const id = s.sessionId;
  try {
    const readings = await api.all(`sessions/${encodeURIComponent(id)}/meterValues`, "meterValues",
      { limit: 100 }, HISTORY_PAGES);
    if (state.selectedId !== id) return;
    historyReadings = readings;
    state.samples = mergeSamples(historySamples(s, readings), state.samples);
    renderSessionChart();
  } catch { /* the chart keeps what the tab sees; the main refresh reports outages */ }
}

export function addSample(s) {
  state.selected = s;
  state.samples = withSample(state.samples, s);
  renderSessionChart();
}

function pollSelected() {
  clearTimeout(pollTimer);
  const id = state.selectedId;
  if (!id || state.selected?.status !== "Active") return;
  pollTimer = setTimeout(async () => {
    try {
      const s = await api.request(`sessions/${encodeURIComponent(id)}`);
      if (state.selectedId === id) addSample(s);
    } catch { /* the main refresh reports outages */ }
    if (state.selectedId === id) pollSelected();
  }, config.pollS * 1000);
}

function renderSessionChart() {
  const s = state.selected;
  const svg = $("session-chart");
  if (!s) {
    lineChart(svg, { series: [], emptyText: "Select a session in the table" });
    return;
  }
  const active = s.status === "Active";
  $("session-chart-info").textContent = `${s.chargePointId ?? "?"} #${s.connectorId ?? "?"} · ${s.idTag ?? "—"}`
    + ` · ${s.status}` + (isNum(s.currentEnergy) ? ` · ${num(s.currentEnergy, 2)} kWh` : "")
    + (active && isNum(s.power) ? ` · ${num(s.power, 1)} kW` : "");
  const stored = historyReadings === null
    ? "Loading its stored meter history…"
    : `The whole session from its stored meter history (${historyReadings.length} readings)`;
  $("session-chart-caption").textContent = `${stored}${active ? `, then polled every ${config.pollS} s` : ""}. `
    + `${state.samples.length} points.`;
  const { samples } = state;
  lineChart(svg, {
    series: [
      { label: "Energy", unit: "kWh", color: cssColor("--chart-energy"), axis: "left",
        points: samples.map((p) => [p[0], p[1]]) },
      { label: "Power", unit: "kW", color: cssColor("--chart-power"), axis: "right",
        points: samples.filter((p) => p[2] !== null).map((p) => [p[0], p[2]]) },
    ],
  });
  svg.setAttribute("data-points", String(samples.length));
  svg.dataset.source = historyReadings === null ? "live" : "history";
}

// ---------- fleet ----------
let fleet = null; // the last GET /stats/energy answer
let fleetAsked = 0;

/** Ask for the fleet's energy per interval (the last 6 hours) when the last answer is a minute old. */
export async function refreshFleet(now = Date.now()) {
  if (now - fleetAsked < FLEET_REFRESH_MS) return;
  fleetAsked = now;
  try {
    fleet = await api.request("stats/energy");
    renderFleet();
  } catch { fleetAsked = 0; /* asked again at the next refresh; the main refresh reports outages */ }
}

function renderFleet() {
  const svg = $("fleet-chart");
  const { energy, power, totalKwh } = fleetSeries(fleet || {});
  lineChart(svg, {
    emptyText: fleet ? "No energy delivered in the last hours" : "Loading…",
    series: totalKwh > 0 ? [
      { label: "Energy", unit: "kWh", color: cssColor("--chart-total"), axis: "left", points: energy },
      { label: "Power", unit: "kW", color: cssColor("--chart-completed"), axis: "right", dash: "5 4", points: power },
    ] : [],
  });
  svg.setAttribute("data-points", String(power.length));
  svg.dataset.energyKwh = String(totalKwh);
}

export function wireCharts() {
  if ("ResizeObserver" in window) {
    let raf = 0;
    new ResizeObserver(() => {
      cancelAnimationFrame(raf);
      raf = requestAnimationFrame(() => { renderSessionChart(); renderFleet(); });
    }).observe(document.querySelector(".charts"));
  }
  renderSessionChart();
  renderFleet();
}
