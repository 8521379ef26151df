// The page's one config, state and API client, and the operator's key they send.
import { createApi } from "./api.js";
import { pageConfig } from "./config.js";
import { $ } from "./dom.js";
import { createState } from "./state.js";

export const config = pageConfig(document.baseURI, location.search);
export const state = createState();

// Deployed stages want the operator's key: kept for the tab only (sessionStorage), sent as x-api-key.
function storedKey() {
  try { return sessionStorage.getItem(config.apiKeyKey) || ""; } catch { return ""; }
}

function askForKey(refusedKey) {
  state.needKey = true;
  $("key-form-text").textContent = refusedKey
    ? "The API refused this API key. Enter the operator's API key:"
    : "This API needs the operator's API key:";
  $("key-form").hidden = false;
}

export const api = createApi({ base: config.base, key: storedKey, onDenied: askForKey });

export function wireKeyForm(refresh) {
  $("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    try { sessionStorage.setItem(config.apiKeyKey, key); } catch { /* disabled: asked again */ }
    $("api-key").value = "";
    $("key-form").hidden = true;
    state.needKey = false;
    refresh();
  });
}
