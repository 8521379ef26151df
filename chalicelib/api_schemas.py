"""The JSON schemas of what the API returns (charge points, sessions, statistics, commands, errors, OCPP-J
frames): the components of the OpenAPI document (openapi.py)."""

from __future__ import annotations

from typing import Any

from chalicelib import charging_rules, ocpp_frames

CHARGE_POINT_ID = {"type": "string", "pattern": ocpp_frames.CHARGE_POINT_ID_PATTERN}
NULLABLE_STRING = {"type": ["string", "null"]}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def object_schema(properties: dict, required: tuple[str, ...] = (), closed: bool = False) -> dict:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(required)}
    if closed:
        schema["additionalProperties"] = False
    return schema


SCHEMAS: dict[str, dict] = {
    "Error": object_schema(
        {"Code": {"type": "string", "minLength": 1}, "Message": {"type": "string", "minLength": 1}}, ("Code", "Message")
    ),
    "ChargePoint": object_schema(
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
    "ChargePointPage": object_schema(
        {"chargePoints": {"type": "array", "items": ref("ChargePoint")}, "nextToken": NULLABLE_STRING},
        ("chargePoints", "nextToken"),
    ),
    "Session": object_schema(
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
    "SessionPage": object_schema(
        {"sessions": {"type": "array", "items": ref("Session")}, "nextToken": NULLABLE_STRING},
        ("sessions", "nextToken"),
    ),
    "Stats": object_schema(
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
    "SampledValue": object_schema(
        {
            "value": {"type": "string"},
            "measurand": {"type": "string"},
            "phase": NULLABLE_STRING,
            "unit": {"type": "string"},
            "context": {"type": "string"},
            "location": {"type": "string"},
        },
        ("value", "measurand", "phase", "unit", "context", "location"),
    ),
    "MeterValuePage": object_schema(
        {
            "meterValues": {
                "type": "array",
                "items": object_schema(
                    {"timestamp": {"type": "string"}, "sampledValue": {"type": "array", "items": ref("SampledValue")}},
                    ("timestamp", "sampledValue"),
                ),
            },
            "nextToken": NULLABLE_STRING,
        },
        ("meterValues", "nextToken"),
    ),
    "FleetEnergy": object_schema(
        {
            "intervalSeconds": INTEGER,
            "points": {
                "type": "array",
                "items": object_schema(
                    {"start": {"type": "string"}, "energyKwh": NUMBER, "powerKw": NUMBER},
                    ("start", "energyKwh", "powerKw"),
                ),
            },
        },
        ("intervalSeconds", "points"),
    ),
    "SimulateRequest": object_schema(
        {"chargePointId": CHARGE_POINT_ID, "messageType": {"type": "string"}}, closed=True
    ),
    "SimulateResult": object_schema(
        {
            "messages": {
                "type": "array",
                "items": object_schema(
                    {"chargePointId": {"type": "string"}, "message": {"type": "array"}}, ("chargePointId", "message")
                ),
            }
        },
        ("messages",),
    ),
    "PasswordRequest": object_schema(
        {"password": {"type": "string", "minLength": 16, "maxLength": 40}}, ("password",), closed=True
    ),
    "PasswordSet": object_schema(
        {"chargePointId": {"type": "string"}, "passwordSetAt": {"type": "string"}}, ("chargePointId", "passwordSetAt")
    ),
    "CommandRequest": object_schema({"action": {"type": "string"}, "payload": {"type": "object"}}, ("action",)),
    "CommandAccepted": object_schema(
        {"commandId": {"type": "string"}, "status": {"type": "string"}}, ("commandId", "status")
    ),
    "Command": object_schema(
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
