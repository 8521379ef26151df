"""The OpenAPI operations and schemas of reservations and diagnostics uploads (a part of openapi.py's
document, kept apart so that each file describes one concern)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import diagnostics, reservations
from chalicelib.api_schemas import CHARGE_POINT_ID, INTEGER, LIMIT, NULLABLE_STRING, OPERATOR, object_schema, ref

STRING = {"type": "string"}
RESERVATION_ID = {"type": "string", "pattern": "^[0-9]{1,10}$"}


def operations(
    json: Callable[[dict, str], dict], error: Callable[[str], dict], path_param: Callable[..., dict], query: Callable
) -> dict[str, dict[str, dict]]:
    """The paths, built with openapi.py's own helpers (passed in: it imports this module)."""
    cp = path_param("charge_point_id", CHARGE_POINT_ID)
    return {
        "/reservations": {
            "get": {
                "summary": "Reservations (ReserveNow), newest first, a page at a time",
                "security": [OPERATOR],
                "parameters": [
                    query("chargePointId", CHARGE_POINT_ID),
                    query("status", {"type": "string", "enum": list(reservations.STATUSES)}),
                    query("limit", LIMIT),
                    query("nextToken", STRING),
                ],
                "responses": {
                    "200": json(ref("ReservationPage"), "a page (with status, possibly fewer than limit)"),
                    "400": error("a bad parameter or page token"),
                },
            }
        },
        "/reservations/{reservation_id}": {
            "get": {
                "summary": "One reservation",
                "security": [OPERATOR],
                "parameters": [path_param("reservation_id", RESERVATION_ID)],
                "responses": {"200": json(ref("Reservation"), "the reservation"), "404": error("no such reservation")},
            }
        },
        "/chargepoints/{charge_point_id}/diagnostics": {
            "get": {
                "summary": "The diagnostics files the charger uploaded, newest first",
                "security": [OPERATOR],
                "parameters": [cp],
                "responses": {
                    "200": json(ref("DiagnosticsFiles"), "the files"),
                    "404": error("no such charge point"),
                },
            }
        },
        "/chargepoints/{charge_point_id}/diagnostics/location": {
            "get": {
                "summary": "An upload location for GetDiagnostics: a pre-signed S3 URL, or this app's upload route",
                "security": [OPERATOR],
                "parameters": [cp],
                "responses": {
                    "200": json(ref("DiagnosticsLocation"), "where the charger uploads"),
                    "404": error("no such charge point"),
                },
            }
        },
        "/diagnostics/{charge_point_id}/{file_name}": {
            method: {
                "summary": "A charger uploads a diagnostics file (local mode): the body is the file",
                "parameters": [
                    cp,
                    path_param("file_name", {"type": "string", "pattern": diagnostics.FILE_NAME.pattern}),
                    {"name": "token", "in": "query", "required": True, "schema": STRING},
                ],
                "requestBody": {
                    "required": True,
                    "content": {media: {"schema": {"type": "string"}} for media in diagnostics.UPLOAD_TYPES},
                },
                "responses": {
                    "200": json(ref("DiagnosticsFile"), "the file is kept"),
                    "400": error("a bad charge point id or file name, or this stage uploads to S3"),
                    "403": error("no valid upload token for this file"),
                    "413": error("over DIAGNOSTICS_MAX_BYTES"),
                    "415": error("a Content-Type the route does not take"),
                },
            }
            for method in ("put", "post")
        },
    }


SCHEMAS: dict[str, dict] = {
    "Reservation": object_schema(
        {
            "reservationId": INTEGER,
            "chargePointId": STRING,
            "connectorId": INTEGER,
            "idTag": STRING,
            "parentIdTag": STRING,
            "expiryDate": STRING,
            "status": {"type": "string", "enum": list(reservations.STATUSES)},
            "createdAt": STRING,
            "commandId": STRING,
            "answeredAt": STRING,
            "sessionId": STRING,
            "usedAt": STRING,
            "usedOnConnector": INTEGER,
            "cancelledAt": STRING,
        },
        ("reservationId", "chargePointId", "connectorId", "idTag", "expiryDate", "status", "createdAt"),
    ),
    "ReservationPage": object_schema(
        {"reservations": {"type": "array", "items": ref("Reservation")}, "nextToken": NULLABLE_STRING},
        ("reservations", "nextToken"),
    ),
    "DiagnosticsFile": object_schema(
        {"fileName": STRING, "size": INTEGER, "uploadedAt": STRING}, ("fileName", "size", "uploadedAt")
    ),
    "DiagnosticsFiles": object_schema(
        {"chargePointId": STRING, "files": {"type": "array", "items": ref("DiagnosticsFile")}},
        ("chargePointId", "files"),
    ),
    "DiagnosticsLocation": object_schema({"location": STRING, "fileName": STRING}, ("location", "fileName")),
}
