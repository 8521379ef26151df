// The idTag registry view (loaded when it first opens): the tags Authorize and StartTransaction answer from,
// a page at a time (as the sessions table) or one found by its idTag, added or edited (PUT replaces an entry) and
// deleted.
import { withQuery } from "./api.js";
import { api, config } from "./context.js";
import { $, h } from "./dom.js";
import { shortDate } from "./format.js";
import { collect, renderFields, showErrors } from "./form-view.js";
import { ID_TAG_FIELDS, idTagClass } from "./records.js";
import { readForm, valuesFrom } from "./schema-form.js";
import { firstPage, nextPage, pageLoaded, pageRefused } from "./state.js";

const tagPath = (idTag) => `idtags/${encodeURIComponent(idTag)}`;
let page = firstPage();
let found = null; // the idTag the find box asked for: shown instead of a page (refreshes too) until one is turned
let loads = 0;

function build() {
  const form = h("form", { class: "fields", "data-testid": "idtag-form", novalidate: true, onsubmit: save,
    "aria-label": "Add or edit an idTag" });
  $("idtags-body").append(
    form,
    // GET /idtags/{idTag}: the registry's key is the whole idTag in upper case, so a find is exact but any case.
    h("form", { class: "filter", role: "search", "data-testid": "idtag-find", onsubmit: find },
      h("label", { for: "idtag-q", text: "Find an idTag" }),
      h("input", { id: "idtag-q", type: "search", "data-testid": "idtag-q", maxlength: 20, required: true,
        placeholder: "the whole idTag, any case" }),
      h("button", { type: "submit", class: "btn btn-small", "data-testid": "idtag-find-go" }, "Find")),
    h("p", { id: "idtags-msg", class: "cp-command", "data-testid": "idtags-msg", role: "status" }),
    h("div", { class: "table-wrap" }, h("table", { class: "sessions", "data-testid": "idtags-table" },
      h("thead", {}, h("tr", {}, ...["idTag", "Status", "Expiry", "Parent", "Max active", "Active", "Updated", ""]
        .map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", { id: "idtags-rows" }))),
    h("div", { class: "pager" },
      h("button", { type: "button", id: "idtags-first", class: "btn btn-small", "data-testid": "idtags-first",
        disabled: true, onclick: () => goto(firstPage()) }, "First page"),
      h("span", { id: "idtags-info", class: "muted", "data-testid": "idtags-info" }),
      h("button", { type: "button", id: "idtags-next", class: "btn btn-small", "data-testid": "idtags-next",
        disabled: true, onclick: () => goto(nextPage(page)) }, "Next page")));
  fillForm({ status: "Accepted" });
}

function goto(next) {
  found = null;
  page = next;
  load();
}

function find(ev) {
  ev.preventDefault();
  found = $("idtag-q").value.trim();
  tell("", "");
  if (found) load();
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
    found = null;
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

const placeholder = (text) => h("tr", { class: "placeholder" }, h("td", { colspan: 8, text }));

/** Shows the page of the registry (or the idTag found) that refreshes, saves and deletes stay on, building the
 *  view on first use. */
export async function load() {
  if (!$("idtags-rows")) build();
  const rows = $("idtags-rows");
  const asked = ++loads;
  const finding = found;
  try {
    const data = finding ? { idTags: [await api.request(tagPath(finding))] }
      : await api.request(withQuery("idtags", { limit: config.idTagPageSize, nextToken: page.token }));
    if (asked !== loads) return; // a later load (a page turned meanwhile) shows its own answer
    const tags = data.idTags || [];
    if (!finding) page = pageLoaded(page, data.nextToken);
    rows.replaceChildren(...(tags.length ? tags.map(row)
      : [placeholder(page.token ? "No more idTags." : "No idTags registered yet.")]));
    $("idtags-info").textContent = finding ? `Found ${tags[0].idTag}: First page shows the registry again`
      : `Page ${page.no}: ${tags.length} idTag${tags.length === 1 ? "" : "s"}${page.next ? ", more on the next" : ""}`;
    $("idtags-next").disabled = finding || !page.next;
    $("idtags-first").disabled = !finding && !page.token;
  } catch (e) {
    if (asked !== loads) return;
    if (finding && (e.status === 404 || e.status === 400)) {
      // Not there (or no idTag at all): said, and the page the view was on comes back.
      found = null;
      load();
      tell(e.status === 404 ? `No idTag ${finding} in the registry (a find matches the whole idTag, in any case).`
        : `${finding}: ${e.message}`, "is-error");
      return;
    }
    page = pageRefused(page, e.status);
    rows.replaceChildren(placeholder(`The idTags could not be loaded: ${e.message}`));
  }
}
