"""The REST routes of the billing export: the CSV inline (200), or a job (202) polled at its own route until
its file is written (303 to the file, or its JSON when asked for), and the local mode's download route for
that file; the domain's refusals as HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalice import BadRequestError, ForbiddenError, NotFoundError, Response

from chalicelib import export_jobs, exports, rest_params

NO_STORE = "no-store"  # idTags are personal data: no copy in a shared cache


def _csv_headers(file_name: str) -> dict[str, str | list[str]]:
    return {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": NO_STORE,
    }


def _api_url(headers: Mapping[str, str], context: Mapping[str, Any]) -> str:
    """This API's root as the caller reached it: API Gateway's stage (/api) stands before the route's path
    in the request's path (a route without path parameters: its path is its resourcePath); locally none."""
    stage = str(context.get("path", "")).removesuffix(str(context.get("resourcePath", "")))
    return rest_params.base_url(headers) + stage


def export_sessions(
    params: Mapping[str, str] | None, headers: Mapping[str, str], context: Mapping[str, Any]
) -> Response:
    """GET /exports/sessions.csv?from=&to=: the completed sessions stopped in [from, to) as a CSV file, or
    the job that writes it."""
    params = rest_params.check_params(params, ("from", "to"))
    try:
        period = exports.time_range(params.get("from"), params.get("to"))
    except exports.InvalidRange as error:
        raise BadRequestError(str(error)) from None
    csv = exports.inline(period)
    if csv is not None:
        return Response(body=csv, status_code=200, headers=_csv_headers(period.filename))
    job = export_jobs.start(period)
    location = f"{_api_url(headers, context)}/exports/jobs/{job['jobId']}"
    body = {key: job[key] for key in ("jobId", "status", "from", "to")}
    return Response(
        body={**body, "location": location}, status_code=202, headers={"Location": location, "Cache-Control": NO_STORE}
    )


def export_job(job_id: str, headers: Mapping[str, str]) -> Response:
    """GET /exports/jobs/{jobId}: running or failed, the job (200); done, a 303 to its file, or with
    `Accept: application/json` the job and the file's URL (200: a page downloads it without its API key)."""
    try:
        job = export_jobs.get(job_id)
    except export_jobs.NoSuchJob as error:
        raise NotFoundError(str(error)) from None
    if job["status"] != "done":
        return Response(body=job, status_code=200, headers={"Cache-Control": NO_STORE})
    location = exports.file_url(job_id, job["fileName"], rest_params.base_url(headers))
    if "application/json" in headers.get("accept", ""):
        return Response(body={**job, "location": location}, status_code=200, headers={"Cache-Control": NO_STORE})
    return Response(
        body={**job, "location": location}, status_code=303, headers={"Location": location, "Cache-Control": NO_STORE}
    )


def download_export(export_id: str, file_name: str, params: Mapping[str, str] | None) -> Response:
    """GET /exports/files/{exportId}/{fileName}?token=...: a local export file (a done job's Location)."""
    try:
        csv = exports.downloaded(export_id, file_name, (params or {}).get("token"))
    except exports.DownloadForbidden as error:
        raise ForbiddenError(str(error)) from None
    except exports.NoSuchExport as error:
        raise NotFoundError(str(error)) from None
    return Response(body=csv, status_code=200, headers=_csv_headers(file_name))
