// The idTag registry's and the reservations' pure parts: the idTag form's fields, badge colours (node --test).
import { fieldsFor } from "./schema-form.js";

export const ID_TAG_STATUSES = ["Accepted", "Blocked", "Expired", "Invalid"];

/** PUT /idtags/{idTag}'s body (docs/api.md), plus the idTag itself, as form fields. */
export const ID_TAG_FIELDS = fieldsFor({
  properties: {
    idTag: { type: "string", maxLength: 20 },
    status: { type: "string", enum: ID_TAG_STATUSES },
    expiryDate: { type: "string", format: "date-time" },
    parentIdTag: { type: "string", maxLength: 20 },
    maxActiveTransactions: { type: "integer", minimum: 1 },
  },
  required: ["idTag", "status"],
});

// The charge point statuses' colours (dashboard.css) for what an idTag or a reservation's status means.
const ID_TAG_CLASS = { Accepted: "st-Available", Blocked: "st-Faulted", Expired: "st-SuspendedEVSE" };
const RESERVATION_CLASS = { Pending: "st-Preparing", Active: "st-Reserved", Used: "st-Charging",
  Cancelled: "st-Unavailable", Expired: "st-Unavailable" };
export const idTagClass = (status) => ID_TAG_CLASS[status] || "st-Unavailable";
/** The charger's refusals (Occupied, Faulted, Unavailable, Rejected) in red. */
export const reservationClass = (status) => RESERVATION_CLASS[status] || "st-Faulted";

/** A reservation the charger holds (or is about to): CancelReservation can still end it. */
export const isHeld = (r) => ["Pending", "Active"].includes(r.status);

/** Newest expiry first: the reservations that matter now come before the history. */
export const byExpiry = (a, b) => String(b.expiryDate || "").localeCompare(String(a.expiryDate || ""));
