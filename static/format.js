// How values read on the page: numbers, money, times, statuses. Pure (tested with node --test).

export const STATUSES = ["Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV",
  "Finishing", "Reserved", "Unavailable", "Faulted"];
export const statusClass = (s) => "st-" + (STATUSES.includes(s) ? s : "Unknown");

export const pad = (n) => String(n).padStart(2, "0");
export const hms = (d) => `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
export const num = (v, digits = 0) =>
  Number(v).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
export const isNum = (v) => typeof v === "number" && Number.isFinite(v);

export function money(v, currency) {
  if (!isNum(v)) return "—";
  try {
    return v.toLocaleString(undefined, { style: "currency", currency: currency || "EUR" });
  } catch {
    return `${num(v, 2)} ${currency || ""}`.trim();
  }
}

export function relTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "never";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

export function duration(ms) {
  if (!(ms >= 0)) return "—";
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${pad(m)} min`;
  return `${m} min ${pad(s % 60)} s`;
}

/** The time alone for today, with the date otherwise. */
export function shortDate(iso, today = new Date()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "—";
  const d = new Date(t);
  const time = hms(d);
  return d.toDateString() === today.toDateString()
    ? time
    : `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${time}`;
}

/** What an OCPP-J frame is, in one word: its action for a CALL. */
export function frameAction(msg) {
  if (!Array.isArray(msg)) return "?";
  if (msg[0] === 2) return String(msg[2]);
  if (msg[0] === 3) return "CallResult";
  if (msg[0] === 4) return `CallError ${msg[2] ?? ""}`.trim();
  return "?";
}
