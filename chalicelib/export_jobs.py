"""An export too big or too slow for the API's answer, as a job: the API records it and hands it to the
export worker (a Lambda of its own, 15 minutes, through EventBridge), which writes the file; the caller
polls the job until it is done (its file's URL) or failed (why). An export longer than one worker's
15 minutes is written in steps: near its end a worker stops after its last written part, records on the
job where it stopped and hands the rest to a fresh worker with another event (step 2, 3, ...).

EventBridge delivers at least once: a worker claims its step with a conditional write, so a redelivered
event for a step already claimed (or a job done or failed) changes nothing. No HTTP here: rest_exports.py
answers."""

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
# The worker's Lambda timeout (config.json); offline a step gets as long.
FUNCTION_SECONDS = 900.0
# A step stops this long before its timeout, to hand over (or abort the upload) and record it itself.
MARGIN_SECONDS = 20.0
# A job whose step started (or was handed over) this long ago and never ended was stopped without a word
# (its Lambda killed, the next step's event lost): the worker's timeout and a little more.
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
    """The export worker, one step: claim the step, write on from where the last step stopped, then either
    record the job done or hand the rest to a next step (a fresh worker: the cursor on the job, an event on
    the bus). A failure in any step aborts the upload and is recorded on the job rather than raised: a retry
    would find the step claimed and do nothing."""
    job_id, step = str(detail.get("jobId", "")), int(detail.get("step", 1))
    now = _now()
    first = {"startedAt": now, "rows": 0} if step == 1 else {}
    job = storage.claim_job(job_id, step, {**first, "stepStartedAt": now})
    if job is None:
        log.info(json.dumps({"event": "export-skipped", "jobId": job_id, "step": step, "reason": "unknown or claimed"}))
        return
    # Lambda's time, or offline as much as Lambda gives: stop in time to hand over (or abort) and say so.
    left = FUNCTION_SECONDS if context is None else context.get_remaining_time_in_millis() / 1000
    rows = _Rows(job_id, int(job.get("rows", 0)))
    begun = time.monotonic()
    try:
        period = exports.time_range(job["from"], job["to"])
        outcome = exports.write_file(
            period,
            job_id,
            rows.report,
            resume=_cursor(job.get("continuation")),
            stop_after=(left - MARGIN_SECONDS, lambda cursor: _hand_over(job_id, step, cursor, rows.shown)),
        )
    except Exception as error:
        known = isinstance(error, (exports.TooLong, files.TooManyParts))
        message = str(error) if known else f"the export failed: {type(error).__name__}"
        storage.update_job(job_id, {"status": "failed", "error": message, "finishedAt": _now()})
        log.exception(json.dumps({"event": "export-failed", "jobId": job_id, "step": step, "error": message}))
        return
    if outcome is None:
        return
    storage.update_job(
        job_id,
        {
            "status": "done",
            "rows": outcome.rows,
            "bytes": outcome.bytes,
            "fileName": outcome.file_name,
            "finishedAt": _now(),
        },
    )
    seconds = time.monotonic() - begun
    log.info(
        json.dumps(
            {
                "event": "export-written",
                "jobId": job_id,
                "steps": step,
                "rows": outcome.rows,
                "bytes": outcome.bytes,
                "lastStepSeconds": round(seconds, 3),
            }
        )
    )


class _Rows:
    """The rows a job shows while it runs: counted on from the last step's and never going back, though a
    step reads again the rows its predecessor read past its last part."""

    def __init__(self, job_id: str, shown: int) -> None:
        self.job_id, self.shown = job_id, shown

    def report(self, rows: int, size: int) -> None:
        self.shown = max(self.shown, rows)
        storage.update_job(self.job_id, {"rows": self.shown, "bytes": size})


def _hand_over(job_id: str, step: int, cursor: exports.Cursor, shown: int) -> None:
    """The rest of the export to a fresh worker: the cursor on the job (1 UpdateItem), then the next step's
    event (1 PutEvents). A failure here fails the step: its upload is aborted."""
    continuation: dict[str, object] = {"nextPart": cursor.next_part, "rows": cursor.rows, "bytes": cursor.bytes}
    if cursor.upload_id is not None:
        continuation["uploadId"] = cursor.upload_id
    if cursor.after is not None:
        continuation["stopTime"], continuation["sessionId"] = cursor.after
    sets = {"continuation": continuation, "rows": max(cursor.rows, shown), "bytes": cursor.bytes}
    if not storage.hand_over_job(job_id, step, {**sets, "stepStartedAt": _now()}):
        raise RuntimeError("the job is no longer running")
    events.publish([events.export_entry(job_id, step + 1)])
    log.info(json.dumps({"event": "export-continued", "jobId": job_id, "step": step + 1, "rows": cursor.rows}))


def _cursor(continuation: dict | None) -> exports.Cursor | None:
    if continuation is None:
        return None
    after = (continuation["stopTime"], continuation["sessionId"]) if "sessionId" in continuation else None
    return exports.Cursor(
        continuation.get("uploadId"),
        int(continuation["nextPart"]),
        int(continuation["rows"]),
        int(continuation["bytes"]),
        after,
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
    if job["status"] == "running" and _stopped(job.get("stepStartedAt")):
        return {**shown, "status": "failed", "error": "the export worker stopped without finishing: export again"}
    for name in ("rows", "bytes", "step", "fileName", "error", "startedAt", "finishedAt"):
        if name in job:
            shown[name] = int(job[name]) if name in ("rows", "bytes", "step") else job[name]
    return shown


def _stopped(started: str | None) -> bool:
    if started is None:
        return False
    age = ocpp_frames.now() - ocpp_frames.parse_timestamp(started, "startedAt")
    return age.total_seconds() > WORKER_SECONDS
