// The charger detail dialog's pure parts: the local list's state, limits, profiles, schedules as text and as
// steps for charts.js, file sizes (node --test).
import { isNum, pad } from "./format.js";

const hm = (ms) => { const d = new Date(ms); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };

/** GET .../localList in words, whether it is what the registry holds, and its badge's colour: a mismatch in red,
 *  a version not known (or no list supported) in grey. */
export function localListState(l) {
  const v = l?.chargerVersion;
  if (v === -1) {
    return { label: "Not supported", ok: false, cls: "st-Unavailable",
      text: "The charger has no local list (version -1)." };
  }
  if (!isNum(v)) {
    return { label: "Unknown", ok: false, cls: "st-Unavailable",
      text: "The charger's version is unknown: no SendLocalList or GetLocalListVersion answered yet." };
  }
  if (l.inSync) {
    return { label: "In sync", ok: true, cls: "st-Available", text: `The charger holds the registry's version ${v}.` };
  }
  return { label: "Out of sync", ok: false, cls: "st-Faulted",
    text: `The charger holds version ${v}, the registry is at ${l.registryVersion}.` };
}

/** A limit in its unit: watts as kW, amperes as A; null is no limit. */
export function limitText(limit, unit = "W") {
  if (!isNum(limit)) return "no limit";
  if (unit === "A") return `${+limit.toFixed(1)} A`;
  return `${+(limit / 1000).toFixed(1)} kW`;
}

function secondsText(s) {
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** One line of a stored profile: id, purpose, kind, stack level, connector and its periods. */
export function profileText(p) {
  const s = p.chargingSchedule || {};
  const kind = p.recurrencyKind ? `${p.chargingProfileKind} ${p.recurrencyKind}` : p.chargingProfileKind;
  const periods = (s.chargingSchedulePeriod || []).map((q) => limitText(q.limit, s.chargingRateUnit)
    + (q.startPeriod ? ` from ${secondsText(q.startPeriod)}` : "")).join(", ");
  const span = [s.startSchedule ? `start ${s.startSchedule}` : null,
    isNum(s.duration) ? `for ${secondsText(s.duration)}` : null].filter(Boolean).join(" ");
  return `#${p.chargingProfileId} ${p.chargingProfilePurpose}, ${kind}, stack level ${p.stackLevel}, `
    + `connector ${p.connectorId}: ${periods || "no periods"}${span ? ` (${span})` : ""}`;
}

/** A composite schedule's periods as [{from, to, limit}] (epoch ms), equal neighbours merged. */
export function scheduleSpans(schedule) {
  const start = Date.parse(schedule?.startSchedule);
  const periods = schedule?.chargingSchedulePeriod || [];
  if (Number.isNaN(start) || !periods.length) return [];
  const end = start + (isNum(schedule.duration) ? schedule.duration : 86400) * 1000;
  const spans = [];
  periods.forEach((p, i) => {
    const from = start + p.startPeriod * 1000;
    const to = i + 1 < periods.length ? start + periods[i + 1].startPeriod * 1000 : end;
    const limit = isNum(p.limit) ? p.limit : null;
    const last = spans[spans.length - 1];
    if (last && last.limit === limit) last.to = to;
    else spans.push({ from, to, limit });
  });
  return spans;
}

/** "no limit until 16:59, 6.9 kW until 20:59, then no limit"; time(ms) writes a time (local hh:mm). */
export function scheduleText(schedule, time = hm) {
  const spans = scheduleSpans(schedule);
  const unit = schedule?.chargingRateUnit;
  if (!spans.length) return "no schedule";
  if (spans.length === 1) {
    return `${limitText(spans[0].limit, unit)} for ${secondsText((spans[0].to - spans[0].from) / 1000)}`;
  }
  return spans.map((s, i) => (i + 1 < spans.length ? `${limitText(s.limit, unit)} until ${time(s.to)}`
    : `then ${limitText(s.limit, unit)}`)).join(", ");
}

/** The points of a step line for charts.js in kW (W schedules): no limit drawn at ceilingW, the charger's max. */
export function stepPoints(schedule, ceilingW) {
  return scheduleSpans(schedule).flatMap((s) => {
    const kw = (s.limit ?? ceilingW) / 1000;
    return [[s.from, kw], [s.to, kw]];
  });
}

/** Whether any period of the schedule limits. */
export const limits = (schedule) => scheduleSpans(schedule).some((s) => s.limit !== null);

export function fileSize(bytes) {
  if (!isNum(bytes)) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${+(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The configuration snapshot ({key: {value, readonly, ...}}) as rows sorted by key. */
export const configRows = (configuration) => Object.entries(configuration || {})
  .map(([key, v]) => ({ key, ...v })).sort((a, b) => a.key.localeCompare(b.key));
