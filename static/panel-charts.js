// The charts: the selected session (polled while active) and the fleet (sessionStorage, one point a refresh).
import { lineChart } from "./charts.js";
import { api, config, state } from "./context.js";
import { $, cssColor } from "./dom.js";
import { isNum, num } from "./format.js";
import { firstSamples, withFleetPoint, withSample } from "./state.js";

// ---------- selected session ----------
let pollTimer = null;

export function selectSession(s) {
  state.selectedId = s.sessionId;
  state.samples = firstSamples(s);
  addSample(s);
  for (const row of document.querySelectorAll(".session-row")) {
    const on = row.dataset.sessionId === s.sessionId;
    row.classList.toggle("is-selected", on);
    row.setAttribute("aria-selected", String(on));
    row.querySelector("button")?.setAttribute("aria-pressed", String(on));
  }
  pollSelected();
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
  $("session-chart-caption").textContent = active
    ? `Shows samples since selection (polled every ${config.pollS} s), starting from the session start at 0 kWh. `
      + `${state.samples.length} points.`
    : "Session completed: start (0 kWh) and final energy.";
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
}

// ---------- fleet ----------
function loadFleet() {
  try {
    const v = JSON.parse(sessionStorage.getItem(config.fleetKey) || "[]");
    return Array.isArray(v) ? v : [];
  } catch { return []; }
}

export function recordFleet() {
  const points = withFleetPoint(loadFleet(), state.stats, state.active);
  try { sessionStorage.setItem(config.fleetKey, JSON.stringify(points)); } catch { /* storage full or disabled */ }
}

export function renderFleet() {
  const pts = loadFleet();
  const svg = $("fleet-chart");
  lineChart(svg, {
    emptyText: "Collecting data…",
    zero: false,
    series: [
      { label: "Total", unit: "kWh", color: cssColor("--chart-total"), points: pts.map((p) => [p[0], p[1] + p[2]]) },
      { label: "Completed", unit: "kWh", color: cssColor("--chart-completed"), dash: "5 4",
        points: pts.map((p) => [p[0], p[1]]) },
    ],
  });
  svg.setAttribute("data-points", String(pts.length));
}

export function wireCharts() {
  $("fleet-clear").addEventListener("click", () => {
    try { sessionStorage.removeItem(config.fleetKey); } catch { /* ignore */ }
    renderFleet();
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
}
