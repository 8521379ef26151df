import assert from "node:assert/strict";
import { test } from "node:test";

import { fleetSeries, historySamples, mergeSamples } from "../../static/history.js";

const at = (iso) => Date.parse(iso);
const value = (v, measurand, unit, extra = {}) => ({ value: v, measurand, unit, phase: null, context: "Sample.Periodic",
  location: "Outlet", ...extra });

test("a session's samples come from its stored readings: kWh since its start, kW, phases left out", () => {
  const session = { startTime: "2026-01-02T10:00:00Z", meterStart: 1000 };
  const readings = [
    { timestamp: "2026-01-02T10:01:00Z", sampledValue: [
      value("16", "Current.Import", "A", { phase: "L1" }),
      value("1500", "Energy.Active.Import.Register", "Wh"),
      value("7", "Power.Active.Import", "kW"),
      value("3000", "Power.Active.Import", "W", { phase: "L1" }),
    ] },
    { timestamp: "2026-01-02T10:02:00Z", sampledValue: [value("1.4", "Energy.Active.Import.Register", "kWh")] },
    { timestamp: "2026-01-02T10:03:00Z", sampledValue: [value("2.5", "Energy.Active.Import.Register", "kWh")] },
    { timestamp: "2026-01-02T10:04:00Z", sampledValue: [value("50", "SoC", "Percent")] },
  ];
  assert.deepEqual(historySamples(session, readings), [
    [at("2026-01-02T10:00:00Z"), 0, null],
    [at("2026-01-02T10:01:00Z"), 0.5, 7],
    [at("2026-01-02T10:03:00Z"), 1.5, null],
  ], "a register below the last is left out, a reading without one too");
});

test("live samples follow the history only when newer than its last reading", () => {
  const history = [[1, 0, null], [5, 1, 2]];
  assert.deepEqual(mergeSamples(history, [[1, 0, null], [5, 1.1, 2], [9, 2, 3]]), [...history, [9, 2, 3]]);
  assert.deepEqual(mergeSamples([], [[1, 0, null]]), [[1, 0, null]]);
});

test("the fleet's points become energy since the window's start and each interval's mean power", () => {
  const data = { intervalSeconds: 300, points: [
    { start: "2026-01-02T10:00:00Z", energyKwh: 0, powerKw: 0 },
    { start: "2026-01-02T10:05:00Z", energyKwh: 1.25, powerKw: 15 },
    { start: "2026-01-02T10:10:00Z", energyKwh: 0.5, powerKw: 6 },
  ] };
  const { energy, power, totalKwh } = fleetSeries(data);
  assert.equal(totalKwh, 1.75);
  assert.deepEqual(energy.map((p) => p[1]), [0, 0, 1.25, 1.75]);
  assert.deepEqual(energy.at(-1)[0], at("2026-01-02T10:15:00Z"));
  assert.deepEqual(power, [[at("2026-01-02T10:00:00Z"), 0], [at("2026-01-02T10:05:00Z"), 15],
    [at("2026-01-02T10:10:00Z"), 6]]);
  assert.deepEqual(fleetSeries({}), { energy: [], power: [], totalKwh: 0 });
});

test("intervals before the first snapshot are not drawn; the one under way ends at its live figure", () => {
  const data = { intervalSeconds: 300, points: [
    { start: "2026-01-02T10:00:00Z", energyKwh: null, powerKw: null, partial: false },
    { start: "2026-01-02T10:05:00Z", energyKwh: 1.25, powerKw: 15, partial: false },
    { start: "2026-01-02T10:10:00Z", energyKwh: 0.5, powerKw: 30, partial: true },
  ], live: { takenAt: "2026-01-02T10:11:00Z", ageSeconds: 40 } };
  const { energy, power, totalKwh } = fleetSeries(data);
  assert.equal(totalKwh, 1.75);
  assert.deepEqual(energy, [[at("2026-01-02T10:05:00Z"), 0], [at("2026-01-02T10:10:00Z"), 1.25],
    [at("2026-01-02T10:11:00Z"), 1.75]]);
  assert.deepEqual(power.map((p) => p[1]), [15, 30]);
});
