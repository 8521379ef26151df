// The billing export: a range of days in the operator's time zone, downloaded as CSV with the API key.
import { withQuery } from "./api.js";
import { api } from "./context.js";
import { $ } from "./dom.js";

const DAYS = 7;

/** <input type=date> value of a local day. */
const dayValue = (d) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

/** The instant a local day ("2026-12-01") starts, `plus` days later, as ISO 8601 UTC. */
function dayStart(value, plus = 0) {
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + plus).toISOString();
}

async function download(ev) {
  ev.preventDefault();
  const from = $("export-from").value;
  const to = $("export-to").value;
  const note = $("export-status");
  const button = $("export-button");
  button.disabled = true;
  note.textContent = "Exporting…";
  try {
    // Both days whole: to is the start of the day after the last one.
    const path = withQuery("exports/sessions.csv", { from: dayStart(from), to: dayStart(to, 1) });
    // A big export is a 303 that fetch follows (to S3 in the cloud: docs/api.md, "CSV export").
    const { blob, filename } = await api.download(path, "text/csv");
    const link = Object.assign(document.createElement("a"), {
      href: URL.createObjectURL(blob),
      download: filename || `sessions_${from}_${to}.csv`,
    });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    note.textContent = `Downloaded ${link.download}`;
  } catch (e) {
    note.textContent = e.status ? `Export refused (${e.status}): ${e.message}` : "Export failed: the API could not be reached.";
  } finally {
    button.disabled = false;
  }
}

export function wireExport() {
  const today = new Date();
  $("export-to").value = dayValue(today);
  $("export-from").value = dayValue(new Date(today.getFullYear(), today.getMonth(), today.getDate() - (DAYS - 1)));
  $("export-form").addEventListener("submit", download);
}
