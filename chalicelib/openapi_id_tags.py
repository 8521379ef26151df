"""The OpenAPI operations of the idTag registry and of the local lists built from it (a part of
openapi.py's document, kept apart so that each file describes one concern)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import id_tags, local_list
from chalicelib.api_schemas import (
    CHARGE_POINT_ID,
    ID_TAG,
    INTEGER,
    LIMIT,
    LOCAL_LIST_SUMMARY,
    OPERATOR,
    PAGE_TOKEN,
    object_schema,
    ref,
)

Helper = Callable[..., dict]
NULLABLE_COUNT = {"type": ["integer", "null"], "minimum": 1}
SCHEMAS: dict[str, dict] = {
    "LocalListRequest": object_schema(
        {"updateType": {"type": "string", "enum": list(local_list.UPDATE_TYPES)}}, ("updateType",), closed=True
    ),
    "LocalList": object_schema(
        {
            "chargePointId": {"type": "string"},
            "registryVersion": INTEGER,
            **LOCAL_LIST_SUMMARY,
            "inSync": {"type": "boolean"},
        },
        ("chargePointId", "registryVersion", "chargerVersion", "sentVersion", "inSync"),
    ),
    "LocalListSent": object_schema(
        {
            "commandId": {"type": "string", "description": "the first part's, as POST .../commands answers"},
            "status": {"type": "string"},
            "commands": {
                "type": "array",
                "description": "every SendLocalList queued, in the order they go: each once the one before is Accepted",
                "items": object_schema(
                    {
                        "commandId": {"type": "string"},
                        "status": {"type": "string", "enum": ["pending", "waiting"]},
                        "updateType": {"type": "string", "enum": list(local_list.UPDATE_TYPES)},
                        "listVersion": INTEGER,
                        "entries": INTEGER,
                    },
                    ("commandId", "status", "updateType", "listVersion", "entries"),
                ),
            },
            "chargerLimits": object_schema(
                {
                    local_list.CAPACITY_KEY: NULLABLE_COUNT,
                    local_list.PER_MESSAGE_KEY: NULLABLE_COUNT,
                    "note": {"type": "string", "description": "when either is not known: how to learn them"},
                },
                (local_list.CAPACITY_KEY, local_list.PER_MESSAGE_KEY),
            ),
        },
        ("commandId", "status", "commands", "chargerLimits"),
    ),
}


def operations(_json: Helper, _error: Helper, _path_param: Helper, _query: Helper) -> dict[str, dict[str, dict]]:
    """The idTag registry's routes, and the local lists built from it."""
    tag = _path_param("id_tag", ID_TAG)
    bad_tag = _error("not an idTag: " + id_tags.ID_TAG_RULE)
    cp = _path_param("charge_point_id", CHARGE_POINT_ID)
    return {
        "/chargepoints/{charge_point_id}/localList": {
            "get": {
                "summary": "The charger's local authorization list: its version beside the registry's",
                "security": [OPERATOR],
                "parameters": [cp],
                "responses": {"200": _json(ref("LocalList"), "the versions"), "404": _error("no such charge point")},
            },
            "post": {
                "summary": "Queue a SendLocalList from the idTag registry: Full, or Differential since the charger's",
                "description": (
                    "Sized to the charger's LocalAuthListMaxLength and SendLocalListMaxLength once a GetConfiguration "
                    "answer told them: a list it cannot hold is refused, a longer one goes in parts (a Full or "
                    "Differential first, then Differentials; only the last part's version is the whole list's)."
                ),
                "security": [OPERATOR],
                "parameters": [cp],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("LocalListRequest")}}},
                "responses": {
                    "200": _json(ref("LocalListSent"), "the SendLocalList commands are queued"),
                    "400": _error("a bad body"),
                    "404": _error("no such charge point"),
                    "409": _error(
                        "offline, a command outstanding, more entries than the charger holds or than the bounds, "
                        "or no known charger version to differ from"
                    ),
                },
            },
        },
        "/idtags": {
            "get": {
                "summary": "The idTag registry by idTag, a page at a time",
                "security": [OPERATOR],
                "parameters": [_query("limit", LIMIT), _query("nextToken", PAGE_TOKEN)],
                "responses": {
                    "200": _json(ref("IdTagPage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                },
            }
        },
        "/idtags/{id_tag}": {
            "get": {
                "summary": "One idTag's registry entry",
                "security": [OPERATOR],
                "parameters": [tag],
                "responses": {
                    "200": _json(ref("IdTag"), "the entry"),
                    "400": bad_tag,
                    "404": _error("no such idTag in the registry"),
                },
            },
            "put": {
                "summary": "Create or replace an idTag's entry (what chargers are answered for it)",
                "security": [OPERATOR],
                "parameters": [tag],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("IdTagRequest")}}},
                "responses": {"200": _json(ref("IdTag"), "the entry as stored"), "400": _error("a bad idTag or body")},
            },
            "delete": {
                "summary": "Remove an idTag from the registry (the chargers' local lists lose it at their next update)",
                "security": [OPERATOR],
                "parameters": [tag],
                "responses": {
                    "200": _json(ref("IdTagDeleted"), "removed"),
                    "400": bad_tag,
                    "404": _error("no such idTag in the registry"),
                },
            },
        },
    }
