// Sites: each grid connection's limit, its live total and a chart of that total against the limit.
// Loaded on its own by index.html: it polls GET sites at the dashboard's refresh interval.
import { api, config } from "./context.js";
import { $, h } from "./dom.js";
import { num } from "./format.js";

const SVG = "http://www.w3.org/2000/svg";
const KEEP = 120; // points per site, kept for this tab
const history = new Map(); // siteId -> [{t, kw}]

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** The live total (a line) against the limit (a dashed line), over the points this tab has seen. */
function chart(site, points) {
  const w = 320, hgt = 90, top = Math.max(site.maxPowerKw * 1.2, ...points.map((p) => p.kw), 1);
  const y = (kw) => hgt - (kw / top) * hgt;
  const x = (i) => (points.length < 2 ? w : (i / (points.length - 1)) * w);
  const root = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "chart site-chart", role: "img",
    "aria-label": `Power of ${site.name} against its limit`, "data-testid": "site-chart" });
  root.append(svg("line", { x1: 0, x2: w, y1: y(site.maxPowerKw), y2: y(site.maxPowerKw),
    class: "site-limit", stroke: "currentColor", "stroke-dasharray": "4 3", "data-testid": "site-limit-line" }));
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.kw).toFixed(1)}`).join(" ");
  if (d) root.append(svg("path", { d, fill: "none", stroke: "currentColor", "stroke-width": 2, class: "site-power" }));
  return root;
}

function card(site) {
  const points = history.get(site.siteId) || [];
  points.push({ t: Date.now(), kw: site.currentPowerKw });
  history.set(site.siteId, points.slice(-KEEP));
  const over = site.currentPowerKw > site.maxPowerKw;
  return h("article", { class: `site-card${over ? " warn" : ""}`, "data-testid": "site-card", "data-site": site.siteId },
    h("h3", { text: site.name }),
    h("p", {},
      h("span", { "data-testid": "site-total", text: `${num(site.currentPowerKw, 1)} kW` }),
      " of ",
      h("span", { "data-testid": "site-limit", text: `${num(site.maxPowerKw, 1)} kW` }),
      h("span", { class: "muted", text: ` · ${site.activeSessions.length} charging · ${site.chargePointIds.join(", ")}` })),
    chart(site, history.get(site.siteId)));
}

async function refreshSites() {
  const box = $("sites");
  try {
    const { sites } = await api.request("sites?limit=100");
    const views = await Promise.all(sites.map((s) => api.request(`sites/${encodeURIComponent(s.siteId)}`)));
    box.replaceChildren(...(views.length ? views.map(card)
      : [h("p", { class: "muted", "data-testid": "sites-empty", text: "No site yet: PUT /sites/{siteId} declares one." })]));
  } catch (e) {
    box.replaceChildren(h("p", { class: "muted", text: `Sites unavailable: ${e.message}` }));
  } finally {
    setTimeout(refreshSites, config.refreshS * 1000);
  }
}

refreshSites();
