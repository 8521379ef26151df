// "Simulate now" and the simulator log: the frames one tick published.
import { api } from "./context.js";
import { $, h } from "./dom.js";
import { frameAction, hms } from "./format.js";

const LOG_MAX = 30;

function logSim(entry) {
  const log = $("sim-log");
  log.querySelector(".sim-empty")?.remove();
  log.prepend(entry);
  while (log.children.length > LOG_MAX) log.lastElementChild.remove();
}

function failure(e) {
  if (e.status === 409) return `Simulator busy: ${e.message}. Try again in a moment.`;
  if (e.status) return `Simulate failed (${e.status} ${e.code}): ${e.message}`;
  return "Simulate failed: the API could not be reached.";
}

async function simulate(refresh) {
  const btn = $("simulate-button");
  btn.disabled = true;
  btn.textContent = "Simulating…";
  const time = h("time", { text: hms(new Date()) });
  try {
    const data = await api.request("simulate", "POST");
    const msgs = Array.isArray(data.messages) ? data.messages : [];
    const frames = h("ul", { class: "sim-frames" }, ...msgs.map((m) => h("li", { "data-testid": "sim-frame" },
      h("span", { class: "sim-cp", text: m.chargePointId ?? "?" }),
      h("span", { class: "sim-action", text: frameAction(m.message) }))));
    logSim(h("li", { class: "sim-entry", "data-testid": "sim-entry" }, h("div", { class: "sim-head" }, time,
      ` Published ${msgs.length} frame${msgs.length === 1 ? "" : "s"}`), frames));
    await refresh();
  } catch (e) {
    logSim(h("li", { class: `sim-entry ${e.status === 409 ? "is-busy" : "is-error"}`, "data-testid": "sim-error" },
      h("div", { class: "sim-head" }, time, ` ${failure(e)}`)));
    if (!e.status) refresh();
  } finally {
    btn.disabled = false;
    btn.textContent = "Simulate now";
  }
}

export function wireSimulator(refresh) {
  $("simulate-button").addEventListener("click", () => simulate(refresh));
}
