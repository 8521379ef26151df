// The charge point grid: legend, cards, remote commands.
import { ApiError, withQuery } from "./api.js";
import { api, state } from "./context.js";
import { $, h } from "./dom.js";
import { STATUSES, isNum, num, relTime, statusClass } from "./format.js";
import { commandOutcome, freeConnector } from "./state.js";

const COMMAND_ID_TAG = "DASHBOARD";
let refreshAfterCommand = () => {};
const dot = () => h("span", { class: "dot", "aria-hidden": "true" });

export function wireChargePoints(refresh) {
  refreshAfterCommand = refresh;
}

function renderLegend() {
  const counts = {};
  for (const cp of state.chargePoints || []) counts[cp.status] = (counts[cp.status] || 0) + 1;
  $("status-legend").replaceChildren(...STATUSES.map((st) =>
    h("li", { class: `legend-item ${statusClass(st)}`, title: `${counts[st] || 0} charge point(s) ${st}` },
      dot(), `${st} `, h("b", { text: counts[st] || 0 }))));
}

export function renderChargePoints() {
  renderLegend();
  const grid = $("cp-grid");
  grid.setAttribute("aria-busy", "false");
  const cps = state.chargePoints;
  $("cp-count").textContent = cps.length ? `(${cps.length})` : "";
  if (!cps.length) {
    // The API does not tell FLEET_SIZE: name the setting rather than guess it.
    grid.replaceChildren(h("p", { class: "empty", "data-testid": "cp-empty",
      text: "No charge points yet: the simulator boots FLEET_SIZE of them on its first run." }));
    return;
  }
  const sorted = [...cps].sort((a, b) => String(a.chargePointId).localeCompare(String(b.chargePointId)));
  grid.replaceChildren(...sorted.map(cpCard));
}

export function showGridFailure() {
  $("cp-grid").replaceChildren(h("p", { class: "empty", text: "Charge points could not be loaded." }));
  $("cp-grid").setAttribute("aria-busy", "false");
}

function connectorChips(cp) {
  const conns = Object.entries(cp.connectorStatus || {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  const chips = h("ul", { class: "chips", "aria-label": "Connectors" });
  if (!conns.length) chips.append(h("li", { class: "chip chip-none", text: "No connector status reported yet" }));
  for (const [id, c] of conns) {
    const cs = c?.status || "Unknown";
    const err = c?.errorCode && c.errorCode !== "NoError" ? c.errorCode : null;
    chips.append(h("li", {
      class: `chip ${statusClass(cs)}`, "data-testid": "connector-chip", "data-connector-id": id, "data-status": cs,
      title: `Connector ${id}: ${cs}${err ? ` (${err})` : ""}${c?.timestamp ? ` since ${c.timestamp}` : ""}`,
    }, dot(), `#${id} ${cs}`,
    err ? h("span", { class: "chip-err", text: ` ⚠ ${err}` }) : null));
  }
  return chips;
}

function cpCard(cp) {
  const status = cp.status || "Unknown";
  const meta = h("dl", { class: "cp-meta" });
  const add = (label, value) => meta.append(h("div", {}, h("dt", { text: label }), h("dd", { text: value ?? "—" })));
  add("Model", cp.model);
  add("Vendor", cp.vendor);
  add("Connectors", cp.connectors);
  add("Max power", isNum(cp.maxPower) ? `${num(cp.maxPower, cp.maxPower % 1 ? 1 : 0)} kW` : null);

  const seen = cp.lastSeen
    ? h("time", { "data-testid": "cp-last-seen", datetime: cp.lastSeen, title: cp.lastSeen, "data-rel": cp.lastSeen,
      text: relTime(cp.lastSeen) })
    : h("span", { text: "never" });
  const online = typeof cp.online === "boolean"
    ? h("span", { class: `online ${cp.online ? "is-on" : "is-off"}`, text: cp.online ? "Online" : "Offline" }) : null;
  const reg = cp.registration && cp.registration !== "Accepted"
    ? h("span", { class: "reg", text: `Registration: ${cp.registration}` }) : null;

  return h("article", { class: `cp-card ${statusClass(status)}`, "data-testid": "cp-card",
    "data-cp-id": cp.chargePointId, "data-status": status },
  h("header", { class: "cp-head" },
    h("h3", { text: cp.chargePointId }),
    h("span", { class: `badge ${statusClass(status)}`, "data-testid": "cp-status" },
      dot(), status)),
  h("p", { class: "cp-loc", text: cp.location || "Unknown location" }),
  meta, connectorChips(cp),
  h("footer", { class: "cp-foot" }, h("span", {}, "Last seen ", seen), online, reg,
    h("div", { class: "cp-actions", "data-testid": "cp-actions" }, ...commandButtons(cp))),
  commandNote(state.commands[cp.chargePointId]));
}

// ---------- remote commands (to a charger online over WebSocket or, for the demo fleet, over the bus) ----------
function commandNote(command) {
  return h("p", { class: `cp-command ${command?.cls || ""}`.trim(), "data-testid": "cp-command-status",
    "aria-live": "polite", hidden: !command, text: command?.text });
}

const OFFLINE = "The charger is offline: the central system cannot reach it";

function commandButtons(cp) {
  const busy = Boolean(state.commands[cp.chargePointId]?.busy);
  const button = (label, testid, run) => h("button", {
    type: "button", class: "btn btn-small", "data-testid": testid, "data-quick": "", disabled: !cp.online || busy,
    title: cp.online ? null : OFFLINE, onclick: () => runCommand(cp, label, run),
  }, label);
  return [
    button("Start", "cp-start", () => ({ action: "RemoteStartTransaction",
      payload: { idTag: COMMAND_ID_TAG, connectorId: freeConnector(cp) } })),
    button("Stop", "cp-stop", async () => {
      const page = await api.request(withQuery("sessions",
        { chargePointId: cp.chargePointId, status: "Active", limit: 1 }));
      const active = (page.sessions || [])[0];
      if (!active) throw new ApiError(0, "NoSession", "no active session to stop");
      return { action: "RemoteStopTransaction", payload: { transactionId: active.transactionId } };
    }),
    button("Reset", "cp-reset", () => ({ action: "Reset", payload: { type: "Soft" } })),
    // Every command, with its recent history: the dialog's module loads on first use.
    h("button", { type: "button", class: "btn btn-small", "data-testid": "cp-commands", "aria-haspopup": "dialog",
      disabled: !cp.online, title: cp.online ? "All 19 OCPP commands and the recent ones" : OFFLINE,
      onclick: () => import("./panel-commands.js").then((m) => m.openCommands(cp)) }, "Commands…"),
    // What the central system keeps of the charger, reachable or not: loaded on first use too.
    h("button", { type: "button", class: "btn btn-small", "data-testid": "cp-details", "aria-haspopup": "dialog",
      title: "Firmware, diagnostics, configuration, availability, local list, charging profiles",
      onclick: () => import("./panel-detail.js").then((m) => m.openDetail(cp)) }, "Details"),
  ];
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
  for (const b of card.querySelectorAll("[data-quick]")) b.disabled = !cp.online || command.busy;
}

/** POSTs build()'s body ({action, payload} to .../commands, or to route's, which queues one) and polls the command
 *  until final, saying how it goes on the card and to report (text, cls, busy, parts); its final view, or null when
 *  it could not be sent. One queued in parts (the answer's `commands`) is followed until a part is not Accepted. */
export async function runCommand(cp, label, build, report = () => {}, route = "commands") {
  // One at a time per charger (the server would refuse it): the card's note says which one is outstanding.
  if (state.commands[cp.chargePointId]?.busy) {
    report(`${label}: not sent, another command to this charger is outstanding`, "is-error", false);
    return null;
  }
  let parts = null;
  const say = (text, cls, busy = false) => {
    setCommand(cp, { text, cls, busy });
    report(text, cls, busy, parts);
  };
  say(`${label}: sending…`, "is-pending", true);
  try {
    const command = await build();
    const base = `chargepoints/${encodeURIComponent(cp.chargePointId)}`;
    const sent = await api.request(`${base}/${route}`, "POST", command);
    if (sent.commands?.length > 1) parts = sent.commands;
    // Until final: the server reports timedOut after COMMAND_TIMEOUT_SECONDS (no guess of the page's).
    let view;
    let which = "";
    for (const [i, part] of (parts || [sent]).entries()) {
      if (parts) which = `part ${i + 1} of ${parts.length} `;
      view = part;
      while (view.status === "pending" || view.status === "waiting") {
        say(`${label}: ${which}sent, waiting for the charger…`, "is-pending", true);
        await new Promise((r) => setTimeout(r, 1000));
        view = await api.request(`${base}/commands/${encodeURIComponent(part.commandId)}`);
        if (parts) parts[i] = { ...part, ...view };
      }
      if (parts && view.result?.status !== "Accepted") break; // the later parts are not sent
    }
    const { answer, ok } = commandOutcome(view);
    say(`${label}: ${which}${answer}`, ok && (!parts || answer === "Accepted") ? "is-ok" : "is-error");
    refreshAfterCommand();
    return view;
  } catch (e) {
    say(`${label} failed: ${e.message}`, "is-error");
    return null;
  }
}
