// The statistics cards: what GET stats says, plus the live energy of active sessions.
import { state } from "./context.js";
import { $ } from "./dom.js";
import { isNum, money, num } from "./format.js";
import { activeEnergy } from "./state.js";

const COUNTS = ["totalChargePoints", "availableChargePoints", "chargingChargePoints", "activeSessions",
  "completedSessions", "rejectedMessages"];

export function renderStats() {
  const s = state.stats;
  const set = (key, str) => {
    const node = $(`stat-${key}`);
    node.textContent = str;
    node.dataset.value = String(s[key]);
    node.classList.remove("is-loading");
  };
  for (const k of COUNTS) set(k, isNum(s[k]) ? num(s[k]) : "—");
  set("totalEnergyKwh", isNum(s.totalEnergyKwh) ? `${num(s.totalEnergyKwh, 1)} kWh` : "—");
  set("totalRevenue", money(s.totalRevenue, s.currency));
  $("stat-currency").textContent = s.currency ? `Currency: ${s.currency}` : "\u00a0";
  $("stat-activeEnergy").textContent = `+ ${num(activeEnergy(state.active), 1)} kWh in active sessions`;
  $("stat-rejectedMessages").parentElement.classList.toggle("warn", s.rejectedMessages > 0);
}
