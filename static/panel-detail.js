// One charger's details (loaded on first use): what its answers and notifications left on the central system:
// firmware, diagnostics, configuration, availability, local list, charging profiles and the 24 h composite.
import { lineChart } from "./charts.js";
import { api } from "./context.js";
import { $, cssColor, h } from "./dom.js";
import { isNum, shortDate } from "./format.js";
import { configRows, fileSize, limits, localListState, profileText, scheduleText, stepPoints } from "./detail.js";

const COLORS = ["--chart-energy", "--chart-power", "--chart-total", "--chart-completed"];
let dialog = null;
let shownId = null; // the charger shown: a late answer for another is dropped
const draws = []; // the charts of the sections just built, drawn once in the page (their width is the dialog's)

const time = (iso) => (iso ? h("time", { datetime: iso, title: iso, text: shortDate(iso) }) : "—");

function build() {
  dialog = h("dialog", { class: "dialog", "data-testid": "detail-dialog", "aria-labelledby": "detail-title" },
    h("header", { class: "dialog-head" }, h("h2", { id: "detail-title" }),
      h("span", { class: "row-actions" },
        h("button", { type: "button", class: "btn btn-small", "data-testid": "detail-reload",
          onclick: () => load(shownId) }, "Reload"),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "detail-close",
          autofocus: true, onclick: () => dialog.close() }, "Close"))),
    h("div", { id: "detail-body", class: "detail", "aria-live": "polite" }));
  document.body.append(dialog);
}

/** Opens the dialog for cp and loads its details again: reopening refreshes them. */
export function openDetail(cp) {
  if (!dialog) build();
  $("detail-title").textContent = `Details · ${cp.chargePointId}`;
  // Nothing of the last opening stays on show: it may be another charger's, or older than what is asked.
  $("detail-body").replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  if (!dialog.open) dialog.showModal();
  load(cp.chargePointId);
}

async function load(id) {
  shownId = id;
  const body = $("detail-body");
  body.setAttribute("aria-busy", "true");
  const base = `chargepoints/${encodeURIComponent(id)}`;
  const [cp, list, files, profiles] = await Promise.allSettled(
    ["", "/localList", "/diagnostics", "/chargingProfiles"].map((rest) => api.request(base + rest)));
  if (shownId !== id) return;
  const point = cp.status === "fulfilled" ? cp.value : null;
  body.replaceChildren(
    section("Firmware", "detail-firmware", point, () => firmware(point), cp.reason),
    section("Diagnostics", "detail-diagnostics", point, () => diagnostics(point, files), cp.reason),
    section("Local authorization list", "detail-local-list", list.value, () => localList(list.value), list.reason),
    section("Availability", "detail-availability", point, () => availability(point), cp.reason),
    section("Configuration", "detail-config", point, () => configuration(point), cp.reason),
    section("Charging profiles", "detail-profiles", profiles.value,
      () => chargingProfiles(profiles.value, point?.maxPower), profiles.reason));
  body.setAttribute("aria-busy", "false");
  for (const draw of draws.splice(0)) draw();
}

const WIDE = ["detail-config", "detail-profiles"];

function section(title, testid, data, content, failure) {
  return h("section", { class: `detail-sec${WIDE.includes(testid) ? " wide" : ""}`, "data-testid": testid },
    h("h3", { text: title }),
    ...(data ? content()
      : [h("p", { class: "cp-command is-error", text: `Could not be loaded: ${failure.message}` })]));
}

function facts(pairs) {
  return h("dl", { class: "cp-meta" }, ...pairs.filter(Boolean).map(([label, value]) =>
    h("div", {}, h("dt", { text: label }), h("dd", {}, value ?? "—"))));
}

function notices(items, testid) {
  if (!items?.length) return h("p", { class: "muted", text: "No notification heard yet." });
  return h("ol", { class: "detail-history", "data-testid": testid },
    ...items.map((e) => h("li", {}, time(e.at), " ", h("b", { text: e.status }))));
}

function firmware(cp) {
  const u = cp.firmwareUpdate;
  return [facts([["Version", cp.firmwareVersion], ["Status", cp.firmwareStatus],
    ["Update asked", u ? time(u.requestedAt) : "none"],
    u && ["Retrieve from", time(u.retrieveDate)]]),
  u ? h("p", { class: "mono detail-wrap", text: u.location }) : null,
  notices(cp.firmwareHistory, "detail-firmware-history")].filter(Boolean);
}

function diagnostics(cp, files) {
  const list = files.status === "fulfilled" ? files.value.files || [] : null;
  return [facts([["Status", cp.diagnosticsStatus]]), notices(cp.diagnosticsHistory, "detail-diagnostics-history"),
    list === null ? h("p", { class: "cp-command is-error", text: `Files: ${files.reason.message}` })
      : !list.length ? h("p", { class: "muted", text: "No file uploaded yet." })
        : h("ul", { class: "detail-history", "data-testid": "detail-files" }, ...list.map((f) =>
          h("li", {}, time(f.uploadedAt), " ", h("span", { class: "mono detail-wrap", text: f.fileName }),
            ` ${fileSize(f.size)}`)))];
}

function configuration(cp) {
  const rows = configRows(cp.configuration);
  if (!rows.length) return [h("p", { class: "muted", text: "Not known yet: send GetConfiguration." })];
  const note = (r) => [r.readonly ? "read-only" : null, r.rebootRequired ? "reboot required" : null,
    r.changedAt ? `changed ${shortDate(r.changedAt)}` : null].filter(Boolean).join(", ");
  return [h("p", { class: "muted" }, "As of ", time(cp.configurationAt),
    cp.unknownKeys?.length ? `; unknown to the charger: ${cp.unknownKeys.join(", ")}` : "",
    cp.configurationKeysNotKept ? `; ${cp.configurationKeysNotKept} keys not kept` : ""),
  h("div", { class: "table-wrap" }, h("table", { class: "detail-table", "data-testid": "detail-config-table" },
    h("thead", {}, h("tr", {}, ...["Key", "Value"].map((t) => h("th", { scope: "col", text: t })))),
    h("tbody", {}, ...rows.map((r) => h("tr", { "data-key": r.key },
      h("td", { class: "mono", text: r.key }),
      h("td", {}, r.value ?? "—", note(r) ? h("small", { class: "muted", text: ` · ${note(r)}` }) : null))))))];
}

function availability(cp) {
  const entries = Object.entries(cp.availability || {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (!entries.length) {
    return [h("p", { class: "muted", text: "No ChangeAvailability accepted: as the charger reports." })];
  }
  return [h("ul", { class: "detail-history", "data-testid": "detail-availability-list" }, ...entries.map(([c, a]) =>
    h("li", {}, h("b", { text: `#${c} ${a.type}` }), ` (${a.status}) `, time(a.at),
      ` · now ${cp.connectorStatus?.[c]?.status || "unknown"}`)))];
}

function localList(l) {
  const st = localListState(l);
  return [h("p", {}, h("span", { class: `badge ${st.cls}`,
    "data-testid": "detail-list-state", text: st.label }), " ", st.text),
  facts([["Registry", l.registryVersion], ["Charger", l.chargerVersion], ["Last sent", l.sentVersion],
    ["Last answer", l.status], ["Updated", time(l.updatedAt)]])];
}

function chargingProfiles(data, maxPowerKw) {
  const profiles = data.chargingProfiles || [];
  const composite = Object.entries(data.compositeSchedule || {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  const limited = composite.filter(([, s]) => limits(s));
  return [profiles.length
    ? h("ul", { class: "detail-history", "data-testid": "detail-profile-list" },
      ...profiles.map((p) => h("li", { "data-profile-id": p.chargingProfileId, class: "detail-wrap",
        text: profileText(p) })))
    : h("p", { class: "muted", text: "None set by the central system." }),
  h("h4", { text: "Composite schedule, next 24 h" }),
  h("ul", { class: "detail-history", "data-testid": "detail-composite" }, ...composite.map(([c, s]) =>
    h("li", {}, h("b", { text: c === "0" ? "Charger: " : `#${c}: ` }), scheduleText(s)))),
  limited.length ? chart(limited, maxPowerKw) : null].filter(Boolean);
}

function chart(limited, maxPowerKw) {
  const highest = Math.max(...limited.flatMap(([, s]) => s.chargingSchedulePeriod.map((p) => p.limit ?? 0)));
  const ceiling = isNum(maxPowerKw) ? Math.max(maxPowerKw * 1000, highest) : highest;
  const series = limited.map(([c, s], i) => ({ label: c === "0" ? "charger" : `connector ${c}`,
    color: cssColor(COLORS[i % COLORS.length]), unit: "kW", points: stepPoints(s, ceiling) }));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  for (const [k, v] of Object.entries({ class: "chart detail-chart", role: "img", "data-testid": "detail-chart",
    "aria-label": "Composite limit per connector over the next 24 hours, in kW" })) svg.setAttribute(k, v);
  draws.push(() => lineChart(svg, { series, height: 160 }));
  return h("figure", { class: "chart-fig" }, svg, h("figcaption", {},
    ...series.map((s) => h("span", { class: "key", style: `--line: ${s.color}`, text: s.label })),
    h("span", { class: "muted", text: `No limit drawn at ${+(ceiling / 1000).toFixed(1)} kW.` })));
}

