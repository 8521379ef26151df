"""The OpenAPI operations and schemas of sites, the grid connections whose limit their chargers share (a
part of openapi.py's document, kept apart so that each file describes one concern)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.api_schemas import (
    CHARGE_POINT_ID,
    INTEGER,
    LIMIT,
    NULLABLE_STRING,
    NUMBER,
    OPERATOR,
    PAGE_TOKEN,
    object_schema,
    ref,
)

Helper = Callable[..., dict]

SCHEMAS: dict[str, dict] = {
    "SiteRequest": object_schema(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "maxPowerKw": {"type": "number", "minimum": 0.001, "maximum": 100_000},
            "chargePointIds": {"type": "array", "items": CHARGE_POINT_ID, "maxItems": 50, "uniqueItems": True},
        },
        ("name", "maxPowerKw", "chargePointIds"),
        closed=True,
    ),
    "SiteSummary": object_schema(
        {
            "siteId": {"type": "string"},
            "name": {"type": "string"},
            "maxPowerKw": NUMBER,
            "chargePointIds": {"type": "array", "items": {"type": "string"}},
            "allocatedKw": {**NUMBER, "description": "the sum of the connectors' allocations"},
            "updatedAt": {"type": "string"},
        },
        ("siteId", "name", "maxPowerKw", "chargePointIds", "allocatedKw", "updatedAt"),
    ),
    "SitePage": object_schema(
        {"sites": {"type": "array", "items": ref("SiteSummary")}, "nextToken": NULLABLE_STRING}, ("sites", "nextToken")
    ),
    "Site": {
        "allOf": [
            ref("SiteSummary"),
            object_schema(
                {
                    "currentPowerKw": {**NUMBER, "description": "the sum of the active sessions' latest power"},
                    "activeSessions": {
                        "type": "array",
                        "items": object_schema(
                            {
                                "sessionId": {"type": "string"},
                                "chargePointId": {"type": "string"},
                                "connectorId": INTEGER,
                                "powerKw": NUMBER,
                                "allocationKw": {"type": ["number", "null"]},
                            },
                            ("sessionId", "chargePointId", "connectorId", "powerKw", "allocationKw"),
                        ),
                    },
                    "allocation": {
                        "type": "array",
                        "items": object_schema(
                            {
                                "chargePointId": {"type": "string"},
                                "connectorId": INTEGER,
                                "allocationKw": NUMBER,
                                "capKw": {**NUMBER, "description": "the most it can use: charger share or car demand"},
                                "sentKw": {"type": ["number", "null"], "description": "the TxProfile limit sent"},
                            },
                            ("chargePointId", "connectorId", "allocationKw", "capKw", "sentKw"),
                        ),
                    },
                },
                ("currentPowerKw", "activeSessions", "allocation"),
            ),
        ]
    },
}


def operations(_json: Helper, _error: Helper, _path_param: Helper, _query: Helper) -> dict[str, dict[str, dict]]:
    return {
        "/sites": {
            "get": {
                "summary": "Sites: grid connections whose limit their chargers share, a page at a time",
                "security": [OPERATOR],
                "parameters": [_query("limit", LIMIT), _query("nextToken", PAGE_TOKEN)],
                "responses": {
                    "200": _json(ref("SitePage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                },
            }
        },
        "/sites/{site_id}": {
            "put": {
                "summary": "Create or replace a site: its limit and its chargers (each on at most one site)",
                "security": [OPERATOR],
                "parameters": [_path_param("site_id")],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("SiteRequest")}}},
                "responses": {
                    "200": _json(ref("Site"), "the site as saved"),
                    "400": _error("a bad site id or body, or an unknown charger"),
                    "409": _error("a charger is on another site, or the site changed meanwhile"),
                },
            },
            "get": {
                "summary": "A site: its limit, live total, active sessions and each connector's allocation",
                "security": [OPERATOR],
                "parameters": [_path_param("site_id")],
                "responses": {"200": _json(ref("Site"), "the site"), "404": _error("no such site")},
            },
        },
    }
