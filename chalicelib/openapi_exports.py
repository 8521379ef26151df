"""The OpenAPI operations of the billing export (a part of openapi.py's document, kept apart so that each
file describes one concern): the CSV inline or a job (202), the job polled until its file is written, and
local mode's download route."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.api_schemas import OPERATOR, object_schema

STRING = {"type": "string"}
CSV = {"content": {"text/csv": {"schema": STRING}}}
COUNT = {"type": "integer", "minimum": 0}
JOB = object_schema(
    {
        "jobId": STRING,
        "status": {"type": "string", "enum": ["running", "done", "failed"]},
        "from": STRING,
        "to": STRING,
        "requestedAt": STRING,
        "startedAt": STRING,
        "finishedAt": STRING,
        "rows": COUNT,
        "bytes": COUNT,
        # An export longer than one worker's 15 minutes goes on in a fresh worker: step 2, 3, ...
        "step": {"type": "integer", "minimum": 1},
        "fileName": STRING,
        "location": STRING,
        "error": STRING,
    },
    required=("jobId", "status", "from", "to", "requestedAt"),
)


def operations(
    json: Callable[[dict, str], dict], error: Callable[[str], dict], path_param: Callable[..., dict], query: Callable
) -> dict[str, dict[str, dict]]:
    """The paths, built with openapi.py's own helpers (passed in: it imports this module)."""
    date = {"type": "string", "description": "ISO 8601 date or date-time (UTC if no offset)"}
    return {
        "/exports/sessions.csv": {
            "get": {
                "summary": "Completed sessions stopped in [from, to), as an RFC 4180 CSV file for billing",
                "description": "An export that ends within EXPORT_INLINE_SECONDS (8 s), inside one part"
                " (EXPORT_PART_BYTES, 5 MiB) and fits an answer is the answer (200). Any other is a job (202):"
                " the export worker writes the file (S3 multipart upload, or a local file) with up to 15"
                " minutes; poll Location (GET /exports/jobs/{job_id}) until it is done.",
                "security": [OPERATOR],
                "parameters": [{**query(name, date), "required": True} for name in ("from", "to")],
                "responses": {
                    "200": {"description": "the CSV: a header row, then a session a row, oldest stop first", **CSV},
                    "202": {
                        **json(
                            object_schema(
                                {
                                    "jobId": STRING,
                                    "status": {"type": "string", "enum": ["running"]},
                                    "from": STRING,
                                    "to": STRING,
                                    "location": STRING,
                                },
                                required=("jobId", "status", "from", "to", "location"),
                            ),
                            "the export is a job: Location (also in the body) is where to poll it",
                        ),
                        "headers": {"Location": {"required": True, "schema": STRING}},
                    },
                    "400": error("from or to missing or not ISO 8601, from after to, or more than 366 days"),
                },
            }
        },
        "/exports/jobs/{job_id}": {
            "get": {
                "summary": "An export job: running, failed, or done (a 303 to its file)",
                "description": "Done: 303 with Location, the file's URL (a pre-signed S3 GET URL valid 15"
                " minutes, or this app's download route), for curl -L; with `Accept: application/json`, 200 and"
                " the same URL in `location`, for a page that opens it without sending its API key along. Jobs"
                " are kept a day.",
                "security": [OPERATOR],
                "parameters": [path_param("job_id")],
                "responses": {
                    "200": json(
                        JOB,
                        "running (rows: read so far, bytes: written, step: the worker's), failed (error), or done"
                        " when JSON was asked for",
                    ),
                    "303": {
                        **json(JOB, "done: Location (also in the body) is the file's URL"),
                        "headers": {"Location": {"required": True, "schema": STRING}},
                    },
                    "404": error("no such export job (or it was forgotten: jobs are kept a day)"),
                },
            }
        },
        "/exports/files/{export_id}/{file_name}": {
            "get": {
                "summary": "An export's file (local mode): the Location of a done job, with its token",
                "parameters": [
                    path_param("export_id"),
                    path_param("file_name"),
                    {"name": "token", "in": "query", "required": True, "schema": STRING},
                ],
                "responses": {
                    "200": {"description": "the CSV, as the export would have answered it", **CSV},
                    "403": error("no valid token for this file, or it expired"),
                    "404": error("no such export file (or it was cleared: exports are kept a day)"),
                },
            }
        },
    }
