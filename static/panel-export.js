// The billing export: a range of days in the operator's time zone, downloaded as CSV with the API key, or
// exported by a job that the page polls and whose file it then opens without the key.
import { waitForJob, withQuery } from "./api.js";
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

/** Open a file's URL as a plain download: no API key goes along (the URL is its own credential). */
function openFile(href, filename) {
  const link = Object.assign(document.createElement("a"), { href, download: filename, rel: "noopener" });
  link.click();
  return link;
}

/** A job (an export too big or too slow for one answer): polled until its file is written, then opened. */
async function fromJob(job, note) {
  const path = `exports/jobs/${encodeURIComponent(job.jobId)}`;
  const done = await waitForJob(api.request, path, (running) => {
    note.textContent = `Exporting… ${running.rows ?? 0} rows`;
  });
  if (done.status !== "done") {
    note.textContent = `Export failed: ${done.error || "the export worker gave no reason"}`;
    return;
  }
  openFile(done.location, done.fileName);
  note.textContent = `Downloaded ${done.fileName} (${done.rows} rows)`;
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
    // A quick, small export is the CSV itself; any other is a job (202, docs/api.md "The billing export").
    const { status, blob, filename } = await api.download(path, "text/csv");
    if (status === 202) {
      await fromJob(JSON.parse(await blob.text()), note);
      return;
    }
    const link = openFile(URL.createObjectURL(blob), filename || `sessions_${from}_${to}.csv`);
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
