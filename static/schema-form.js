// The command dialog's pure parts (node --test): a command's form from its official OCPP 1.6 request schema, the
// payload from what was typed, and a command queued in parts in words.
import { commandOutcome } from "./state.js";

/** The 19 commands a central system sends, by feature profile. */
export const PROFILES = {
  Core: ["ChangeAvailability", "ChangeConfiguration", "ClearCache", "DataTransfer", "GetConfiguration",
    "RemoteStartTransaction", "RemoteStopTransaction", "Reset", "UnlockConnector"],
  "Firmware Management": ["GetDiagnostics", "UpdateFirmware"],
  "Local Auth List Management": ["GetLocalListVersion", "SendLocalList"],
  Reservation: ["ReserveNow", "CancelReservation"],
  "Smart Charging": ["SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule"],
  "Remote Trigger": ["TriggerMessage"],
};

const SCALARS = ["string", "integer", "number", "boolean"];
const isScalar = (s) => Boolean(s) && (Array.isArray(s.enum) || SCALARS.includes(s.type));

/** One input for a scalar property: enum, datetime, uri, text, integer, number or boolean. */
function scalarKind(s) {
  if (Array.isArray(s.enum)) return "enum";
  if (s.type === "string") return s.format === "date-time" ? "datetime" : s.format === "uri" ? "uri" : "text";
  return s.type;
}

/** The form's fields, in the schema's order. A property is an input; an object of scalars a group of inputs
 *  (path [object, property]); a list of scalars one comma-separated input; anything deeper a JSON textarea.
 *  A field in a group is needed only when its group is given (`inGroup`). */
export function fieldsFor(schema, path = [], groupRequired = true) {
  const needed = new Set(schema?.required || []);
  const fields = [];
  for (const [name, s] of Object.entries(schema?.properties || {})) {
    const at = [...path, name];
    const required = needed.has(name) && groupRequired;
    const base = { name: at.join("."), path: at, required, inGroup: path.length > 0 && needed.has(name) };
    const flat = s.type === "object" && !path.length && Object.values(s.properties || {}).every(isScalar);
    if (flat) fields.push(...fieldsFor(s, at, required));
    else if (isScalar(s)) {
      fields.push({ ...base, kind: scalarKind(s), options: s.enum, maxLength: s.maxLength, min: s.minimum });
    } else if (s.type === "array" && isScalar(s.items)) {
      fields.push({ ...base, kind: "list", item: scalarKind(s.items), maxLength: s.items.maxLength });
    } else fields.push({ ...base, kind: "json", type: s.type, example: skeleton(s) });
  }
  return fields;
}

/** A value of the schema's shape with its required parts only: the starting point of a JSON field. */
export function skeleton(s, now = new Date()) {
  if (Array.isArray(s?.enum)) return s.enum[0];
  switch (s?.type) {
    case "object": return Object.fromEntries((s.required || []).map((k) => [k, skeleton(s.properties?.[k], now)]));
    case "array": return [skeleton(s.items, now)];
    case "integer": case "number": return 0;
    case "boolean": return false;
    case "string": return s.format === "date-time" ? isoSeconds(now) : "";
    default: return null;
  }
}

export const isoSeconds = (d) => d.toISOString().replace(/\.\d{3}Z$/, "Z");
const pad = (n) => String(n).padStart(2, "0");

/** A time as a datetime-local input shows it (the browser's time zone). */
export const toLocalInput = (d) =>
  `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

/** A datetime-local input's value as the UTC date-time OCPP wants, or null. */
export function fromLocalInput(value) {
  const t = new Date(value);
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(value) && !Number.isNaN(t.getTime()) ? isoSeconds(t) : null;
}

/** A reservation id: random in 1 .. 2^31 - 1, an OCPP integer the registry has most likely not seen. */
export const randomReservationId = (random = Math.random) => 1 + Math.floor(random() * (2 ** 31 - 1));

/** What the inputs start with (as typed text): JSON fields their skeleton when required, a new reservation's
 *  random id, a required time now (an expiry in an hour), and what the caller knows (GetDiagnostics' location). */
export function initialValues(action, fields, { now = new Date(), random = Math.random, known = {} } = {}) {
  const values = {};
  for (const f of fields) {
    if (f.kind === "json" && f.required) values[f.name] = JSON.stringify(f.example, null, 2);
    if (f.kind === "datetime" && f.required) {
      values[f.name] = toLocalInput(f.name === "expiryDate" ? new Date(now.getTime() + 3600_000) : now);
    }
  }
  if (action === "ReserveNow") values.reservationId = String(randomReservationId(random));
  return { ...values, ...known };
}

function scalar(kind, text, f) {
  switch (kind) {
    case "integer": return /^-?\d+$/.test(text) ? Number(text) : Error("a whole number");
    case "number": return text !== "" && Number.isFinite(Number(text)) ? Number(text) : Error("a number");
    case "boolean": return text === "true" ? true : text === "false" ? false : Error("true or false");
    case "datetime": return fromLocalInput(text) ?? Error("a date and time");
    case "enum": return f.options.includes(text) ? text : Error(`one of ${f.options.join(", ")}`);
    default: return f.maxLength && text.length > f.maxLength ? Error(`at most ${f.maxLength} characters`) : text;
  }
}

function parse(f, text) {
  if (f.kind === "list") {
    const items = text.split(",").map((t) => t.trim()).filter(Boolean).map((t) => scalar(f.item, t, f));
    return items.find((v) => v instanceof Error) || items;
  }
  if (f.kind === "json") {
    let v;
    try { v = JSON.parse(text); } catch { return Error("JSON"); }
    const ok = f.type === "array" ? Array.isArray(v) : v !== null && typeof v === "object" && !Array.isArray(v);
    return ok ? v : Error(`a JSON ${f.type}`);
  }
  const v = scalar(f.kind, text, f);
  return typeof v === "number" && f.min !== undefined && v < f.min ? Error(`at least ${f.min}`) : v;
}

/** raw: field name -> the text typed. { payload, errors: field name -> what is wrong }; an empty optional field
 *  (or group) is left out, as OCPP wants absent rather than empty values. */
export function readForm(fields, raw) {
  const payload = {};
  const errors = {};
  for (const f of fields) {
    const text = String(raw[f.name] ?? "").trim();
    if (!text) {
      if (f.required) errors[f.name] = "required";
      continue;
    }
    const v = parse(f, text);
    if (v instanceof Error) errors[f.name] = `must be ${v.message}`;
    else if (f.path.length === 1) payload[f.name] = v;
    else (payload[f.path[0]] ??= {})[f.path[1]] = v;
  }
  for (const f of fields) {
    if (f.inGroup && payload[f.path[0]] && !(f.path[1] in payload[f.path[0]]) && !errors[f.name]) {
      errors[f.name] = `required with ${f.path[0]}`;
    }
  }
  return { payload, errors };
}

/** The inverse of readForm: an object's values as the fields' inputs show them. */
export function valuesFrom(fields, object) {
  const values = {};
  for (const f of fields) {
    const v = f.path.reduce((o, k) => o?.[k], object);
    if (v === undefined || v === null) continue;
    if (f.kind === "datetime") values[f.name] = Number.isNaN(Date.parse(v)) ? "" : toLocalInput(new Date(v));
    else if (f.kind === "json") values[f.name] = JSON.stringify(v, null, 2);
    else values[f.name] = Array.isArray(v) ? v.join(", ") : String(v);
  }
  return values;
}

/** A command queued in parts (a long local list): each part's state in words. A part goes once the one before is
 *  Accepted, so one waiting behind a part that was not is never sent. */
export function partStates(parts) {
  let stopped = false;
  return parts.map((p) => {
    const wait = { waiting: stopped ? "not sent" : "waiting for the part before", pending: "waiting for the charger" };
    const accepted = p.result?.status === "Accepted";
    const text = wait[p.status] || commandOutcome(p).answer;
    stopped ||= !wait[p.status] && !accepted;
    return { text, cls: accepted ? "is-ok" : wait[p.status] && text !== "not sent" ? "is-pending" : "is-error" };
  });
}
