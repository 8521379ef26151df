"""The OpenAPI 3 description of every HTTP route, served at GET /openapi.json.

Written by hand next to the code it describes, and kept true by tests: tests/test_openapi.py compares
its paths, methods and security with app.app.routes, and tests/test_fuzz_api.py fuzzes the app from it
and checks every answer against it. Security follows the stage's settings (chalicelib/auth.py).
"""

from __future__ import annotations

from typing import Any

from chalicelib import charging_rules, ocpp_frames, views
from chalicelib import settings as settings_module

CHARGE_POINT_ID = {"type": "string", "pattern": ocpp_frames.CHARGE_POINT_ID_PATTERN}
NULLABLE_STRING = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict, required: tuple[str, ...] = (), closed: bool = False) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


SCHEMAS: dict[str, dict] = {
    "Error": _object(
        {"Code": {"type": "string", "minLength": 1}, "Message": {"type": "string", "minLength": 1}}, ("Code", "Message")
    ),
    "ChargePoint": _object(
        {
            "chargePointId": {"type": "string"},
            "status": {"type": "string", "enum": list(charging_rules.CHARGE_POINT_STATUSES)},
            "registration": {"type": "string"},
            "location": {"type": "string"},
            "model": {"type": "string"},
            "vendor": {"type": "string"},
            "connectors": INTEGER,
            "maxPower": NUMBER,
            "lastSeen": {"type": "string"},
            "serialNumber": {"type": "string"},
            "firmwareVersion": {"type": "string"},
            "firmwareStatus": {"type": "string"},
            "diagnosticsStatus": {"type": "string"},
            "bootedAt": {"type": "string"},
            "connectorStatus": {"type": "object"},
            "unknownStops": {"type": "array", "items": {"type": "string"}},
            "online": {"type": "boolean"},
        },
        ("chargePointId", "status"),
    ),
    "ChargePointPage": _object(
        {"chargePoints": {"type": "array", "items": _ref("ChargePoint")}, "nextToken": NULLABLE_STRING},
        ("chargePoints", "nextToken"),
    ),
    "Session": _object(
        {
            "sessionId": {"type": "string"},
            "chargePointId": {"type": "string"},
            "connectorId": INTEGER,
            "transactionId": INTEGER,
            "idTag": {"type": "string"},
            "userId": {"type": "string"},
            "status": {"type": "string", "enum": list(charging_rules.SESSION_STATUSES)},
            "startTime": {"type": "string"},
            "stopTime": NULLABLE_STRING,
            "meterStart": INTEGER,
            "meterStop": {"type": ["integer", "null"]},
            "currentEnergy": NUMBER,
            "power": NUMBER,
            "soc": {"type": ["number", "null"]},
            "cost": NUMBER,
            "currency": {"type": "string"},
            "lastMeterTime": NULLABLE_STRING,
            "stopReason": NULLABLE_STRING,
            "lateMeterValues": INTEGER,
        },
        ("sessionId", "chargePointId", "transactionId", "status", "startTime", "currentEnergy", "cost"),
    ),
    "SessionPage": _object(
        {"sessions": {"type": "array", "items": _ref("Session")}, "nextToken": NULLABLE_STRING},
        ("sessions", "nextToken"),
    ),
    "Stats": _object(
        {
            name: NUMBER
            for name in (
                "totalChargePoints",
                "availableChargePoints",
                "chargingChargePoints",
                "activeSessions",
                "completedSessions",
                "totalEnergyKwh",
                "totalRevenue",
                "rejectedMessages",
            )
        }
        | {"currency": {"type": "string"}},
        (
            "totalChargePoints",
            "activeSessions",
            "completedSessions",
            "totalEnergyKwh",
            "totalRevenue",
            "rejectedMessages",
        ),
    ),
    "SimulateRequest": _object({"chargePointId": CHARGE_POINT_ID, "messageType": {"type": "string"}}, closed=True),
    "SimulateResult": _object(
        {
            "messages": {
                "type": "array",
                "items": _object(
                    {"chargePointId": {"type": "string"}, "message": {"type": "array"}}, ("chargePointId", "message")
                ),
            }
        },
        ("messages",),
    ),
    "PasswordRequest": _object(
        {"password": {"type": "string", "minLength": 16, "maxLength": 40}}, ("password",), closed=True
    ),
    "PasswordSet": _object(
        {"chargePointId": {"type": "string"}, "passwordSetAt": {"type": "string"}}, ("chargePointId", "passwordSetAt")
    ),
    "CommandRequest": _object({"action": {"type": "string"}, "payload": {"type": "object"}}, ("action",)),
    "CommandAccepted": _object(
        {"commandId": {"type": "string"}, "status": {"type": "string"}}, ("commandId", "status")
    ),
    "Command": _object(
        {
            "commandId": {"type": "string"},
            "chargePointId": {"type": "string"},
            "action": {"type": "string"},
            "payload": {"type": "object"},
            "status": {"type": "string"},
            "createdAt": {"type": "string"},
            "sentAt": {"type": "string"},
            "answeredAt": {"type": "string"},
            "result": {},
            "error": {},
        },
        ("commandId", "chargePointId", "action", "status", "createdAt"),
    ),
    # OCPP-J frames: [3, uniqueId, payload] and [4, uniqueId, errorCode, description, details].
    "CallResult": {
        "type": "array",
        "prefixItems": [{"const": ocpp_frames.CALLRESULT}, {"type": "string"}, {"type": "object"}],
        "minItems": 3,
        "maxItems": 3,
    },
    # The uniqueId as the charger sent it: a number or an over-long id is echoed so that it can match the answer.
    "CallError": {
        "type": "array",
        "prefixItems": [
            {"const": ocpp_frames.CALLERROR},
            {"type": ["string", "number"]},
            {"type": "string"},
            {"type": "string"},
            {"type": "object"},
        ],
        "minItems": 5,
        "maxItems": 5,
    },
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(_ref("Error"), description)


def _path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


LIMIT = {"type": "integer", "minimum": 1, "maximum": views.MAX_LIMIT}
PAGE_TOKEN = {"type": "string", "description": "the nextToken of the previous page, as it was given: opaque and signed"}
OPERATOR = "operator"  # marks an operation protected by the stage's operator auth


def _operations() -> dict[str, dict[str, dict]]:
    cp = _path_param("charge_point_id", CHARGE_POINT_ID)
    return {
        "/ocpp/{charge_point_id}": {
            "post": {
                "summary": "One OCPP 1.6J CALL frame from a charger; its CALLRESULT or CALLERROR",
                "parameters": [cp],
                "security": ["ocpp"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"type": "array"}},
                        "text/plain": {"schema": {"type": "string"}},
                    },
                },
                "responses": {
                    "200": _json(_ref("CallResult"), "the CALLRESULT"),
                    "400": _json(
                        {"oneOf": [_ref("CallError"), _ref("Error")]},
                        "a CALLERROR with the spec's code, or an invalid charge point id",
                    ),
                    "401": _error("OCPP_AUTH=basic and no valid HTTP Basic credentials"),
                },
            }
        },
        "/chargepoints": {
            "get": {
                "summary": "Charge points by id, a page at a time",
                "security": [OPERATOR],
                "parameters": [
                    _query("status", {"type": "string", "enum": list(charging_rules.CHARGE_POINT_STATUSES)}),
                    _query("limit", LIMIT),
                    _query("nextToken", PAGE_TOKEN),
                ],
                "responses": {
                    "200": _json(_ref("ChargePointPage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                },
            }
        },
        "/chargepoints/{charge_point_id}": {
            "get": {
                "summary": "One charge point",
                "parameters": [cp],
                "security": [OPERATOR],
                "responses": {
                    "200": _json(_ref("ChargePoint"), "the charge point"),
                    "404": _error("no such charge point"),
                },
            }
        },
        "/chargepoints/{charge_point_id}/password": {
            "put": {
                "summary": "Set the charger's OCPP HTTP Basic password (stored hashed)",
                "parameters": [cp],
                "security": [OPERATOR],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PasswordRequest")}}},
                "responses": {
                    "200": _json(_ref("PasswordSet"), "the password is set"),
                    "400": _error("not a password this system takes"),
                },
            }
        },
        "/chargepoints/{charge_point_id}/commands": {
            "post": {
                "summary": "Send a remote command to a connected charger",
                "parameters": [cp],
                "security": [OPERATOR],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CommandRequest")}}},
                "responses": {
                    "200": _json(_ref("CommandAccepted"), "the command is queued"),
                    "400": _error("a bad action or payload"),
                    "404": _error("no such charge point"),
                    "409": _error("the charger is offline or has a command outstanding"),
                },
            }
        },
        "/chargepoints/{charge_point_id}/commands/{command_id}": {
            "get": {
                "summary": "A remote command and the charger's answer",
                "security": [OPERATOR],
                "parameters": [cp, _path_param("command_id")],
                "responses": {"200": _json(_ref("Command"), "the command"), "404": _error("no such command")},
            }
        },
        "/sessions": {
            "get": {
                "summary": "Charging sessions, newest first, a page at a time",
                "security": [OPERATOR],
                "parameters": [
                    _query("status", {"type": "string", "enum": list(charging_rules.SESSION_STATUSES)}),
                    _query("chargePointId", CHARGE_POINT_ID),
                    _query("limit", LIMIT),
                    _query("nextToken", PAGE_TOKEN),
                ],
                "responses": {
                    "200": _json(_ref("SessionPage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                },
            }
        },
        "/sessions/{session_id}": {
            "get": {
                "summary": "One charging session",
                "parameters": [_path_param("session_id")],
                "security": [OPERATOR],
                "responses": {"200": _json(_ref("Session"), "the session"), "404": _error("no such session")},
            }
        },
        "/stats": {
            "get": {
                "summary": "Fleet totals",
                "security": [OPERATOR],
                "responses": {"200": _json(_ref("Stats"), "the totals")},
            }
        },
        "/simulate": {
            "post": {
                "summary": "One simulator tick now, or one message from one simulated charger",
                "security": [OPERATOR],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("SimulateRequest")}},
                },
                "responses": {
                    "200": _json(_ref("SimulateResult"), "the frames the simulator sent"),
                    "400": _error("a bad body"),
                    "404": _error("not a simulated charge point"),
                    "409": _error("that message is not possible now, or a tick is running"),
                },
            }
        },
        "/openapi.json": {
            "get": {"summary": "This description", "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}
        },
        "/": {
            "get": {
                "summary": "The dashboard",
                "responses": {
                    "200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}}
                },
            }
        },
        "/assets/{name}": {
            "get": {
                "summary": "The dashboard's files",
                "parameters": [_path_param("name")],
                "responses": {
                    "200": {
                        "description": "the file",
                        "content": {
                            media: {"schema": {"type": "string"}}
                            for media in ("text/css", "text/javascript", "image/svg+xml", "text/html")
                        },
                    },
                    "404": _error("no such file"),
                },
            }
        },
    }


def _security_schemes(settings: settings_module.Settings) -> dict[str, dict]:
    schemes = {}
    if settings.operator_auth == "api-key":
        schemes[OPERATOR] = {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-key",
            "description": "an API Gateway API key of a usage plan of this stage",
        }
    elif settings.operator_auth == "iam":
        schemes[OPERATOR] = {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "AWS Signature Version 4 of an IAM principal allowed to invoke the API",
        }
    if settings.ocpp_auth == "basic":
        schemes["ocpp"] = {
            "type": "http",
            "scheme": "basic",
            "description": "OCPP 1.6 security profile 1: the charge point id and its password",
        }
    return schemes


def document(settings: settings_module.Settings | None = None) -> dict:
    """The OpenAPI 3.1 document for this stage."""
    settings = settings or settings_module.get()
    schemes = _security_schemes(settings)
    paths: dict[str, dict] = {}
    for path, methods in _operations().items():
        paths[path] = {}
        for method, operation in methods.items():
            wanted = [name for name in operation.pop("security", ()) if name in schemes]
            if wanted:
                operation["security"] = [{name: []} for name in wanted]
                if OPERATOR in wanted:  # API Gateway's own refusal, before the Lambda runs
                    operation["responses"]["403"] = _json(
                        _object({"message": {"type": "string"}}, ("message",)), "no valid API key or signature"
                    )
            operation["operationId"] = f"{method}{path}"
            paths[path][method] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EV charging central system",
            "version": "1.0.0",
            "description": "OCPP 1.6J central system: charge points, charging sessions, fleet statistics.",
        },
        "paths": paths,
        "components": {"schemas": SCHEMAS, **({"securitySchemes": schemes} if schemes else {})},
    }
