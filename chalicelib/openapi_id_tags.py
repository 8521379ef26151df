"""The OpenAPI operations of the idTag registry and of the local lists built from it (a part of
openapi.py's document, kept apart so that each file describes one concern)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import id_tags
from chalicelib.api_schemas import CHARGE_POINT_ID, ID_TAG, LIMIT, OPERATOR, PAGE_TOKEN, ref

Helper = Callable[..., dict]


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
                "security": [OPERATOR],
                "parameters": [cp],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("LocalListRequest")}}},
                "responses": {
                    "200": _json(ref("CommandAccepted"), "the SendLocalList command is queued"),
                    "400": _error("a bad body"),
                    "404": _error("no such charge point"),
                    "409": _error(
                        "offline, a command outstanding, too many entries, or no known charger version to differ from"
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
