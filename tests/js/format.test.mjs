import assert from "node:assert/strict";
import { test } from "node:test";

import { duration, frameAction, isNum, money, relTime, shortDate, statusClass } from "../../static/format.js";

test("relTime counts seconds, then minutes, hours and days; never for no time", () => {
  const now = Date.parse("2026-01-02T12:00:00Z");
  assert.equal(relTime("2026-01-02T11:59:59Z", now), "1 s ago");
  assert.equal(relTime("2026-01-02T11:58:30Z", now), "1 min ago");
  assert.equal(relTime("2026-01-02T09:00:00Z", now), "3 h ago");
  assert.equal(relTime("2025-12-30T12:00:00Z", now), "3 d ago");
  assert.equal(relTime("2026-01-02T12:00:05Z", now), "0 s ago", "a clock ahead of ours is not the future");
  assert.equal(relTime(undefined, now), "never");
});

test("duration shows minutes and seconds, or hours and minutes", () => {
  assert.equal(duration(65_000), "1 min 05 s");
  assert.equal(duration(3 * 3600_000 + 7 * 60_000 + 59_000), "3 h 07 min");
  assert.equal(duration(-1), "—");
  assert.equal(duration(NaN), "—");
});

test("money uses the currency, and falls back on a code Intl does not know", () => {
  assert.match(money(12.5, "EUR"), /12[.,]50/);
  assert.match(money(12.5, "EUR"), /€/);
  assert.match(money(3, "NOTACODE"), /^3[.,]00 NOTACODE$/);
  assert.equal(money(null, "EUR"), "—");
  assert.equal(money(Infinity, "EUR"), "—");
});

test("shortDate leaves the date out for today only", () => {
  const today = new Date(2026, 0, 2, 18, 0, 0);
  assert.equal(shortDate(new Date(2026, 0, 2, 9, 5, 7).toISOString(), today), "09:05:07");
  const other = shortDate(new Date(2026, 0, 1, 9, 5, 7).toISOString(), today);
  assert.match(other, /09:05:07$/);
  assert.notEqual(other, "09:05:07");
  assert.equal(shortDate("not a time", today), "—");
});

test("an unknown status gets the Unknown colour, never a class built from API data", () => {
  assert.equal(statusClass("Charging"), "st-Charging");
  assert.equal(statusClass("<b>x</b>"), "st-Unknown");
});

test("frameAction names a CALL by its action and the answers by their kind", () => {
  assert.equal(frameAction([2, "1", "Heartbeat", {}]), "Heartbeat");
  assert.equal(frameAction([3, "1", {}]), "CallResult");
  assert.equal(frameAction([4, "1", "NotImplemented", "", {}]), "CallError NotImplemented");
  assert.equal(frameAction({}), "?");
  assert.equal(frameAction([9]), "?");
});

test("isNum accepts finite numbers only", () => {
  assert.deepEqual([0, 1.5, NaN, Infinity, "1", null].map(isNum), [true, true, false, false, false, false]);
});
