// The page's state and the pure steps that change it (node --test).
import { isNum } from "./format.js";

const MAX_SAMPLES = 2000;

export function createState() {
  return {
    needKey: false,
    commands: {}, // id -> { text, cls, busy }: a note outlives the grid's redraw
    stats: null,
    chargePoints: null,
    active: [], // every active session
    sessions: null, // the table's page
    filter: "",
    page: firstPage(),
    up: true,
    lastOk: null,
    selectedId: null,
    selected: null,
    samples: [], // [timeMs, energyKwh, powerKw|null]
  };
}

// ---------- the sessions table's pages ----------
export const firstPage = () => ({ token: null, no: 1, next: null });
export const nextPage = (page) => (page.next ? { token: page.next, no: page.no + 1, next: null } : page);
export const pageLoaded = (page, nextToken) => ({ ...page, next: nextToken || null });
/** A page token the API refuses (400) sends the table back to page 1. */
export const pageRefused = (page, status) => (status === 400 && page.token ? firstPage() : page);

// ---------- the selected session's chart ----------
/** A chart starts from the session's start at 0 kWh. */
export function firstSamples(session) {
  const t0 = Date.parse(session.startTime);
  return Number.isNaN(t0) ? [] : [[t0, 0, null]];
}

/** Plus the session's reading: at the last one's time it replaces it, older it is ignored; past MAX_SAMPLES the
 *  oldest after the start goes. */
export function withSample(samples, s, now = Date.now()) {
  const active = s.status === "Active";
  const t = active
    ? Date.parse(s.lastMeterTime) || now
    : Date.parse(s.stopTime) || Date.parse(s.lastMeterTime) || now;
  const sample = [t, isNum(s.currentEnergy) ? s.currentEnergy : 0, active && isNum(s.power) ? s.power : null];
  const last = samples[samples.length - 1];
  if (last && last[0] === t) return [...samples.slice(0, -1), sample];
  if (last && t < last[0]) return samples;
  const next = [...samples, sample];
  if (next.length > MAX_SAMPLES) next.splice(1, 1);
  return next;
}

export const findSelected = (state) =>
  [...state.active, ...(state.sessions || [])].find((s) => s.sessionId === state.selectedId);

// ---------- the fleet ----------
export const activeEnergy = (active) =>
  active.reduce((a, s) => a + (isNum(s.currentEnergy) ? s.currentEnergy : 0), 0);

// ---------- remote commands ----------
/** A remote start's connector: the first available, else 1. */
export function freeConnector(cp) {
  const free = Object.entries(cp.connectorStatus || {}).find(([id, c]) => id !== "0" && c?.status === "Available");
  return free ? Number(free[0]) : 1;
}

// What means done; any other status (Rejected, Failed, NotSupported, ...) is a refusal.
const DONE = new Set(["Accepted", "Scheduled", "RebootRequired", "Unlocked"]);

/** A final command's answer, or why there is none (no status, as GetConfiguration's: done). */
export function commandOutcome(view) {
  const status = view.result?.status;
  const answer = status || view.error?.errorCode || view.status;
  return { answer, ok: view.status === "answered" && (!status || DONE.has(status)) };
}
