import assert from "node:assert/strict";
import { test } from "node:test";

import {
  configRows, fileSize, limitText, limits, localListState, profileText, scheduleSpans, scheduleText, stepPoints,
} from "../../static/detail.js";

const START = "2026-12-03T04:00:00.000Z";
const T0 = Date.parse(START);
const composite = (periods, duration = 86400) =>
  ({ startSchedule: START, duration, chargingRateUnit: "W", chargingSchedulePeriod: periods });
const utc = (ms) => new Date(ms).toISOString().slice(11, 16);

test("the local list's state: in sync, a mismatch, unknown, not supported", () => {
  assert.deepEqual(localListState({ registryVersion: 4, chargerVersion: 4, inSync: true }),
    { label: "In sync", ok: true, cls: "st-Available", text: "The charger holds the registry's version 4." });
  assert.deepEqual(localListState({ registryVersion: 5, chargerVersion: 3, inSync: false }),
    { label: "Out of sync", ok: false, cls: "st-Faulted", text: "The charger holds version 3, the registry is at 5." });
  const unknown = localListState({ registryVersion: 0, chargerVersion: null, inSync: false });
  assert.deepEqual([unknown.label, unknown.ok, unknown.cls], ["Unknown", false, "st-Unavailable"]);
  assert.equal(localListState({ registryVersion: 2, chargerVersion: -1, inSync: false }).label, "Not supported");
  assert.equal(localListState(null).label, "Unknown");
});

test("limits read in kW for watts, in A for amperes; null is no limit", () => {
  assert.equal(limitText(6900), "6.9 kW");
  assert.equal(limitText(22000, "W"), "22 kW");
  assert.equal(limitText(16, "A"), "16 A");
  assert.equal(limitText(null), "no limit");
});

test("a composite's periods become spans to its end, equal neighbours merged", () => {
  const s = composite([{ startPeriod: 0, limit: null }, { startPeriod: 3600, limit: 6900 },
    { startPeriod: 7200, limit: 6900 }, { startPeriod: 10800, limit: null }]);
  assert.deepEqual(scheduleSpans(s), [
    { from: T0, to: T0 + 3600e3, limit: null },
    { from: T0 + 3600e3, to: T0 + 10800e3, limit: 6900 },
    { from: T0 + 10800e3, to: T0 + 86400e3, limit: null },
  ]);
  assert.equal(scheduleText(s, utc), "no limit until 05:00, 6.9 kW until 07:00, then no limit");
  assert.ok(limits(s));
  assert.deepEqual(scheduleSpans({ startSchedule: "not a date", chargingSchedulePeriod: [] }), []);
});

test("one period reads as its limit for the schedule's length; none as no schedule", () => {
  const open = composite([{ startPeriod: 0, limit: null }]);
  assert.equal(scheduleText(open), "no limit for 24 h");
  assert.equal(limits(open), false);
  assert.equal(scheduleText(composite([{ startPeriod: 0, limit: 11000 }], 5400)), "11 kW for 90 min");
  assert.equal(scheduleText(undefined), "no schedule");
});

test("step points hold each limit to its span's end, no limit at the ceiling, in kW", () => {
  const s = composite([{ startPeriod: 0, limit: 7000 }, { startPeriod: 60, limit: null }], 120);
  assert.deepEqual(stepPoints(s, 50000), [[T0, 7], [T0 + 60e3, 7], [T0 + 60e3, 50], [T0 + 120e3, 50]]);
});

test("a stored profile in one line", () => {
  assert.equal(profileText({ chargingProfileId: 9, stackLevel: 0, chargingProfilePurpose: "TxDefaultProfile",
    chargingProfileKind: "Recurring", recurrencyKind: "Daily", connectorId: 1,
    chargingSchedule: { startSchedule: "2026-01-01T17:00:00Z", duration: 14400, chargingRateUnit: "A",
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 10 }, { startPeriod: 1800, limit: 16 }] } }),
  "#9 TxDefaultProfile, Recurring Daily, stack level 0, connector 1: 10 A, 16 A from 30 min "
    + "(start 2026-01-01T17:00:00Z for 4 h)");
  assert.equal(profileText({ chargingProfileId: 1, stackLevel: 2, chargingProfilePurpose: "ChargePointMaxProfile",
    chargingProfileKind: "Relative", connectorId: 0, chargingSchedule: { chargingRateUnit: "W",
      chargingSchedulePeriod: [{ startPeriod: 0, limit: 22000 }] } }),
  "#1 ChargePointMaxProfile, Relative, stack level 2, connector 0: 22 kW");
});

test("file sizes and the configuration's rows by key", () => {
  assert.equal(fileSize(219), "219 B");
  assert.equal(fileSize(1536), "1.5 KiB");
  assert.equal(fileSize(3 * 1024 * 1024), "3 MiB");
  assert.equal(fileSize(undefined), "—");
  assert.deepEqual(configRows({ b: { value: "1", readonly: true }, a: { value: "x", readonly: false } }),
    [{ key: "a", value: "x", readonly: false }, { key: "b", value: "1", readonly: true }]);
  assert.deepEqual(configRows(undefined), []);
});
