"""What the API shows: charge points, sessions and commands as JSON views of their stored items, and the
paging limit of its lists. Shared by the REST layer and the OpenAPI document; no HTTP here."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib import ocpp_frames, pricing
from chalicelib.charging_rules import DEFAULT_MAX_POWER_W, plausible_energy_wh

# The most items one page of a list returns.
MAX_LIMIT = 100
# A listed command shows a payload or result up to this size (JSON): a page of 100 stays well under the
# 6 MB a Lambda may answer, whatever the chargers answered (up to 100 KB each).
LISTED_COMMAND_PART_BYTES = 4096


def plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _anomalies(item: dict) -> dict:
    """An item's anomaly counts by reason, with the latest one in words."""
    counts = {key.removeprefix("anomaly_"): int(value) for key, value in item.items() if key.startswith("anomaly_")}
    return {"counts": counts, "last": item.get("lastAnomaly")} if counts else {"counts": {}, "last": None}


def session_energy_wh(item: dict) -> int:
    """An active session's energy so far: its latest register, never more than is plausible by then."""
    raw = int(item.get("lastRegisterWh", item["meterStart"])) - int(item["meterStart"])
    until = item.get("lastMeterTime") or item["startTime"]
    cap = plausible_energy_wh(item["startTime"], until, float(item.get("maxPowerW", DEFAULT_MAX_POWER_W)))
    return max(min(raw, cap), 0)


def session_view(item: dict) -> dict:
    """A session as the API shows it. Energy and cost of an active session are derived from its latest
    register value and the tariff fixed at its start, so they are never stale copies."""
    tariff = pricing.tariff_from_record(item["tariff"])
    active = item["status"] == "Active"
    energy_wh = session_energy_wh(item) if active else int(item["energyWh"])
    cost = pricing.session_cost(energy_wh, tariff) if active else Decimal(item["cost"])
    view = {
        "sessionId": item["sessionId"],
        "chargePointId": item["chargePointId"],
        "connectorId": int(item["connectorId"]),
        "transactionId": int(item["transactionId"]),
        "idTag": item["idTag"],
        "userId": item["idTag"],
        # The answer its StartTransaction got: a refused start still has a session (docs/ocpp.md).
        "idTagStatus": item.get("idTagStatus"),
        "status": item["status"],
        "startTime": item["startTime"],
        "stopTime": item.get("stopTime"),
        "meterStart": int(item["meterStart"]),
        "meterStop": plain(item.get("meterStop")),
        "currentEnergy": round(max(energy_wh, 0) / 1000, 3),
        "power": round(float(item.get("powerW", 0)) / 1000, 2) if active else 0.0,
        "soc": None
        if item.get("soc") is None
        else float(Decimal(str(item["soc"])).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)),
        "cost": float(cost),
        "currency": tariff.currency,
        "lastMeterTime": item.get("lastMeterTime"),
        "stopReason": item.get("stopReason"),
        "lateMeterValues": len(item.get("lateSampleTimes", ())),
        "signedMeterValues": int(item.get("signedValues", 0)),
        "anomalies": _anomalies(item),
    }
    return view


_CHARGE_POINT_FIELDS = (
    "chargePointId",
    "status",
    "location",
    "model",
    "vendor",
    "connectors",
    "maxPower",
    "lastSeen",
    "registration",
    "serialNumber",
    "firmwareVersion",
    "firmwareStatus",
    "diagnosticsStatus",
    "firmwareUpdate",
    "firmwareHistory",
    "diagnosticsHistory",
    "bootedAt",
    "connectorStatus",
    "unknownStopCount",
    "unknownStopsNotKept",
    "online",
    "chargeBoxSerialNumber",
    "meterType",
    "meterSerialNumber",
    "iccid",
    "imsi",
    "availability",
)
# What the charger's local authorization list holds (chalicelib/local_list.py): view name -> attribute.
LOCAL_LIST_FIELDS = {
    "chargerVersion": "localListChargerVersion",
    "sentVersion": "localListSentVersion",
    "status": "localListStatus",
    "updatedAt": "localListUpdatedAt",
}
# From the charger's configuration item (GetConfiguration, ChangeConfiguration), in the one-charger view.
_CONFIGURATION_FIELDS = ("configuration", "unknownKeys", "configurationAt", "configurationKeysNotKept")


def _reservations(item: dict, now: str) -> list[dict]:
    """The connectors' active reservations (`reservation_{connectorId}`, 0: any connector), expired ones left out."""
    found = [
        {"connectorId": int(key.removeprefix("reservation_")), **plain(value)}
        for key, value in item.items()
        if key.startswith("reservation_") and value["expiryDate"] >= now
    ]
    return sorted(found, key=lambda reservation: reservation["connectorId"])


def charge_point_view(item: dict, configuration: dict | None = None, now: str | None = None) -> dict:
    return {
        **{field: plain(item[field]) for field in _CHARGE_POINT_FIELDS if field in item},
        "reservations": _reservations(item, now or ocpp_frames.format_timestamp(ocpp_frames.now())),
        "anomalies": _anomalies(item),
        "localList": {name: plain(item.get(attribute)) for name, attribute in LOCAL_LIST_FIELDS.items()},
        **{
            field: plain(configuration[field])
            for field in _CONFIGURATION_FIELDS
            if configuration and field in configuration
        },
    }


def command_view(item: dict, status: str, listed: bool = False) -> dict:
    """A remote command as the API shows it, with its status as of now. Listed, a payload or result over
    LISTED_COMMAND_PART_BYTES is left out and named in `omitted` (the command's own route has it)."""
    view = {
        "commandId": item["commandId"],
        "chargePointId": item["chargePointId"],
        "action": item["action"],
        "payload": plain(item["payload"]),
        "status": status,
        "createdAt": item["createdAt"],
        **{
            key: plain(item[key]) for key in ("part", "parts", "sentAt", "answeredAt", "result", "error") if key in item
        },
    }
    if listed:
        omitted = [key for key in ("payload", "result") if len(json.dumps(view.get(key))) > LISTED_COMMAND_PART_BYTES]
        for key in omitted:
            del view[key]
        if omitted:
            view["omitted"] = omitted
    return view
