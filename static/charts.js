// Tiny inline-SVG line chart: time on x, up to two y axes (left/right), no dependencies.
import { pad } from "./format.js";

const NS = "http://www.w3.org/2000/svg";

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, str, attrs) {
  const t = el("text", { x, y, ...attrs }, parent);
  t.textContent = str;
  return t;
}

export function niceMax(max, ticks = 4) {
  if (!(max > 0)) return { max: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const n = raw / mag;
  const step = (n <= 1 ? 1 : n <= 2 ? 2 : n <= 2.5 ? 2.5 : n <= 5 ? 5 : 10) * mag;
  return { max: step * Math.ceil(max / step - 1e-9), step };
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
  .map((s) => s * 1000);

function timeLabel(ms, withSeconds) {
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? ":" + pad(d.getSeconds()) : ""}`;
}

function fmtTick(v, step) {
  const decimals = step >= 1 ? 0 : Math.min(3, Math.ceil(-Math.log10(step)));
  return v.toFixed(decimals);
}

/**
 * Render a line chart into `svg` at its current pixel size.
 * series: [{label, color, axis: "left"|"right", unit, dash, points: [[timeMs, value], ...]}]
 */
export function lineChart(svg, { series, emptyText = "No data yet", height = 220, zero = true }) {
  const width = Math.max(240, Math.round(svg.clientWidth || svg.parentNode?.clientWidth || 600));
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.replaceChildren();

  const all = series.flatMap((s) => s.points);
  const hasRight = series.some((s) => s.axis === "right" && s.points.length);
  const m = { top: 24, right: hasRight ? 48 : 16, bottom: 26, left: 48 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;

  if (!all.length) {
    text(svg, width / 2, height / 2, emptyText, { class: "chart-empty", "text-anchor": "middle" });
    return;
  }

  let x0 = Math.min(...all.map((p) => p[0]));
  let x1 = Math.max(...all.map((p) => p[0]));
  if (x1 - x0 < 10000) { x0 -= 5000; x1 += 5000; }
  const sx = (t) => m.left + ((t - x0) / (x1 - x0)) * w;

  const axes = {};
  for (const side of ["left", "right"]) {
    const pts = series.filter((s) => (s.axis || "left") === side).flatMap((s) => s.points);
    if (!pts.length) continue;
    const vals = pts.map((p) => p[1]);
    let lo = zero ? 0 : Math.min(...vals);
    let hi = Math.max(...vals);
    if (!zero) {
      const padding = Math.max((hi - lo) * 0.1, Math.abs(hi) * 0.002, 0.05);
      lo = Math.max(0, lo - padding);
      hi += padding;
    }
    const { step } = niceMax((hi - lo) * 1.05);
    lo = Math.floor(lo / step) * step;
    const n = Math.max(1, Math.ceil((hi - lo) / step - 1e-9));
    const top = lo + n * step;
    axes[side] = { lo, n, step, sy: (v) => m.top + h - ((v - lo) / (top - lo)) * h };
  }

  const g = el("g", { class: "chart-axes" }, svg);
  const left = axes.left || axes.right;
  // horizontal grid + left labels
  for (let i = 0; i <= left.n; i++) {
    const v = left.lo + i * left.step;
    const y = left.sy(v);
    el("line", { x1: m.left, x2: m.left + w, y1: y, y2: y, class: i === 0 ? "chart-base" : "chart-grid" }, g);
    text(g, m.left - 6, y + 4, fmtTick(v, left.step), { "text-anchor": "end" });
  }
  if (axes.left && axes.right) {
    const r = axes.right;
    for (let i = 0; i <= r.n; i++) {
      const v = r.lo + i * r.step;
      text(g, m.left + w + 6, r.sy(v) + 4, fmtTick(v, r.step), { "text-anchor": "start" });
    }
  }
  // unit captions
  const leftUnit = series.find((s) => (s.axis || "left") === "left")?.unit;
  const rightUnit = series.find((s) => s.axis === "right")?.unit;
  if (leftUnit) text(g, m.left - 6, 12, leftUnit, { class: "chart-unit", "text-anchor": "end" });
  if (rightUnit && axes.left) text(g, m.left + w + 6, 12, rightUnit, { class: "chart-unit", "text-anchor": "start" });

  // time ticks
  const span = x1 - x0;
  const maxTicks = Math.max(2, Math.floor(w / 80));
  const step = TIME_STEPS.find((s) => span / s <= maxTicks) || 86400000;
  const offset = new Date().getTimezoneOffset() * 60000;
  let t = Math.ceil((x0 - offset) / step) * step + offset;
  for (; t <= x1; t += step) {
    const x = sx(t);
    el("line", { x1: x, x2: x, y1: m.top + h, y2: m.top + h + 4, class: "chart-base" }, g);
    text(g, x, height - 8, timeLabel(t, step < 60000), { "text-anchor": "middle" });
  }

  // lines
  for (const s of series) {
    if (!s.points.length) continue;
    const sy = axes[s.axis || "left"].sy;
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    const d = pts.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, "stroke-linejoin": "round",
      "stroke-dasharray": s.dash || "none", class: "chart-line", "data-series": s.label }, svg);
    const last = pts[pts.length - 1];
    const dot = el("circle", { cx: sx(last[0]), cy: sy(last[1]), r: 3.5, fill: s.color }, svg);
    el("title", {}, dot).textContent = `${s.label}: ${last[1]} ${s.unit || ""} at ${timeLabel(last[0], true)}`;
  }
}
