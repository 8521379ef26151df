"""The REST routes of the billing export: the CSV inline (200) or the URL of its file (303 See Other), and
the local mode's download route for that file; the domain's refusals as HTTP statuses."""

from __future__ import annotations

from collections.abc import Mapping

from chalice import BadRequestError, ForbiddenError, NotFoundError, Response

from chalicelib import exports, rest_params


def _csv_headers(file_name: str) -> dict[str, str | list[str]]:
    return {
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{file_name}"',
        "Cache-Control": "no-store",  # idTags are personal data: no copy in a shared cache
    }


def export_sessions(params: Mapping[str, str] | None, headers: Mapping[str, str]) -> Response:
    """GET /exports/sessions.csv?from=&to=: the completed sessions stopped in [from, to) as a CSV file."""
    params = rest_params.check_params(params, ("from", "to"))
    try:
        period = exports.time_range(params.get("from"), params.get("to"))
    except exports.InvalidRange as error:
        raise BadRequestError(str(error)) from None
    result = exports.export(period)
    if isinstance(result, exports.Inline):
        return Response(body=result.csv, status_code=200, headers=_csv_headers(period.filename))
    location = result.url or exports.download_url(result, rest_params.base_url(headers))
    return Response(
        body={"location": location, "fileName": result.file_name},
        status_code=303,
        headers={"Location": location, "Cache-Control": "no-store"},
    )


def download_export(export_id: str, file_name: str, params: Mapping[str, str] | None) -> Response:
    """GET /exports/files/{exportId}/{fileName}?token=...: a local export file (the 303's Location)."""
    try:
        csv = exports.downloaded(export_id, file_name, (params or {}).get("token"))
    except exports.DownloadForbidden as error:
        raise ForbiddenError(str(error)) from None
    except exports.NoSuchExport as error:
        raise NotFoundError(str(error)) from None
    return Response(body=csv, status_code=200, headers=_csv_headers(file_name))
