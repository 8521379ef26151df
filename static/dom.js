// DOM helpers: API data goes in as text, never as HTML.

export const $ = (id) => document.getElementById(id);

/** h("li", {class, text, onclick, ...attributes}, ...children) */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") node.textContent = String(v);
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** A colour defined on :root in the stylesheet, its one home ("--chart-energy"). */
export const cssColor = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
