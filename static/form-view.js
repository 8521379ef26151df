// Inputs for the fields of schema-form.js, what was typed in them, and what is wrong with it.
import { h } from "./dom.js";

const INPUT = { integer: "number", number: "number", datetime: "datetime-local", uri: "url" };
let uid = 0;

function control(f, value, id) {
  const common = { id, name: f.name, "data-field": f.name, required: f.required,
    "aria-describedby": `${id}-msg` };
  if (f.kind === "enum" || f.kind === "boolean") {
    const options = f.kind === "boolean" ? ["true", "false"] : f.options;
    return h("select", common, h("option", { value: "", text: f.required ? "Choose…" : "—" }),
      ...options.map((o) => h("option", { value: o, text: o, selected: o === value })));
  }
  if (f.kind === "json") {
    return h("textarea", { ...common, rows: 8, spellcheck: "false", class: "mono",
      placeholder: `${f.required ? "" : "Optional. "}For example:\n${JSON.stringify(f.example, null, 2)}` }, value ?? "");
  }
  return h("input", { ...common, type: INPUT[f.kind] || "text", value, maxlength: f.maxLength, min: f.min,
    step: f.kind === "number" ? "any" : null, placeholder: f.kind === "list" ? "comma-separated" : null,
    autocomplete: "off", spellcheck: "false" });
}

/** One labelled input per field, required ones marked; values: field name -> starting text. */
export function renderFields(fields, values = {}) {
  if (!fields.length) return [h("p", { class: "muted", text: "This command has no parameters." })];
  return fields.map((f) => {
    const id = `f${++uid}`;
    const hint = f.kind === "json" ? ` (JSON ${f.type})` : f.kind === "list" ? " (list)" : "";
    return h("div", { class: `field${f.kind === "json" ? " field-wide" : ""}` },
      h("label", { for: id }, f.name, hint,
        f.required ? h("span", { class: "req", title: "required", text: " *" }) : null),
      control(f, values[f.name], id),
      h("span", { class: "field-msg", id: `${id}-msg`, "aria-live": "polite" }));
  });
}

/** field name -> the text typed, from the inputs renderFields made inside root. A number or date input holding
 *  what it cannot read has the value "", which would pass for empty: "?" gets it its error. */
export function collect(root) {
  return Object.fromEntries([...root.querySelectorAll("[data-field]")]
    .map((el) => [el.dataset.field, el.validity?.badInput ? "?" : el.value]));
}

/** Marks the fields with errors (field name -> message) and focuses the first; true when there are none. */
export function showErrors(root, errors) {
  let first = null;
  for (const el of root.querySelectorAll("[data-field]")) {
    const msg = errors[el.dataset.field];
    if (msg) el.setAttribute("aria-invalid", "true");
    else el.removeAttribute("aria-invalid");
    el.parentElement.querySelector(".field-msg").textContent = msg || "";
    first ||= msg ? el : null;
  }
  first?.focus();
  return !first;
}
