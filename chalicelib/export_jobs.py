"""An export too big or too slow for the API's answer, as a job: the API records it and hands it to the
export worker (a Lambda of its own, 15 minutes, through EventBridge), which writes the file; the caller
polls the job until it is done (its file's URL) or failed (why).

EventBridge delivers at least once: the worker claims the job with a conditional write, so a redelivered
event for a job already running, done or failed changes nothing. No HTTP here: rest_exports.py answers."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from chalicelib import events, exports, ocpp_frames, storage
from chalicelib.storage import files

log = logging.getLogger("ev.exports")
KEEP_SECONDS = int(files.EXPORT_KEEP.total_seconds())  # a job is forgotten (TTL) when its file is
# The worker stops this long before Lambda's timeout, to abort the upload and record why itself.
MARGIN_SECONDS = 20.0
# A job whose worker started this long ago and never finished was stopped without a word (its Lambda
# killed): the worker's 900 s timeout and a little more.
WORKER_SECONDS = 960


class NoSuchJob(Exception):
    """No export job with this id (never was, or forgotten after a day)."""


def start(period: exports.TimeRange) -> dict:
    """Record a job for the export of period and hand it to the worker: 1 PutItem, 1 PutEvents. The job
    as GET /exports/jobs/{jobId} shows it."""
    job_id = uuid.uuid4().hex  # also the export's id: its file is exports/{jobId}/{fileName}
    job = {
        "status": "running",
        "from": ocpp_frames.format_timestamp(period.start),
        "to": ocpp_frames.format_timestamp(period.end),
        "requestedAt": ocpp_frames.format_timestamp(ocpp_frames.now()),
        "expiresAt": int(time.time()) + KEEP_SECONDS,
    }
    storage.create_job(job_id, job)
    log.info(json.dumps({"event": "export-requested", "jobId": job_id, "from": job["from"], "to": job["to"]}))
    try:
        events.publish([events.export_entry(job_id)])
    except Exception:
        storage.update_job(job_id, {"status": "failed", "error": "the export could not be handed to its worker"})
        raise
    return {"jobId": job_id, **view(job)}


def work(detail: dict, context: Any = None) -> None:
    """The export worker: claim the job, write its file, record the outcome. A failure is recorded on the
    job (and the upload aborted) rather than raised: a retry would find the job claimed and do nothing."""
    job_id = str(detail.get("jobId", ""))
    started = ocpp_frames.format_timestamp(ocpp_frames.now())
    job = storage.claim_job(job_id, {"startedAt": started, "rows": 0})
    if job is None:
        log.info(json.dumps({"event": "export-skipped", "jobId": job_id, "reason": "unknown or already claimed"}))
        return
    deadline = None
    if context is not None:  # Lambda's: stop in time to abort the upload and say so
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    begun = time.monotonic()
    try:
        period = exports.time_range(job["from"], job["to"])
        written = exports.write_file(
            period, job_id, lambda rows: storage.update_job(job_id, {"rows": rows}), deadline=deadline
        )
    except Exception as error:
        message = str(error) if isinstance(error, exports.TooLong) else f"the export failed: {type(error).__name__}"
        storage.update_job(job_id, {"status": "failed", "error": message, "finishedAt": _now()})
        log.exception(json.dumps({"event": "export-failed", "jobId": job_id, "error": message}))
        return
    storage.update_job(
        job_id,
        {
            "status": "done",
            "rows": written.rows,
            "bytes": written.bytes,
            "fileName": written.file_name,
            "finishedAt": _now(),
        },
    )
    seconds = time.monotonic() - begun
    log.info(
        json.dumps(
            {
                "event": "export-written",
                "jobId": job_id,
                "rows": written.rows,
                "bytes": written.bytes,
                "seconds": round(seconds, 3),
                "rowsPerSecond": round(written.rows / seconds) if seconds else None,
            }
        )
    )


def _now() -> str:
    return ocpp_frames.format_timestamp(ocpp_frames.now())


def get(job_id: str) -> dict:
    """The job as GET /exports/jobs/{jobId} shows it (fileName only when done)."""
    job = storage.get_job(job_id) if len(job_id) == 32 else None
    if job is None:
        raise NoSuchJob(f"no export job {job_id[:40]!r} (jobs are kept a day)")
    return {"jobId": job_id, **view(job)}


def view(job: dict) -> dict:
    shown = {"status": job["status"], "from": job["from"], "to": job["to"], "requestedAt": job["requestedAt"]}
    if job["status"] == "running" and _stopped(job.get("startedAt")):
        return {**shown, "status": "failed", "error": "the export worker stopped without finishing: export again"}
    for name in ("rows", "bytes", "fileName", "error", "startedAt", "finishedAt"):
        if name in job:
            shown[name] = int(job[name]) if name in ("rows", "bytes") else job[name]
    return shown


def _stopped(started: str | None) -> bool:
    if started is None:
        return False
    age = ocpp_frames.now() - ocpp_frames.parse_timestamp(started, "startedAt")
    return age.total_seconds() > WORKER_SECONDS
