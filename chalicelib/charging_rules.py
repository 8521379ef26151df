"""The central system's rules, as plain Python: statuses, transaction identity, meter readings and the
views the API shows. Nothing here touches AWS, so every rule is tested on its own."""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from chalicelib import ocpp_frames, pricing

CONNECTOR_STATUSES = (
    "Available", "Preparing", "Charging", "SuspendedEVSE", "SuspendedEV", "Finishing",
    "Reserved", "Unavailable", "Faulted",
)
# Connector 0 is the charge point as a whole (OCPP 1.6, section 4.9).
WHOLE_CHARGE_POINT_STATUSES = ("Available", "Unavailable", "Faulted")
# Before its first StatusNotification the central system does not know a charge point's status.
UNKNOWN_STATUS = "Unknown"
CHARGE_POINT_STATUSES = CONNECTOR_STATUSES + (UNKNOWN_STATUS,)
# What the charge point as a whole shows when its connectors differ: the most telling connector wins,
# so a charger with one connector charging is "Charging" and one with a free connector is "Available".
_STATUS_PRIORITY = (
    "Charging", "SuspendedEV", "SuspendedEVSE", "Finishing", "Preparing", "Available",
    "Reserved", "Unavailable", "Faulted",
)
MAX_CONNECTORS = 32
# 100 GWh: ten years of a 1 MW charger running day and night. A larger register is a broken meter.
MAX_REGISTER_WH = 10**11
MAX_POWER_W = 5_000_000.0
ENERGY_REGISTER = "Energy.Active.Import.Register"
SESSION_NAMESPACE = uuid.UUID("6f1c2b7e-0d4a-4c35-9a57-0b8f1e6f2c11")


def charge_point_status(connectors: dict[str, dict]) -> str:
    """The charge point's status from its connectors' latest StatusNotifications."""
    whole = connectors.get("0", {}).get("status")
    if whole in ("Unavailable", "Faulted"):
        return whole
    statuses = {entry["status"] for key, entry in connectors.items() if key != "0"}
    for status in _STATUS_PRIORITY:
        if status in statuses:
            return status
    return whole or UNKNOWN_STATUS


def check_connector(connector_id: int, status: str | None = None) -> None:
    if not 0 <= connector_id <= MAX_CONNECTORS:
        raise ocpp_frames.FrameError(
            "PropertyConstraintViolation", f"connectorId {connector_id} is outside 0..{MAX_CONNECTORS}")
    if connector_id == 0 and status is not None and status not in WHOLE_CHARGE_POINT_STATUSES:
        raise ocpp_frames.FrameError(
            "PropertyConstraintViolation", f"connector 0 (the whole charge point) cannot be {status}")


def check_register(wh: int | float, field: str) -> int:
    if not 0 <= wh <= MAX_REGISTER_WH:
        raise ocpp_frames.FrameError("PropertyConstraintViolation", f"{field} {wh} Wh is outside 0..10^11 Wh")
    return int(wh)


def transaction_id(charge_point_id: str, connector_id: int, id_tag: str, meter_start: int,
                   timestamp: str, attempt: int = 0) -> int:
    """The transactionId for a StartTransaction, derived from what identifies it, so that a resent
    StartTransaction (even with a new uniqueId) gets the same answer. `attempt` moves past the rare
    collision with another transaction of the same charge point. Positive int32: chargers store it so."""
    key = f"{charge_point_id}|{connector_id}|{id_tag}|{meter_start}|{timestamp}|{attempt}"
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % (2**31 - 1) + 1


def session_id(charge_point_id: str, transaction: int) -> str:
    """A session's id follows from its charge point and transactionId: every later message of the
    transaction finds the session with one key lookup."""
    return str(uuid.uuid5(SESSION_NAMESPACE, f"{charge_point_id}/{transaction}"))


@dataclass(frozen=True)
class MeterSample:
    timestamp: datetime
    energy_wh: int | None
    power_w: float | None
    soc: float | None


_ENERGY_SCALE = {"Wh": 1, "kWh": 1000}
_POWER_SCALE = {"W": 1, "kW": 1000}


def _number(sampled: dict) -> float:
    try:
        value = float(sampled["value"])
    except ValueError:
        raise ocpp_frames.FrameError(
            "PropertyConstraintViolation", f"sampledValue {sampled['value']!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ocpp_frames.FrameError("PropertyConstraintViolation", "sampledValue must be finite")
    return value


def _reading(sampled: dict) -> tuple[str, float] | None:
    """(measurand, value in Wh / W / %) for the totals this system uses; None for the rest."""
    measurand = sampled.get("measurand", ENERGY_REGISTER)
    if sampled.get("phase") or sampled.get("location", "Outlet") not in ("Outlet", "EV"):
        return None
    if measurand == ENERGY_REGISTER:
        unit = sampled.get("unit", "Wh")
        if unit not in _ENERGY_SCALE:
            raise ocpp_frames.FrameError("PropertyConstraintViolation", f"energy unit {unit} is not Wh or kWh")
        return measurand, check_register(_number(sampled) * _ENERGY_SCALE[unit], "energy register")
    if measurand == "Power.Active.Import":
        unit = sampled.get("unit", "W")
        if unit not in _POWER_SCALE:
            raise ocpp_frames.FrameError("PropertyConstraintViolation", f"power unit {unit} is not W or kW")
        watts = _number(sampled) * _POWER_SCALE[unit]
        if not 0 <= watts <= MAX_POWER_W:
            raise ocpp_frames.FrameError("PropertyConstraintViolation", f"power {watts} W is outside 0..5 MW")
        return measurand, watts
    if measurand == "SoC":
        soc = _number(sampled)
        if not 0 <= soc <= 100:
            raise ocpp_frames.FrameError("PropertyConstraintViolation", f"SoC {soc} is outside 0..100")
        return measurand, soc
    return None


def meter_samples(meter_values: Iterable[dict], received_at: datetime, drift_seconds: int) -> list[MeterSample]:
    """The samples of a MeterValues (or StopTransaction.transactionData), oldest first, normalised to
    Wh, W and percent; absurd values are refused with the spec's error code."""
    samples = []
    for meter_value in meter_values:
        moment = ocpp_frames.check_timestamp(meter_value["timestamp"], received_at, drift_seconds, "meterValue.timestamp")
        readings = dict(r for r in map(_reading, meter_value["sampledValue"]) if r)
        energy = readings.get(ENERGY_REGISTER)
        samples.append(MeterSample(moment, None if energy is None else int(energy),
                                   readings.get("Power.Active.Import"), readings.get("SoC")))
    samples.sort(key=lambda s: s.timestamp)
    return samples


def latest_energy(samples: list[MeterSample]) -> MeterSample | None:
    with_energy = [s for s in samples if s.energy_wh is not None]
    return with_energy[-1] if with_energy else None


def stop_energy_wh(meter_start: int, meter_stop: int | None, last_register_wh: int) -> int:
    """Session energy: meterStop - meterStart, unless meterStop is missing or absurd (below the start or
    below a register already reported), then the last rising register value of the transaction."""
    if meter_stop is not None and meter_stop >= max(meter_start, last_register_wh) and meter_stop <= MAX_REGISTER_WH:
        return meter_stop - meter_start
    return max(last_register_wh - meter_start, 0)


def charge_point_info(data: str) -> dict:
    """The ChargePointInfo DataTransfer's data: location, maxPower (kW) and connectors, checked."""
    try:
        info = json.loads(data)
    except ValueError:
        raise ValueError("data is not JSON") from None
    if not isinstance(info, dict):
        raise ValueError("data must be a JSON object")
    location, max_power, connectors = info.get("location"), info.get("maxPower"), info.get("connectors")
    if not isinstance(location, str) or not 0 < len(location) <= 100:
        raise ValueError("location must be a string of 1-100 characters")
    if isinstance(max_power, bool) or not isinstance(max_power, (int, float)) or not 0 < max_power <= MAX_POWER_W / 1000:
        raise ValueError("maxPower must be a number of kW between 0 and 5000")
    if isinstance(connectors, bool) or not isinstance(connectors, int) or not 1 <= connectors <= MAX_CONNECTORS:
        raise ValueError(f"connectors must be a whole number from 1 to {MAX_CONNECTORS}")
    return {"location": location, "maxPower": max_power, "connectors": connectors}


def _plain(value: Any) -> Any:
    """DynamoDB numbers (Decimal) as JSON numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):  # a string set (unknownStops): JSON has no sets
        return sorted(_plain(v) for v in value)
    return value


def session_view(item: dict) -> dict:
    """A session as the API shows it. Energy and cost of an active session are derived from its latest
    register value and the tariff fixed at its start, so they are never stale copies."""
    tariff = pricing.tariff_from_record(item["tariff"])
    active = item["status"] == "Active"
    energy_wh = int(item.get("lastRegisterWh", item["meterStart"])) - int(item["meterStart"]) if active else int(item["energyWh"])
    cost = pricing.session_cost(energy_wh, tariff) if active else Decimal(item["cost"])
    view = {
        "sessionId": item["sessionId"],
        "chargePointId": item["chargePointId"],
        "connectorId": int(item["connectorId"]),
        "transactionId": int(item["transactionId"]),
        "idTag": item["idTag"],
        "userId": item["idTag"],
        "status": item["status"],
        "startTime": item["startTime"],
        "stopTime": item.get("stopTime"),
        "meterStart": int(item["meterStart"]),
        "meterStop": _plain(item.get("meterStop")),
        "currentEnergy": round(max(energy_wh, 0) / 1000, 3),
        "power": round(float(item.get("powerW", 0)) / 1000, 2) if active else 0.0,
        "soc": _plain(item.get("soc")),
        "cost": float(cost),
        "currency": tariff.currency,
        "lastMeterTime": item.get("lastMeterTime"),
        "stopReason": item.get("stopReason"),
        "lateMeterValues": len(item.get("lateSampleTimes", ())),
    }
    return view


_CHARGE_POINT_FIELDS = (
    "chargePointId", "status", "location", "model", "vendor", "connectors", "maxPower", "lastSeen",
    "registration", "serialNumber", "firmwareVersion", "firmwareStatus", "diagnosticsStatus",
    "bootedAt", "connectorStatus", "unknownStops", "online",
)


def charge_point_view(item: dict) -> dict:
    return {field: _plain(item[field]) for field in _CHARGE_POINT_FIELDS if field in item}
