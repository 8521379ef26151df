// The sessions table: a page of GET sessions, by status, paged by nextToken.
import { state } from "./context.js";
import { $, h } from "./dom.js";
import { duration, isNum, money, num, shortDate } from "./format.js";
import { selectSession } from "./panel-charts.js";
import { firstPage, nextPage } from "./state.js";

export function setTablePlaceholder(msg, testid) {
  $("sessions-body").replaceChildren(h("tr", { class: "placeholder" },
    h("td", { colspan: 10, "data-testid": testid, text: msg })));
}

export function renderSessions() {
  const list = state.sessions;
  const { page } = state;
  $("page-info").textContent = `Page ${page.no}`;
  $("page-next").disabled = !page.next;
  $("page-first").disabled = !page.token;
  if (!list.length) {
    const msg = page.token ? "No more sessions."
      : state.filter ? `No ${state.filter.toLowerCase()} sessions.` : "No sessions yet";
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
    title: `Chart session ${s.sessionId}`, text: String(s.sessionId || "").slice(0, 8) || "—",
    onclick: () => selectSession(s) })),
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

export function wireSessions(refresh) {
  const goto = (page) => {
    state.page = page;
    setTablePlaceholder("Loading…");
    refresh();
  };
  $("session-filter").addEventListener("change", (e) => { state.filter = e.target.value; goto(firstPage()); });
  $("page-next").addEventListener("click", () => state.page.next && goto(nextPage(state.page)));
  $("page-first").addEventListener("click", () => goto(firstPage()));
}
