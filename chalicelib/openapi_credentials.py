"""The OpenAPI operations and schemas of chargers' credentials (OCPP security profile 1): a password an
operator chooses, or an AuthorizationKey the system generates (a part of openapi.py's document, kept apart
so that each file describes one concern)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import auth, authorization_key
from chalicelib.api_schemas import CHARGE_POINT_ID, OPERATOR, object_schema, ref

Helper = Callable[..., dict]

SCHEMAS: dict[str, dict] = {
    "PasswordRequest": object_schema(
        {"password": {"type": "string", "minLength": auth.MIN_PASSWORD, "maxLength": auth.MAX_PASSWORD}},
        ("password",),
        closed=True,
    ),
    "PasswordSet": object_schema(
        {"chargePointId": {"type": "string"}, "passwordSetAt": {"type": "string"}}, ("chargePointId", "passwordSetAt")
    ),
    "AuthorizationKeyQueued": object_schema(
        {
            "commandId": {"type": "string"},
            "status": {"type": "string", "enum": ["pending"]},
            "chargePointId": {"type": "string"},
            "authorizationKey": {
                "type": "string",
                "pattern": f"^[A-Za-z0-9]{{{authorization_key.KEY_LENGTH}}}$",
                "description": "the new key, shown this once and stored only hashed: keep it if the charger"
                " may have to be given it by hand",
            },
        },
        ("commandId", "status", "chargePointId", "authorizationKey"),
    ),
}


def operations(_json: Helper, _error: Helper, _path_param: Helper) -> dict[str, dict[str, dict]]:
    cp = _path_param("charge_point_id", CHARGE_POINT_ID)
    return {
        "/chargepoints/{charge_point_id}/password": {
            "put": {
                "summary": "Set the charger's OCPP HTTP Basic password (stored with a slow hash)",
                "parameters": [cp],
                "security": [OPERATOR],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("PasswordRequest")}}},
                "responses": {
                    "200": _json(ref("PasswordSet"), "the password is set"),
                    "400": _error("not a password this system takes"),
                },
            }
        },
        "/chargepoints/{charge_point_id}/authorizationKey": {
            "post": {
                "summary": "Give a connected charger a new generated AuthorizationKey (ChangeConfiguration)",
                "description": "Queues ChangeConfiguration AuthorizationKey with a key of 32 random letters and"
                " digits; the command's views show its value as `(sealed)`. When the charger answers Accepted the"
                " key (stored with a fast hash) replaces its password; until then, and after any other answer or"
                " a timeout, the old password stays valid. Follow the command at"
                " GET /chargepoints/{id}/commands/{commandId}.",
                "parameters": [cp],
                "security": [OPERATOR],
                "responses": {
                    "202": _json(ref("AuthorizationKeyQueued"), "the command is queued; the key is shown this once"),
                    "404": _error("no such charge point"),
                    "409": _error("the charger is offline or has a command outstanding"),
                },
            }
        },
    }
