"""The OpenAPI operations of the billing export (a part of openapi.py's document, kept apart so that each
file describes one concern): the CSV inline, or a 303 to its file, and local mode's download route."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.api_schemas import OPERATOR, object_schema

STRING = {"type": "string"}
CSV = {"content": {"text/csv": {"schema": STRING}}}


def operations(
    json: Callable[[dict, str], dict], error: Callable[[str], dict], path_param: Callable[..., dict], query: Callable
) -> dict[str, dict[str, dict]]:
    """The paths, built with openapi.py's own helpers (passed in: it imports this module)."""
    date = {"type": "string", "description": "ISO 8601 date or date-time (UTC if no offset)"}
    return {
        "/exports/sessions.csv": {
            "get": {
                "summary": "Completed sessions stopped in [from, to), as an RFC 4180 CSV file for billing",
                "description": "Up to one part (EXPORT_PART_BYTES, 5 MiB) the CSV is the answer; past it, the"
                " export is written to a file (S3 multipart upload, or a local file) and the answer is a 303 to"
                " it: a pre-signed S3 GET URL valid 15 minutes, or this app's download route.",
                "security": [OPERATOR],
                "parameters": [{**query(name, date), "required": True} for name in ("from", "to")],
                "responses": {
                    "200": {"description": "the CSV: a header row, then a session a row, oldest stop first", **CSV},
                    "303": {
                        **json(
                            object_schema({"location": STRING, "fileName": STRING}, required=("location", "fileName")),
                            "the export is a file: Location (also in the body) is where to GET it",
                        ),
                        "headers": {"Location": {"required": True, "schema": STRING}},
                    },
                    "400": error("from or to missing or not ISO 8601, from after to, or more than 366 days"),
                },
            }
        },
        "/exports/files/{export_id}/{file_name}": {
            "get": {
                "summary": "An export's file (local mode): the Location of the export's 303, with its token",
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
