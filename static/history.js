// The charts' data from the server's stored history: a session's meter readings, the fleet's energy per
// interval. Pure (node --test).

const ENERGY = "Energy.Active.Import.Register";
const POWER = "Power.Active.Import";
const SCALE = { Wh: 1, kWh: 1000, W: 1, kW: 1000 };

/** The whole-meter value of a measurand in a reading (no phase; Wh or W), or null. */
function whole(reading, measurand) {
  const v = reading.sampledValue.find((s) => s.measurand === measurand && !s.phase
    && (s.location === "Outlet" || s.location === "EV") && s.unit in SCALE);
  const x = v ? Number(v.value) * SCALE[v.unit] : NaN;
  return Number.isFinite(x) ? x : null;
}

/** A session's chart samples [timeMs, kWh since its start, kW or null] from its stored readings: the start
 *  at 0 kWh, then each reading with an energy register (a register below the last is left out). */
export function historySamples(session, meterValues) {
  const t0 = Date.parse(session.startTime);
  const samples = Number.isNaN(t0) ? [] : [[t0, 0, null]];
  let last = Number(session.meterStart) || 0;
  for (const reading of meterValues) {
    const t = Date.parse(reading.timestamp);
    const wh = whole(reading, ENERGY);
    if (Number.isNaN(t) || wh === null || wh < last) continue;
    last = wh;
    const w = whole(reading, POWER);
    samples.push([t, Math.round(wh - (Number(session.meterStart) || 0)) / 1000, w === null ? null : w / 1000]);
  }
  return samples;
}

/** The history, then the live samples newer than its last. */
export function mergeSamples(history, live) {
  const end = history.length ? history[history.length - 1][0] : -Infinity;
  return [...history, ...live.filter((s) => s[0] > end)];
}

/** /stats/energy's points as chart series: energy since the window's start (kWh, at each interval's end)
 *  and the mean power of each interval (kW, at its start). An interval no stored snapshot bounds (energyKwh
 *  null: before the first one) is not drawn; the interval under way (partial) ends when its live figure was
 *  taken (`live.takenAt`, normally under a minute ago), not at its end. */
export function fleetSeries(data) {
  const step = (Number(data.intervalSeconds) || 300) * 1000;
  const energy = [];
  const power = [];
  let total = 0;
  for (const p of data.points || []) {
    const t = Date.parse(p.start);
    if (Number.isNaN(t) || p.energyKwh === null || p.energyKwh === undefined) continue;
    if (!energy.length) energy.push([t, 0]);
    total += Number(p.energyKwh) || 0;
    const end = p.partial && data.live ? Math.min(t + step, Math.max(Date.parse(data.live.takenAt), t)) : t + step;
    energy.push([end, Math.round(total * 1000) / 1000]);
    power.push([t, Number(p.powerKw) || 0]);
  }
  return { energy, power, totalKwh: Math.round(total * 1000) / 1000 };
}
