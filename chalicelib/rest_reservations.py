"""The REST API's routes of reservations and diagnostics uploads (the rest of the API is rest.py, whose
parameter checks and page tokens these use): their domain refusals as HTTP statuses."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from chalice import BadRequestError, ForbiddenError, NotFoundError, Response

from chalicelib import diagnostics, ocpp_frames, reservations, storage
from chalicelib.rest import get_charge_point
from chalicelib.rest_params import base_url, charge_point_param, check_params, choice, listing


def list_reservations(params: Mapping[str, str] | None) -> dict:
    params = check_params(params, ("status", "chargePointId", "limit", "nextToken"))
    status = choice(params, "status", reservations.STATUSES)
    charge_point_id = charge_point_param(params)
    query = {"route": "reservations", "status": status, "chargePointId": charge_point_id}
    now = ocpp_frames.format_timestamp(ocpp_frames.now())  # one moment for the filter and the views
    return listing(
        "reservations",
        params,
        query,
        20,
        lambda limit, start: storage.list_reservations(limit, start, now, charge_point_id, status),
        lambda item: reservations.view(item, now),
    )


def get_reservation(reservation_id: str) -> dict:
    if not (reservation_id.isascii() and reservation_id.isdigit() and len(reservation_id) <= 10):
        raise NotFoundError(f"no reservation {reservation_id[:20]!r}")
    try:
        return reservations.get(int(reservation_id))
    except reservations.UnknownReservation as error:
        raise NotFoundError(str(error)) from None


_UPLOAD_ERRORS = {diagnostics.BadUpload: BadRequestError, diagnostics.UploadForbidden: ForbiddenError}


def diagnostics_route(route: Callable[..., dict], *args: object) -> dict | Response:
    """A diagnostics route (location, upload, listing), its refusals as 400, 403 or 413."""
    try:
        return route(*args)
    except diagnostics.UploadTooLarge as error:
        return Response(body={"Code": "RequestTooLarge", "Message": str(error)}, status_code=413)
    except diagnostics.UploadRefused as error:
        raise _UPLOAD_ERRORS[type(error)](str(error)) from None


def diagnostics_location(charge_point_id: str, headers: Mapping[str, str]) -> dict | Response:
    """GET /chargepoints/{id}/diagnostics/location. Local mode: an upload URL of this app as the caller
    reached it (in the cloud the location is a pre-signed S3 URL, which needs no base)."""
    get_charge_point(charge_point_id)
    return diagnostics_route(diagnostics.location, charge_point_id, base_url(headers))


def upload_diagnostics(
    charge_point_id: str, file_name: str, params: Mapping[str, str] | None, body: str | bytes | None
) -> dict | Response:
    raw = body.encode() if isinstance(body, str) else body or b""
    return diagnostics_route(diagnostics.upload, charge_point_id, file_name, (params or {}).get("token"), raw)


def list_diagnostics(charge_point_id: str) -> dict | Response:
    get_charge_point(charge_point_id)
    return diagnostics_route(diagnostics.listing, charge_point_id)
