import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { ID_TAG_FIELDS, byExpiry, idTagClass, isHeld, reservationClass } from "../../static/records.js";
import {
  PROFILES, fieldsFor, fromLocalInput, initialValues, partStates, randomReservationId, readForm, skeleton, toLocalInput,
  valuesFrom,
} from "../../static/schema-form.js";

// The official request schemas, from the `ocpp` package the server validates with (make's .venv).
const lib = new URL("../../.venv/lib/", import.meta.url);
const python = readdirSync(lib).find((d) => d.startsWith("python"));
const schema = (action) =>
  JSON.parse(readFileSync(new URL(`${python}/site-packages/ocpp/v16/schemas/${action}.json`, lib), "utf8"));
const ACTIONS = Object.values(PROFILES).flat();
const shape = (fields) => fields.map((f) => [f.name, f.kind, f.required]);

test("the 19 central-system commands, each once", () => {
  assert.equal(ACTIONS.length, 19);
  assert.equal(new Set(ACTIONS).size, 19);
});

test("scalar properties become typed inputs, required ones marked (ReserveNow)", () => {
  const fields = fieldsFor(schema("ReserveNow"));
  assert.deepEqual(shape(fields), [["connectorId", "integer", true], ["expiryDate", "datetime", true],
    ["idTag", "text", true], ["parentIdTag", "text", false], ["reservationId", "integer", true]]);
  assert.equal(fields.find((f) => f.name === "idTag").maxLength, 20);
});

test("enums, uris, lists of strings and deep objects get their own kinds", () => {
  const trigger = fieldsFor(schema("TriggerMessage"))[0];
  assert.equal(trigger.kind, "enum");
  assert.ok(trigger.options.includes("StatusNotification"));
  assert.deepEqual(shape(fieldsFor(schema("UpdateFirmware"))).slice(0, 3),
    [["location", "uri", true], ["retries", "integer", false], ["retrieveDate", "datetime", true]]);
  const [key] = fieldsFor(schema("GetConfiguration"));
  assert.deepEqual([key.kind, key.item, key.maxLength, key.required], ["list", "text", 50, false]);
  const profile = fieldsFor(schema("RemoteStartTransaction")).find((f) => f.name === "chargingProfile");
  assert.deepEqual([profile.kind, profile.type, profile.required], ["json", "object", false]);
  const list = fieldsFor(schema("SendLocalList")).find((f) => f.name === "localAuthorizationList");
  assert.deepEqual([list.kind, list.type], ["json", "array"]);
  assert.deepEqual(fieldsFor(schema("ClearCache")), []);
});

test("a deep object's example has its required parts, down to the schedule's periods", () => {
  const [, profiles] = fieldsFor(schema("SetChargingProfile"));
  assert.equal(profiles.name, "csChargingProfiles");
  assert.deepEqual(profiles.example, {
    chargingProfileId: 0, stackLevel: 0, chargingProfilePurpose: "ChargePointMaxProfile",
    chargingProfileKind: "Absolute",
    chargingSchedule: { chargingRateUnit: "A", chargingSchedulePeriod: [{ startPeriod: 0, limit: 0 }] },
  });
  assert.equal(skeleton({ type: "string", format: "date-time" }, new Date("2026-01-02T03:04:05.678Z")),
    "2026-01-02T03:04:05Z");
});

test("an object of scalars is a group of inputs, needed in full once any of it is given", () => {
  const fields = fieldsFor({ properties: { limit: { type: "object", required: ["value"],
    properties: { value: { type: "number" }, unit: { enum: ["A", "W"] } } } } });
  assert.deepEqual(shape(fields), [["limit.value", "number", false], ["limit.unit", "enum", false]]);
  assert.deepEqual(readForm(fields, {}), { payload: {}, errors: {} });
  assert.deepEqual(readForm(fields, { "limit.unit": "W" }).errors, { "limit.value": "required with limit" });
  assert.deepEqual(readForm(fields, { "limit.value": "7.5", "limit.unit": "W" }).payload,
    { limit: { value: 7.5, unit: "W" } });
  const required = fieldsFor({ required: ["limit"], properties: { limit: { type: "object", required: ["value"],
    properties: { value: { type: "integer" } } } } });
  assert.deepEqual(readForm(required, {}).errors, { "limit.value": "required" });
});

test("readForm types what was typed and leaves out empty optional fields", () => {
  const fields = fieldsFor(schema("ReserveNow"));
  const { payload, errors } = readForm(fields, { connectorId: " 2 ", expiryDate: "2026-05-01T10:30", idTag: "TAG1",
    parentIdTag: "", reservationId: "17" });
  assert.deepEqual(errors, {});
  assert.deepEqual(payload, { connectorId: 2, expiryDate: fromLocalInput("2026-05-01T10:30"), idTag: "TAG1",
    reservationId: 17 });
  assert.match(payload.expiryDate, /^2026-05-01T\d\d:30:00Z$/);
});

test("readForm says what is wrong, field by field", () => {
  const reserve = readForm(fieldsFor(schema("ReserveNow")), { connectorId: "1.5", expiryDate: "soon",
    idTag: "X".repeat(21), reservationId: "" });
  assert.deepEqual(reserve.errors, { connectorId: "must be a whole number", expiryDate: "must be a date and time",
    idTag: "must be at most 20 characters", reservationId: "required" });
  const trigger = readForm(fieldsFor(schema("TriggerMessage")), { requestedMessage: "Nope" });
  assert.match(trigger.errors.requestedMessage, /^must be one of BootNotification, /);
  const profile = fieldsFor(schema("SetChargingProfile"));
  assert.deepEqual(readForm(profile, { connectorId: "0", csChargingProfiles: "{oops" }).errors,
    { csChargingProfiles: "must be JSON" });
  assert.deepEqual(readForm(profile, { connectorId: "0", csChargingProfiles: "[1]" }).errors,
    { csChargingProfiles: "must be a JSON object" });
  const tag = readForm(ID_TAG_FIELDS, { idTag: "A", status: "Accepted", maxActiveTransactions: "0" });
  assert.deepEqual(tag.errors, { maxActiveTransactions: "must be at least 1" });
  const number = fieldsFor({ properties: { n: { type: "number" }, b: { type: "boolean" } } });
  assert.deepEqual(readForm(number, { n: "1e3", b: "false" }).payload, { n: 1000, b: false });
  assert.deepEqual(readForm(number, { n: "x", b: "yes" }).errors, { n: "must be a number", b: "must be true or false" });
});

test("a list is comma-separated, each item checked", () => {
  const fields = fieldsFor(schema("GetConfiguration"));
  assert.deepEqual(readForm(fields, { key: "HeartbeatInterval, ,MeterValueSampleInterval" }).payload,
    { key: ["HeartbeatInterval", "MeterValueSampleInterval"] });
  assert.deepEqual(readForm(fields, { key: "K".repeat(51) }).errors, { key: "must be at most 50 characters" });
});

test("every command's form, as it starts, lacks only what the operator must choose", () => {
  const now = new Date(2026, 4, 1, 10, 30);
  for (const action of ACTIONS) {
    const fields = fieldsFor(schema(action));
    const start = initialValues(action, fields, { now, random: () => 0.5, known: { location: "http://h/u" } });
    const missing = Object.keys(readForm(fields, start).errors);
    const required = fields.filter((f) => f.required && !["json", "datetime"].includes(f.kind)).map((f) => f.name);
    assert.deepEqual(missing, required.filter((n) => !(n in start)), action);
  }
});

test("a reservation starts with a random 31-bit id and an expiry in an hour; diagnostics with the given location", () => {
  const now = new Date(2026, 4, 1, 10, 30);
  const reserve = fieldsFor(schema("ReserveNow"));
  const values = initialValues("ReserveNow", reserve, { now, random: () => 0 });
  assert.equal(values.reservationId, "1");
  assert.equal(values.expiryDate, "2026-05-01T11:30");
  assert.equal(initialValues("CancelReservation", fieldsFor(schema("CancelReservation")), { now }).reservationId,
    undefined, "cancelling names an existing reservation");
  assert.equal(randomReservationId(() => 1 - 2 ** -53), 2 ** 31 - 1);
  for (let i = 0; i < 100; i++) assert.ok(Number.isSafeInteger(randomReservationId()));
  const diagnostics = initialValues("GetDiagnostics", fieldsFor(schema("GetDiagnostics")),
    { known: { location: "http://127.0.0.1:8000/diagnostics/CP-1/x.zip" } });
  assert.deepEqual(diagnostics, { location: "http://127.0.0.1:8000/diagnostics/CP-1/x.zip" });
  const profile = initialValues("SetChargingProfile", fieldsFor(schema("SetChargingProfile")), { now });
  assert.equal(JSON.parse(profile.csChargingProfiles).chargingProfileKind, "Absolute");
});

test("local date-time inputs and UTC date-times convert both ways", () => {
  const d = new Date(2026, 11, 3, 4, 5);
  assert.equal(toLocalInput(d), "2026-12-03T04:05");
  assert.equal(fromLocalInput("2026-12-03T04:05"), d.toISOString().replace(".000Z", "Z"));
  assert.equal(fromLocalInput(""), null);
  assert.equal(fromLocalInput("2026-13-45T99:99"), null);
});

test("valuesFrom fills a form from an idTag entry, and reading it back gives the entry", () => {
  const entry = { idTag: "TAG-9", status: "Blocked", expiryDate: new Date(2027, 0, 1, 8, 0).toISOString()
    .replace(".000Z", "Z"), parentIdTag: "FLEET", maxActiveTransactions: 2, updatedAt: "2026-01-01T00:00:00Z" };
  const values = valuesFrom(ID_TAG_FIELDS, entry);
  assert.deepEqual(Object.keys(values), ["idTag", "status", "expiryDate", "parentIdTag", "maxActiveTransactions"]);
  const { updatedAt, ...rest } = entry;
  assert.ok(updatedAt);
  assert.deepEqual(readForm(ID_TAG_FIELDS, values), { payload: rest, errors: {} });
  const key = fieldsFor(schema("GetConfiguration"));
  assert.deepEqual(valuesFrom(key, { key: ["A", "B"] }), { key: "A, B" });
});

test("statuses get the dashboard's colours; held reservations can be cancelled; newest expiry first", () => {
  assert.deepEqual(["Accepted", "Blocked", "Expired", "Invalid"].map(idTagClass),
    ["st-Available", "st-Faulted", "st-SuspendedEVSE", "st-Unavailable"]);
  assert.deepEqual(["Active", "Used", "Cancelled", "Occupied", "Rejected"].map(reservationClass),
    ["st-Reserved", "st-Charging", "st-Unavailable", "st-Faulted", "st-Faulted"]);
  assert.deepEqual(["Pending", "Active", "Used", "Expired"].map((status) => isHeld({ status })),
    [true, true, false, false]);
  const list = [{ expiryDate: "2026-01-01T00:00:00Z" }, {}, { expiryDate: "2026-03-01T00:00:00Z" }];
  assert.deepEqual(list.sort(byExpiry).map((r) => r.expiryDate), ["2026-03-01T00:00:00Z", "2026-01-01T00:00:00Z",
    undefined]);
});

test("a command in parts: each part's state, and behind a part not Accepted the waiting ones are never sent", () => {
  const answered = (status) => ({ status: "answered", result: { status } });
  const waiting = { status: "waiting" };
  assert.deepEqual(partStates([{ status: "pending" }, waiting]), [
    { text: "waiting for the charger", cls: "is-pending" }, { text: "waiting for the part before", cls: "is-pending" }]);
  const failed = [answered("Accepted"), answered("Failed"), waiting, waiting];
  assert.deepEqual(partStates(failed).map((s) => `${s.text} ${s.cls}`),
    ["Accepted is-ok", "Failed is-error", "not sent is-error", "not sent is-error"]);
  const timedOut = [{ status: "timedOut" }, waiting];
  assert.deepEqual(partStates(timedOut).map((s) => s.text), ["timedOut", "not sent"]);
  // Accepted, but the charger went offline before the next part: the server failed it.
  const offline = [answered("Accepted"), { status: "failed", error: { errorCode: "GenericError" } }, waiting];
  assert.deepEqual(partStates(offline).map((s) => s.text), ["Accepted", "GenericError", "not sent"]);
});
