// The reservations view (loaded when it first opens): every reservation, its status, charger, connector, idTag
// and expiry; one the charger holds can be cancelled (a CancelReservation command).
import { api, state } from "./context.js";
import { $, h } from "./dom.js";
import { shortDate } from "./format.js";
import { runCommand } from "./panel-chargepoints.js";
import { byExpiry, isHeld, reservationClass } from "./records.js";

const HEADS = ["Reservation", "Status", "Charge point", "Connector", "idTag", "Expiry", "Session", ""];

function build() {
  $("resv-body").append(
    h("p", { id: "resv-msg", class: "cp-command", "data-testid": "resv-msg", role: "status" }),
    h("div", { class: "table-wrap" }, h("table", { class: "sessions", "data-testid": "resv-table" },
      h("thead", {}, h("tr", {}, ...HEADS.map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", { id: "resv-rows" }))));
}

/** The answer refreshes the page, and with it this view. */
function cancel(r) {
  // The card's charger when the grid has it: its buttons then follow the command as usual.
  const cp = (state.chargePoints || []).find((c) => c.chargePointId === r.chargePointId)
    || { chargePointId: r.chargePointId, online: true };
  const report = (text, cls) => Object.assign($("resv-msg"), { textContent: text, className: `cp-command ${cls}` });
  runCommand(cp, `Cancel reservation ${r.reservationId}`,
    () => ({ action: "CancelReservation", payload: { reservationId: r.reservationId } }), report);
}

function row(r) {
  const td = (label, content) => h("td", { "data-label": label }, content ?? "—");
  return h("tr", { "data-testid": "resv-row", "data-reservation-id": r.reservationId, "data-status": r.status },
    td("Reservation", String(r.reservationId)),
    td("Status", h("span", { class: `badge ${reservationClass(r.status)}`, text: r.status })),
    td("Charge point", r.chargePointId), td("Connector", r.connectorId), td("idTag", r.idTag),
    td("Expiry", r.expiryDate ? h("time", { datetime: r.expiryDate, title: r.expiryDate,
      text: shortDate(r.expiryDate) }) : null),
    td("Session", r.sessionId ? String(r.sessionId).slice(0, 8) : null),
    td("", isHeld(r) ? h("button", { type: "button", class: "btn btn-small", "data-testid": "resv-cancel",
      "aria-label": `Cancel reservation ${r.reservationId}`, onclick: () => cancel(r) }, "Cancel") : null));
}

/** Shows the reservations, newest expiry first, building the view on first use. */
export async function load() {
  if (!$("resv-rows")) build();
  const rows = $("resv-rows");
  try {
    const list = (await api.all("reservations", "reservations", {}, 5)).sort(byExpiry);
    rows.replaceChildren(...(list.length ? list.map(row)
      : [h("tr", { class: "placeholder" }, h("td", { colspan: 8, text: "No reservations yet: ReserveNow makes one." }))]));
  } catch (e) {
    rows.replaceChildren(h("tr", { class: "placeholder" },
      h("td", { colspan: 8, text: `The reservations could not be loaded: ${e.message}` })));
  }
}
