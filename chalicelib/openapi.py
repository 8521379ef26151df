"""The OpenAPI 3 description of every HTTP route, served at GET /openapi.json.

Written by hand next to the code it describes, and kept true by tests: tests/test_openapi.py compares
its paths, methods and security with app.app.routes, and tests/test_fuzz_api.py fuzzes the app from it
and checks every answer against it. Security follows the stage's settings (chalicelib/auth.py).
"""

from __future__ import annotations

from chalicelib import (
    charging_rules,
    openapi_credentials,
    openapi_exports,
    openapi_id_tags,
    openapi_reservations,
    openapi_sites,
)
from chalicelib import settings as settings_module
from chalicelib.api_schemas import (
    CHARGE_POINT_ID,
    LIMIT,
    OPERATOR,
    PAGE_TOKEN,
    SCHEMAS,
    charging_profile_schemas,
    object_schema,
    ref,
)


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json(ref("Error"), description)


def _path_param(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": schema or {"type": "string", "minLength": 1}}


def _query(name: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema}


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
                    "200": _json(ref("CallResult"), "the CALLRESULT"),
                    "400": _json(
                        {"oneOf": [ref("CallError"), ref("Error")]},
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
                    "200": _json(ref("ChargePointPage"), "a page"),
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
                    "200": _json(ref("ChargePoint"), "the charge point"),
                    "404": _error("no such charge point"),
                },
            }
        },
        **openapi_credentials.operations(_json, _error, _path_param),
        "/chargepoints/{charge_point_id}/commands": {
            "post": {
                "summary": "Send a remote command to a connected charger",
                "parameters": [cp],
                "security": [OPERATOR],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref("CommandRequest")}}},
                "responses": {
                    "200": _json(ref("CommandAccepted"), "the command is queued"),
                    "400": _error("a bad action or payload"),
                    "404": _error("no such charge point"),
                    "409": _error("the charger is offline or has a command outstanding"),
                },
            },
            "get": {
                "summary": "A charger's recent remote commands, newest first, a page at a time",
                "security": [OPERATOR],
                "parameters": [cp, _query("limit", LIMIT), _query("nextToken", PAGE_TOKEN)],
                "responses": {
                    "200": _json(ref("CommandPage"), "a page (empty for a charger never commanded)"),
                    "400": _error("a bad parameter or page token"),
                    "404": _error("not a charge point id"),
                },
            },
        },
        "/chargepoints/{charge_point_id}/commands/{command_id}": {
            "get": {
                "summary": "A remote command and the charger's answer",
                "security": [OPERATOR],
                "parameters": [cp, _path_param("command_id")],
                "responses": {"200": _json(ref("Command"), "the command"), "404": _error("no such command")},
            }
        },
        "/chargepoints/{charge_point_id}/chargingProfiles": {
            "get": {
                "summary": "The charging profiles set on a charger and its composite schedule per connector (24 h, W)",
                "security": [OPERATOR],
                "parameters": [cp],
                "responses": {
                    "200": _json(ref("ChargingProfiles"), "the profiles and composite schedules"),
                    "404": _error("no such charge point"),
                },
            }
        },
        **openapi_reservations.operations(_json, _error, _path_param, _query),
        **openapi_sites.operations(_json, _error, _path_param, _query),
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
                    "200": _json(ref("SessionPage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                },
            }
        },
        "/sessions/{session_id}": {
            "get": {
                "summary": "One charging session",
                "parameters": [_path_param("session_id")],
                "security": [OPERATOR],
                "responses": {"200": _json(ref("Session"), "the session"), "404": _error("no such session")},
            }
        },
        **openapi_id_tags.operations(_json, _error, _path_param, _query),
        **openapi_exports.operations(_json, _error, _path_param, _query),
        "/sessions/{session_id}/meterValues": {
            "get": {
                "summary": "A session's meter readings, every sampled value, oldest first, a page at a time",
                "parameters": [_path_param("session_id"), _query("limit", LIMIT), _query("nextToken", PAGE_TOKEN)],
                "security": [OPERATOR],
                "responses": {
                    "200": _json(ref("MeterValuePage"), "a page"),
                    "400": _error("a bad parameter or page token"),
                    "404": _error("no such session"),
                },
            }
        },
        "/stats": {
            "get": {
                "summary": "Fleet totals",
                "security": [OPERATOR],
                "responses": {"200": _json(ref("Stats"), "the totals")},
            }
        },
        "/stats/energy": {
            "get": {
                "summary": "The fleet's energy and mean power per 5 minutes, from the stored snapshots",
                "security": [OPERATOR],
                "parameters": [
                    _query("from", {"type": "string", "format": "date-time"}),
                    _query("to", {"type": "string", "format": "date-time"}),
                ],
                "responses": {
                    "200": _json(ref("FleetEnergy"), "one point per interval, oldest first"),
                    "400": _error("a bad time, or a window over 24 hours"),
                },
            }
        },
        "/simulate": {
            "post": {
                "summary": "One simulator tick now, or one message from one simulated charger",
                "security": [OPERATOR],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": ref("SimulateRequest")}},
                },
                "responses": {
                    "200": _json(ref("SimulateResult"), "the frames the simulator sent"),
                    "400": _error("a bad body"),
                    "404": _error("not a simulated charge point"),
                    "409": _error("that message is not possible now, or a tick is running"),
                },
            }
        },
        "/ocpp/schemas/{action}": {
            "get": {
                "summary": "The official OCPP 1.6 JSON schema of a remote command's payload (dashboard forms)",
                "parameters": [_path_param("action")],
                "responses": {
                    "200": _json({"type": "object"}, "the JSON schema (draft 4), as the `ocpp` package ships it"),
                    "404": _error("not one of the 19 commands"),
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
                        object_schema({"message": {"type": "string"}}, ("message",)), "no valid API key or signature"
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
        "components": {
            "schemas": {
                **SCHEMAS,
                **charging_profile_schemas(),
                **openapi_reservations.SCHEMAS,
                **openapi_sites.SCHEMAS,
                **openapi_id_tags.SCHEMAS,
                **openapi_credentials.SCHEMAS,
            },
            **({"securitySchemes": schemes} if schemes else {}),
        },
    }
