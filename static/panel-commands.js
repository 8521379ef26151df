// One charger's command dialog (loaded on first use): any of the 19 commands, its form built from the official
// request schema, sent and followed until final, and the charger's recent commands.
import { withQuery } from "./api.js";
import { api } from "./context.js";
import { $, h } from "./dom.js";
import { shortDate } from "./format.js";
import { collect, renderFields, showErrors } from "./form-view.js";
import { runCommand } from "./panel-chargepoints.js";
import { PROFILES, fieldsFor, initialValues, partStates, randomReservationId, readForm } from "./schema-form.js";
import { commandOutcome } from "./state.js";

const schemas = new Map(); // action -> its schema's promise: the official schemas do not change
let dialog = null;
let cp = null; // the charger the dialog is for
let fields = [];
let formNo = 0; // the latest form: an older one's late schema is dropped

const cpPath = (id, rest) => `chargepoints/${encodeURIComponent(id)}/${rest}`;

function schemaOf(action) {
  if (!schemas.has(action)) {
    const asked = api.request(`ocpp/schemas/${encodeURIComponent(action)}`);
    asked.catch(() => schemas.delete(action)); // asked again next time
    schemas.set(action, asked);
  }
  return schemas.get(action);
}

/** What the system knows for a form: GetDiagnostics' upload location, which the schema requires. */
async function knownValues(action, id) {
  if (action !== "GetDiagnostics") return {};
  const data = await api.request(cpPath(id, "diagnostics/location")).catch(() => ({}));
  return typeof data.location === "string" ? { location: data.location } : {};
}

function build() {
  const select = h("select", { id: "cmd-action", "data-testid": "cmd-action", autofocus: true,
    onchange: () => showForm() },
  ...Object.entries(PROFILES).map(([profile, actions]) => h("optgroup", { label: profile },
    ...actions.map((a) => h("option", { value: a, text: a })))));
  dialog = h("dialog", { class: "dialog", "data-testid": "cmd-dialog", "aria-labelledby": "cmd-title" },
    h("form", { novalidate: true, onsubmit: send },
      h("header", { class: "dialog-head" }, h("h2", { id: "cmd-title" }),
        h("button", { type: "button", class: "btn btn-small btn-ghost", "data-testid": "cmd-close",
          onclick: () => dialog.close() }, "Close")),
      h("div", { class: "field" }, h("label", { for: "cmd-action", text: "Command" }), select),
      h("div", { id: "cmd-local-list", class: "cp-command", "data-testid": "cmd-local-list", hidden: true }),
      h("div", { id: "cmd-fields", class: "fields", "data-testid": "cmd-fields" }),
      h("div", { class: "dialog-actions" },
        h("button", { type: "submit", id: "cmd-send", class: "btn btn-primary", "data-testid": "cmd-send" }, "Send"),
        h("span", { id: "cmd-status", class: "cp-command", "data-testid": "cmd-status", role: "status" })),
      h("ol", { id: "cmd-parts", class: "cmd-recent", "data-testid": "cmd-parts", hidden: true }),
      h("pre", { id: "cmd-result", class: "mono cmd-result", "data-testid": "cmd-result", hidden: true })),
    h("div", { class: "panel-head" }, h("h3", { text: "Recent commands" }),
      h("button", { type: "button", class: "btn btn-small", onclick: () => loadRecent() }, "Reload")),
    h("ol", { id: "cmd-recent", class: "cmd-recent", "data-testid": "cmd-recent" }));
  document.body.append(dialog);
}

export function openCommands(target) {
  if (!dialog) build();
  cp = target;
  $("cmd-title").textContent = `Commands · ${cp.chargePointId}`;
  say("", "");
  $("cmd-result").hidden = $("cmd-parts").hidden = true;
  showForm();
  loadRecent();
  if (!dialog.open) dialog.showModal();
}

function say(text, cls) {
  $("cmd-status").textContent = text;
  $("cmd-status").className = `cp-command ${cls}`;
}

/** runCommand's report for target, shown while the dialog is still on it: the status, and each part's state. */
const reporter = (target) => (text, cls, busy, parts) => {
  if (cp !== target || !dialog.open) return;
  say(text, cls);
  $("cmd-parts").hidden = !parts;
  if (parts) {
    $("cmd-parts").replaceChildren(...partStates(parts).map((s, i) => {
      const { updateType, entries, listVersion, status } = parts[i];
      return h("li", { "data-testid": "cmd-part", "data-status": status }, `Part ${i + 1} of ${parts.length}: ${
        updateType}, ${entries} entr${entries === 1 ? "y" : "ies"}, version ${listVersion} `,
      h("span", { class: s.cls, text: s.text }));
    }));
  }
};

// The local list from the registry (POST .../localList builds the SendLocalList), beside its version on the charger.
const LIST_ACTIONS = ["SendLocalList", "GetLocalListVersion"];

async function showLocalList(action) {
  const box = $("cmd-local-list");
  box.hidden = !LIST_ACTIONS.includes(action);
  if (box.hidden) return;
  const target = cp;
  let text;
  try {
    const l = await api.request(cpPath(target.chargePointId, "localList"));
    text = `Registry version ${l.registryVersion}, the charger holds ${l.chargerVersion ?? "an unknown version"}: `
      + (l.inSync ? "in sync." : "out of sync.");
  } catch (e) {
    text = `The local list's state could not be loaded: ${e.message}.`;
  }
  const send = (updateType) => h("button", { type: "button", class: "btn btn-small",
    "data-testid": `cmd-local-list-${updateType}`, onclick: () => sendList(updateType) }, `Send the registry: ${updateType}`);
  if (cp === target) box.replaceChildren(h("span", { text }), " ", send("Full"), " ", send("Differential"));
}

function sendList(updateType) {
  const target = cp;
  runCommand(target, `SendLocalList (${updateType}, from the registry)`, () => ({ updateType }), reporter(target),
    "localList")
    .then(() => { if (cp === target && dialog.open) { loadRecent(); showLocalList($("cmd-action").value); } });
}

async function showForm() {
  const mine = ++formNo;
  const action = $("cmd-action").value;
  showLocalList(action);
  const box = $("cmd-fields");
  box.replaceChildren(h("p", { class: "muted", text: "Loading the schema…" }));
  $("cmd-send").disabled = true;
  try {
    const [data, known] = await Promise.all([schemaOf(action), knownValues(action, cp.chargePointId)]);
    if (mine !== formNo) return;
    fields = fieldsFor(data);
    box.replaceChildren(...renderFields(fields, initialValues(action, fields, { known })));
    $("cmd-send").disabled = false;
  } catch (e) {
    if (mine === formNo) box.replaceChildren(h("p", { class: "cp-command is-error", text: `No form: ${e.message}` }));
  }
}

async function send(ev) {
  ev.preventDefault();
  const action = $("cmd-action").value;
  const box = $("cmd-fields");
  const { payload, errors } = readForm(fields, collect(box));
  if (!showErrors(box, errors)) return;
  const target = cp;
  const mine = () => cp === target && dialog.open;
  $("cmd-send").disabled = true;
  $("cmd-result").hidden = true;
  const view = await runCommand(target, action, () => ({ action, payload }), reporter(target));
  if (!mine()) return;
  $("cmd-send").disabled = false;
  const shown = view?.result ?? view?.error;
  if (shown) Object.assign($("cmd-result"), { textContent: JSON.stringify(shown, null, 2), hidden: false });
  // That id is taken now, by this reservation or by the charger's refusal: the next one needs another.
  const id = box.querySelector("[data-field=reservationId]");
  if (action === "ReserveNow" && id) id.value = String(randomReservationId());
  loadRecent();
}

async function loadRecent() {
  const target = cp;
  const list = $("cmd-recent");
  let items;
  try {
    const data = await api.request(withQuery(cpPath(target.chargePointId, "commands"), { limit: 10 }));
    const commands = Array.isArray(data.commands) ? data.commands : [];
    items = commands.length ? commands.map(recentItem) : [h("li", { class: "muted", text: "No commands yet." })];
  } catch (e) {
    items = [h("li", { class: "muted", text: `The recent commands could not be loaded: ${e.message}` })];
  }
  if (cp === target) list.replaceChildren(...items);
}

function recentItem(c) {
  const { answer, ok } = commandOutcome(c);
  const pending = c.status === "pending" || c.status === "waiting"; // waiting: a later part, not yet its turn
  return h("li", { "data-testid": "cmd-recent-item", "data-action": c.action, "data-status": c.status },
    h("details", {},
      h("summary", {}, h("time", { datetime: c.createdAt, title: c.createdAt, text: shortDate(c.createdAt) }),
        " ", h("b", { text: c.action }), c.parts ? ` part ${c.part} of ${c.parts} ` : " ",
        h("span", { class: pending ? "is-pending" : ok ? "is-ok" : "is-error",
          text: answer === c.status ? c.status : `${c.status}: ${answer}` })),
      h("pre", { class: "mono", text: JSON.stringify({ payload: c.payload, result: c.result, error: c.error },
        null, 2) })));
}
