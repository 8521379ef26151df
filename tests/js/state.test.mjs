import assert from "node:assert/strict";
import { test } from "node:test";

import { niceMax } from "../../static/charts.js";
import {
  activeEnergy, commandOutcome, createState, findSelected, firstPage, firstSamples, freeConnector,
  nextPage, pageLoaded, pageRefused, withSample,
} from "../../static/state.js";

test("paging: next page carries the API's token and the page number; page 1 has no token", () => {
  let page = firstPage();
  assert.deepEqual(page, { token: null, no: 1, next: null });
  assert.equal(nextPage(page), page, "no next page without a nextToken");
  page = pageLoaded(page, "tok2");
  page = nextPage(page);
  assert.deepEqual(page, { token: "tok2", no: 2, next: null });
  assert.deepEqual(pageLoaded(page, undefined), { token: "tok2", no: 2, next: null });
});

test("paging: a refused token (400) goes back to page 1, other failures keep the page", () => {
  const second = { token: "tok2", no: 2, next: "tok3" };
  assert.deepEqual(pageRefused(second, 400), firstPage());
  assert.equal(pageRefused(second, 500), second);
  assert.equal(pageRefused(second, 0), second);
  const first = firstPage();
  assert.equal(pageRefused(first, 400), first);
});

const at = (iso) => Date.parse(iso);

test("a selected session's samples start at 0 kWh and grow with newer readings only", () => {
  const s = { status: "Active", startTime: "2026-01-02T10:00:00Z", lastMeterTime: "2026-01-02T10:05:00Z",
    currentEnergy: 1.5, power: 7.2 };
  let samples = firstSamples(s);
  assert.deepEqual(samples, [[at("2026-01-02T10:00:00Z"), 0, null]]);
  samples = withSample(samples, s);
  assert.deepEqual(samples.at(-1), [at("2026-01-02T10:05:00Z"), 1.5, 7.2]);
  const same = withSample(samples, { ...s, currentEnergy: 1.6 });
  assert.equal(same.length, 2, "a reading at the same time replaces the last");
  assert.equal(same.at(-1)[1], 1.6);
  const older = withSample(same, { ...s, lastMeterTime: "2026-01-02T10:01:00Z" });
  assert.equal(older, same, "an older reading is ignored");
  assert.equal(samples.length, 2, "the steps do not change their input");
});

test("a completed session's sample is at its stop, without power", () => {
  const s = { status: "Completed", startTime: "2026-01-02T10:00:00Z", stopTime: "2026-01-02T11:00:00Z",
    lastMeterTime: "2026-01-02T10:59:00Z", currentEnergy: 11, power: 7 };
  assert.deepEqual(withSample(firstSamples(s), s).at(-1), [at("2026-01-02T11:00:00Z"), 11, null]);
  assert.deepEqual(firstSamples({ startTime: "?" }), []);
  assert.deepEqual(withSample([], { status: "Active" }, 123), [[123, 0, null]], "no reading yet: now, 0 kWh");
});

test("past 2000 samples the oldest after the start point goes", () => {
  let samples = [[0, 0, null]];
  for (let t = 1; t <= 2000; t++) samples = withSample(samples, { status: "Active" }, t);
  assert.equal(samples.length, 2000);
  assert.deepEqual([samples[0][0], samples[1][0], samples.at(-1)[0]], [0, 2, 2000]);
});

test("findSelected looks in the active sessions and the table's page", () => {
  const state = { ...createState(), active: [{ sessionId: "a" }], sessions: [{ sessionId: "b" }] };
  assert.equal(findSelected({ ...state, selectedId: "b" }), state.sessions[0]);
  assert.equal(findSelected({ ...state, selectedId: "a" }), state.active[0]);
  assert.equal(findSelected({ ...state, selectedId: "c" }), undefined);
  assert.equal(findSelected({ ...createState(), selectedId: "a" }), undefined, "before the first refresh");
});

test("energy in active sessions: the sum of those that have a reading", () => {
  const active = [{ currentEnergy: 1.0004 }, { currentEnergy: 2 }, { currentEnergy: null }];
  assert.equal(activeEnergy(active), 3.0004);
});

test("a remote start asks for the first available connector, not the charger's 0", () => {
  assert.equal(freeConnector({ connectorStatus: { 0: { status: "Available" }, 1: { status: "Charging" },
    2: { status: "Available" } } }), 2);
  assert.equal(freeConnector({ connectorStatus: { 1: { status: "Charging" } } }), 1);
  assert.equal(freeConnector({}), 1);
});

test("a command's outcome: the charger's status, its CALLERROR, or the server's timeout", () => {
  const answered = (status) => commandOutcome({ status: "answered", result: { status } });
  assert.deepEqual(answered("Accepted"), { answer: "Accepted", ok: true });
  assert.deepEqual(answered("Rejected"), { answer: "Rejected", ok: false });
  for (const refusal of ["Failed", "NotSupported", "UnlockFailed", "Occupied", "NotImplemented", "VersionMismatch"]) {
    assert.deepEqual(answered(refusal), { answer: refusal, ok: false });
  }
  for (const done of ["Scheduled", "RebootRequired", "Unlocked"]) assert.equal(answered(done).ok, true);
  assert.deepEqual(commandOutcome({ status: "answered", result: { configurationKey: [] } }),
    { answer: "answered", ok: true });
  assert.deepEqual(commandOutcome({ status: "failed", error: { errorCode: "NotSupported" } }),
    { answer: "NotSupported", ok: false });
  assert.deepEqual(commandOutcome({ status: "timedOut" }), { answer: "timedOut", ok: false });
});

test("niceMax rounds an axis up to a 1-2-2.5-5 step", () => {
  assert.deepEqual(niceMax(0), { max: 1, step: 0.25 });
  assert.deepEqual(niceMax(7), { max: 8, step: 2 });
  assert.deepEqual(niceMax(95), { max: 100, step: 25 });
});
