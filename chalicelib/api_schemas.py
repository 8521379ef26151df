"""The JSON schemas of what the API returns (charge points, sessions, statistics, commands, errors, OCPP-J
frames): the components of the OpenAPI document (openapi.py)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib import charging_rules, ocpp_frames, views

CHARGE_POINT_ID = {"type": "string", "pattern": ocpp_frames.CHARGE_POINT_ID_PATTERN}
NULLABLE_STRING = {"type": ["string", "null"]}
# OCPP 1.6 IdToken (CiString20): printable ASCII.
ID_TAG = {"type": "string", "pattern": "^[ -~]{1,20}$"}
ID_TAG_STATUSES = ["Accepted", "Blocked", "Expired", "Invalid"]
# What a charge point's local authorization list holds (null: not known).
LOCAL_LIST_SUMMARY = {
    "chargerVersion": {"type": ["integer", "null"]},
    "sentVersion": {"type": ["integer", "null"]},
    "status": NULLABLE_STRING,
    "updatedAt": NULLABLE_STRING,
}
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
LIMIT = {"type": "integer", "minimum": 1, "maximum": views.MAX_LIMIT}
PAGE_TOKEN = {"type": "string", "description": "the nextToken of the previous page, as it was given: opaque and signed"}
OPERATOR = "operator"  # marks an operation protected by the stage's operator auth


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
            "firmwareUpdate": object_schema(
                {"location": {"type": "string"}, "retrieveDate": {"type": "string"}, "requestedAt": {"type": "string"}}
            ),
            "firmwareHistory": {"type": "array", "items": ref("StatusAt")},
            "diagnosticsHistory": {"type": "array", "items": ref("StatusAt")},
            "reservations": {
                "type": "array",
                "items": object_schema(
                    {
                        "connectorId": INTEGER,
                        "reservationId": INTEGER,
                        "idTag": {"type": "string"},
                        "expiryDate": {"type": "string"},
                    },
                    ("connectorId", "reservationId", "idTag", "expiryDate"),
                ),
            },
            "localList": object_schema(LOCAL_LIST_SUMMARY, tuple(LOCAL_LIST_SUMMARY)),
            "availability": {
                "type": "object",
                "description": "per connector id (0: the whole charger), the last ChangeAvailability it took",
                "additionalProperties": object_schema(
                    {
                        "type": {"type": "string", "enum": ["Operative", "Inoperative"]},
                        "status": {"type": "string", "enum": ["Accepted", "Scheduled"]},
                        "at": {"type": "string"},
                    },
                    ("type", "status", "at"),
                ),
            },
            "configuration": {
                "type": "object",
                "description": "per key, the charger's last GetConfiguration answer and later accepted changes",
                "additionalProperties": object_schema(
                    {
                        "value": {"type": "string"},
                        "readonly": {"type": "boolean"},
                        "changedAt": {"type": "string"},
                        "rebootRequired": {"type": "boolean"},
                    },
                    ("readonly",),
                ),
            },
            "unknownKeys": {"type": "array", "items": {"type": "string"}},
            "configurationAt": {"type": "string"},
            "configurationKeysNotKept": INTEGER,
        },
        ("chargePointId", "status"),
    ),
    "StatusAt": object_schema({"status": {"type": "string"}, "at": {"type": "string"}}, ("status", "at")),
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
            "idTagStatus": NULLABLE_STRING,
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
                    {
                        "start": {"type": "string"},
                        "energyKwh": {"type": ["number", "null"]},
                        "powerKw": {"type": ["number", "null"]},
                        "partial": {"type": "boolean"},
                    },
                    ("start", "energyKwh", "powerKw", "partial"),
                ),
            },
            "live": {
                "type": ["object", "null"],
                "properties": {"takenAt": {"type": "string"}, "ageSeconds": NUMBER},
                "required": ["takenAt", "ageSeconds"],
            },
        },
        ("intervalSeconds", "points", "live"),
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
            "status": {"type": "string", "description": "pending, answered, failed, timedOut; waiting: a later part"},
            "part": {"type": "integer", "description": "a command sent in parts (a long local list): which one"},
            "parts": INTEGER,
            "createdAt": {"type": "string"},
            "sentAt": {"type": "string"},
            "answeredAt": {"type": "string"},
            "result": {},
            "error": {},
            "omitted": {
                "type": "array",
                "items": {"type": "string", "enum": ["payload", "result"]},
                "description": "in a list: left out for their size (over 4 KB); GET the command for them",
            },
        },
        ("commandId", "chargePointId", "action", "status", "createdAt"),
    ),
    "IdTagRequest": object_schema(
        {
            "status": {"type": "string", "enum": ID_TAG_STATUSES},
            "expiryDate": {"type": ["string", "null"], "format": "date-time"},
            "parentIdTag": {"anyOf": [ID_TAG, {"type": "null"}]},
            "maxActiveTransactions": {"type": ["integer", "null"], "minimum": 1, "maximum": 1000},
        },
        ("status",),
        closed=True,
    ),
    "IdTag": object_schema(
        {
            "idTag": {"type": "string"},
            "status": {"type": "string", "enum": ID_TAG_STATUSES},
            "expiryDate": NULLABLE_STRING,
            "parentIdTag": NULLABLE_STRING,
            "maxActiveTransactions": {"type": ["integer", "null"]},
            "activeTransactions": INTEGER,
            "updatedAt": {"type": "string"},
            "version": INTEGER,
        },
        ("idTag", "status", "activeTransactions", "updatedAt", "version"),
    ),
    "IdTagPage": object_schema(
        {"idTags": {"type": "array", "items": ref("IdTag")}, "nextToken": NULLABLE_STRING}, ("idTags", "nextToken")
    ),
    "IdTagDeleted": object_schema({"idTag": {"type": "string"}, "deleted": {"type": "boolean"}}, ("idTag", "deleted")),
    "CommandPage": object_schema(
        {"commands": {"type": "array", "items": ref("Command")}, "nextToken": NULLABLE_STRING},
        ("commands", "nextToken"),
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


def charging_profile_schemas() -> dict[str, dict]:
    """The view of GET /chargepoints/{id}/chargingProfiles, from the official SetChargingProfile schema (read
    when the document is built, not at import: the schemas load with the `ocpp` package's validator)."""
    profile = ocpp_frames.request_schema("SetChargingProfile")["properties"]["csChargingProfiles"]
    schedule = json.loads(json.dumps(profile["properties"]["chargingSchedule"]))
    # The central system does not know a charger's own maximum: null where no profile limits.
    schedule["properties"]["chargingSchedulePeriod"]["items"]["properties"]["limit"] = {"type": ["number", "null"]}
    profile["properties"]["connectorId"] = INTEGER
    profile["required"].append("connectorId")
    return {
        "StoredChargingProfile": profile,
        "CompositeSchedule": schedule,
        "ChargingProfiles": object_schema(
            {
                "chargePointId": {"type": "string"},
                "chargingProfiles": {"type": "array", "items": ref("StoredChargingProfile")},
                "compositeSchedule": {
                    "type": "object",
                    "description": "per connector id (0: the charge point as a whole), the next 24 hours in W",
                    "additionalProperties": ref("CompositeSchedule"),
                },
            },
            ("chargePointId", "chargingProfiles", "compositeSchedule"),
            closed=True,
        ),
    }
