// The idTag registry view (loaded when it first opens): the tags Authorize and StartTransaction answer from,
// listed, added or edited (PUT replaces an entry) and deleted.
import { api } from "./context.js";
import { $, h } from "./dom.js";
import { shortDate } from "./format.js";
import { collect, renderFields, showErrors } from "./form-view.js";
import { ID_TAG_FIELDS, idTagClass } from "./records.js";
import { readForm, valuesFrom } from "./schema-form.js";

const tagPath = (idTag) => `idtags/${encodeURIComponent(idTag)}`;

function build() {
  const form = h("form", { class: "fields", "data-testid": "idtag-form", novalidate: true, onsubmit: save,
    "aria-label": "Add or edit an idTag" });
  $("idtags-body").append(
    form,
    h("p", { id: "idtags-msg", class: "cp-command", "data-testid": "idtags-msg", role: "status" }),
    h("div", { class: "table-wrap" }, h("table", { class: "sessions", "data-testid": "idtags-table" },
      h("thead", {}, h("tr", {}, ...["idTag", "Status", "Expiry", "Parent", "Max active", "Active", "Updated", ""]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", { id: "idtags-rows" }))));
  fillForm({ status: "Accepted" });
}

function fillForm(item) {
  const form = $("idtags-body").querySelector("form");
  form.replaceChildren(...renderFields(ID_TAG_FIELDS, valuesFrom(ID_TAG_FIELDS, item)),
    h("div", { class: "dialog-actions" },
      h("button", { type: "submit", class: "btn btn-primary", "data-testid": "idtag-save" }, "Save idTag"),
      h("button", { type: "button", class: "btn", onclick: () => fillForm({ status: "Accepted" }) }, "Clear")));
}

function tell(text, cls) {
  Object.assign($("idtags-msg"), { textContent: text, className: `cp-command ${cls}` });
}

async function save(ev) {
  ev.preventDefault();
  const { payload, errors } = readForm(ID_TAG_FIELDS, collect(ev.target));
  if (!showErrors(ev.target, errors)) return;
  const { idTag, ...body } = payload;
  try {
    await api.request(tagPath(idTag), "PUT", body);
    tell(`Saved ${idTag}: ${body.status}.`, "is-ok");
    fillForm({ status: "Accepted" });
  } catch (e) {
    tell(`${idTag} could not be saved: ${e.message}`, "is-error");
  }
  load();
}

async function remove(button, idTag) {
  if (!button.dataset.armed) {
    // A second press deletes: no modal confirm, the keyboard stays where it is.
    button.dataset.armed = "1";
    button.textContent = "Confirm delete";
    return;
  }
  try {
    await api.request(tagPath(idTag), "DELETE");
    tell(`Deleted ${idTag}.`, "is-ok");
  } catch (e) {
    tell(`${idTag} could not be deleted: ${e.message}`, "is-error");
  }
  load();
}

function row(t) {
  const td = (label, content) => h("td", { "data-label": label }, content ?? "—");
  const time = (iso) => (iso ? h("time", { datetime: iso, title: iso, text: shortDate(iso) }) : null);
  return h("tr", { "data-testid": "idtag-row", "data-id-tag": t.idTag, "data-status": t.status },
    td("idTag", t.idTag), td("Status", h("span", { class: `badge ${idTagClass(t.status)}`, text: t.status })),
    td("Expiry", time(t.expiryDate)), td("Parent", t.parentIdTag), td("Max active", t.maxActiveTransactions),
    td("Active", t.activeTransactions), td("Updated", time(t.updatedAt)),
    td("", h("span", { class: "row-actions" },
      h("button", { type: "button", class: "btn btn-small", "aria-label": `Edit ${t.idTag}`, "data-testid": "idtag-edit",
        onclick: () => { fillForm(t); $("idtags-body").querySelector("[data-field]").focus(); } }, "Edit"),
      h("button", { type: "button", class: "btn btn-small", "aria-label": `Delete ${t.idTag}`,
        "data-testid": "idtag-delete", onclick: (ev) => remove(ev.currentTarget, t.idTag) }, "Delete"))));
}

/** Shows the registry (up to 500 tags), building the view on first use. */
export async function load() {
  if (!$("idtags-rows")) build();
  const rows = $("idtags-rows");
  try {
    const tags = await api.all("idtags", "idTags", { limit: 100 }, 5);
    rows.replaceChildren(...(tags.length ? tags.map(row)
      : [h("tr", { class: "placeholder" }, h("td", { colspan: 8, text: "No idTags registered yet." }))]));
  } catch (e) {
    rows.replaceChildren(h("tr", { class: "placeholder" },
      h("td", { colspan: 8, text: `The idTags could not be loaded: ${e.message}` })));
  }
}
