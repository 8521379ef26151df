"""The central system's rules, as plain Python: statuses, transaction identity and meter readings (what the
API shows of them is views.py). Nothing here touches AWS, so every rule is tested on its own."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from chalicelib import ocpp_frames

CONNECTOR_STATUSES = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
# Connector 0 is the charge point as a whole (OCPP 1.6, section 4.9).
WHOLE_CHARGE_POINT_STATUSES = ("Available", "Unavailable", "Faulted")
# Before its first StatusNotification the central system does not know a charge point's status.
UNKNOWN_STATUS = "Unknown"
CHARGE_POINT_STATUSES = CONNECTOR_STATUSES + (UNKNOWN_STATUS,)
SESSION_STATUSES = ("Active", "Completed")
# What the charge point as a whole shows when its connectors differ: the most telling connector wins,
# so a charger with one connector charging is "Charging" and one with a free connector is "Available".
_STATUS_PRIORITY = (
    "Charging",
    "SuspendedEV",
    "SuspendedEVSE",
    "Finishing",
    "Preparing",
    "Available",
    "Reserved",
    "Unavailable",
    "Faulted",
)
MAX_CONNECTORS = 32
# 100 GWh: ten years of a 1 MW charger running day and night. A larger register is a broken meter.
MAX_REGISTER_WH = 10**11
MAX_POWER_W = 5_000_000.0
# A charger that never told its maximum power is taken as at most 1 MW (beyond every DC charger sold today).
DEFAULT_MAX_POWER_W = 1_000_000.0
# Energy beyond max power x elapsed time is not billed blindly: the margin absorbs meter tolerances, the
# slack (5 more minutes at full power: the clock drift tolerated by default) a charger's clock being off.
PLAUSIBLE_MARGIN = 1.2
PLAUSIBLE_SLACK_SECONDS = 300
# Signed meter values (OCMF, EDL, ...) are a few kB at most; longer ones are not kept, only counted.
MAX_SIGNED_VALUE_CHARS = 8192
# Why a value a charger sent was not applied as it came: the keys of a session's (or charge point's)
# anomaly counts. A fixed set, so a charger cannot make the system store new attribute names.
ANOMALIES = {
    "notANumber": "a sampled value is not a number",
    "outOfRange": "a sampled value is outside its possible range",
    "wrongUnit": "an energy or power sample in a unit that is not Wh/kWh or W/kW",
    "negativePower": "a negative power (meter noise), applied as 0",
    "clockUnusable": "a timestamp before 2010 or ahead of the central system's clock: the receive time is used",
    "registerWentDown": "an energy register below one already reported: not applied",
    "implausibleEnergy": "more energy than the charger's maximum power allows over the elapsed time: not billed",
    "meterStopUnusable": "a meterStop below meterStart, below the register or outside 0..10^11 Wh",
    "signedValueTooLong": f"a signed meter value longer than {MAX_SIGNED_VALUE_CHARS} characters: not kept",
    "lateValuesNotKept": "more readings after the stop than a session keeps: counted only",
    "signedValuesNotKept": "more signed values in one message than are kept: counted only",
    "supersededByNewStart": "closed by a newer StartTransaction on the same connector, with its last known energy",
    "stopBeforeStart": "its StopTransaction arrived before its StartTransaction",
    "stopAfterClose": "a StopTransaction for a session already closed: its values are kept beside it",
    "connectorBeyondAnnounced": "a StatusNotification for a connector above the number the charger announced",
    "historyNotKept": "more readings in one message than the meter history keeps: counted only",
}
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
            "PropertyConstraintViolation", f"connectorId {connector_id} is outside 0..{MAX_CONNECTORS}"
        )
    if connector_id == 0 and status is not None and status not in WHOLE_CHARGE_POINT_STATUSES:
        raise ocpp_frames.FrameError(
            "PropertyConstraintViolation", f"connector 0 (the whole charge point) cannot be {status}"
        )


def check_register(wh: int | float, field: str) -> int:
    if not 0 <= wh <= MAX_REGISTER_WH:
        raise ocpp_frames.FrameError("PropertyConstraintViolation", f"{field} {wh} Wh is outside 0..10^11 Wh")
    return int(wh)


def transaction_id(
    charge_point_id: str, connector_id: int, id_tag: str, meter_start: int, timestamp: str, attempt: int = 0
) -> int:
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
    signed: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Anomaly:
    reason: str  # a key of ANOMALIES
    detail: str


class _Unusable(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.anomaly = Anomaly(reason, detail[:200])


def anomaly_counts(anomalies: Iterable[Anomaly]) -> dict[str, int]:
    """Anomalies as counters to ADD on an item (one top-level attribute per reason)."""
    counts: dict[str, int] = {}
    for anomaly in anomalies:
        counts[f"anomaly_{anomaly.reason}"] = counts.get(f"anomaly_{anomaly.reason}", 0) + 1
    return counts


def anomaly_sets(anomalies: list[Anomaly]) -> dict[str, str]:
    """The latest anomaly's reason in words, kept beside the counts."""
    return {"lastAnomaly": anomalies[-1].detail} if anomalies else {}


def usable_time(value: str, received_at: datetime, drift_seconds: int, field: str) -> tuple[datetime, list[Anomaly]]:
    """A charger timestamp, or the receive time when the charger's clock is unusable (1970, ahead)."""
    try:
        return ocpp_frames.check_timestamp(value, received_at, drift_seconds, field), []
    except ocpp_frames.FrameError as error:
        return received_at, [Anomaly("clockUnusable", error.description[:200])]


_ENERGY_SCALE = {"Wh": 1, "kWh": 1000}
_POWER_SCALE = {"W": 1, "kW": 1000}


def _number(sampled: dict) -> float:
    try:
        value = float(sampled["value"])
    except ValueError:
        raise _Unusable("notANumber", f"sampledValue {sampled['value'][:40]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _Unusable("notANumber", "sampledValue must be finite")
    return value


def _reading(sampled: dict) -> tuple[str, float] | None:
    """(measurand, value in Wh / W / %) for the totals this system uses; None for the rest. Values are
    rounded to what a meter resolves, so that none underflows what DynamoDB stores (1e-200 W is 0 W)."""
    measurand = sampled.get("measurand", ENERGY_REGISTER)
    if sampled.get("phase") or sampled.get("location", "Outlet") not in ("Outlet", "EV"):
        return None
    if measurand == ENERGY_REGISTER:
        unit = sampled.get("unit", "Wh")
        if unit not in _ENERGY_SCALE:
            raise _Unusable("wrongUnit", f"energy unit {unit} is not Wh or kWh")
        wh = _number(sampled) * _ENERGY_SCALE[unit]
        if not 0 <= wh <= MAX_REGISTER_WH:
            raise _Unusable("outOfRange", f"energy register {wh:.6g} Wh is outside 0..10^11 Wh")
        return measurand, int(wh)
    if measurand == "Power.Active.Import":
        unit = sampled.get("unit", "W")
        if unit not in _POWER_SCALE:
            raise _Unusable("wrongUnit", f"power unit {unit} is not W or kW")
        watts = _number(sampled) * _POWER_SCALE[unit]
        if watts > MAX_POWER_W or watts < -MAX_POWER_W:
            raise _Unusable("outOfRange", f"power {watts:.6g} W is outside 0..5 MW")
        if watts < 0:
            raise _Unusable("negativePower", f"power {watts:.6g} W is negative")
        return measurand, round(watts, 1)
    if measurand == "SoC":
        soc = _number(sampled)
        if not 0 <= soc <= 100:
            raise _Unusable("outOfRange", f"SoC {soc:.6g} is outside 0..100")
        return measurand, round(soc, 3)
    return None


def _signed(sampled: dict, moment: datetime) -> dict:
    """A signed meter value as kept for a verifier: the blob as sent, with what it claims to measure."""
    value = sampled["value"]
    if len(value) > MAX_SIGNED_VALUE_CHARS:
        raise _Unusable("signedValueTooLong", f"a signed value of {len(value)} characters")
    kept = {
        "timestamp": ocpp_frames.format_timestamp(moment),
        "value": value,
        **{k: sampled[k] for k in ("measurand", "context", "unit", "phase", "location") if k in sampled},
    }
    kept["digest"] = hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:32]
    return kept


def meter_samples(
    meter_values: Iterable[dict], received_at: datetime, drift_seconds: int
) -> tuple[list[MeterSample], list[Anomaly]]:
    """The samples of a MeterValues (or StopTransaction.transactionData), oldest first, normalised to
    Wh, W and percent, with signed values apart; a value that cannot be used is left out and reported
    as an anomaly, so one bad sample never costs the others."""
    samples, anomalies = [], []
    for meter_value in meter_values:
        moment, late = usable_time(meter_value["timestamp"], received_at, drift_seconds, "meterValue.timestamp")
        anomalies += late
        readings: dict[str, float] = {}
        signed: list[dict] = []
        for sampled in meter_value["sampledValue"]:
            try:
                if sampled.get("format") == "SignedData":
                    signed.append(_signed(sampled, moment))
                elif reading := _reading(sampled):
                    readings[reading[0]] = reading[1]
            except _Unusable as unusable:
                anomalies.append(unusable.anomaly)
                if unusable.anomaly.reason == "negativePower":
                    readings["Power.Active.Import"] = 0.0
        energy = readings.get(ENERGY_REGISTER)
        samples.append(
            MeterSample(
                moment,
                None if energy is None else int(energy),
                readings.get("Power.Active.Import"),
                readings.get("SoC"),
                tuple(signed),
            )
        )
    samples.sort(key=lambda s: s.timestamp)
    return samples, anomalies


def latest_energy(samples: list[MeterSample]) -> MeterSample | None:
    with_energy = [s for s in samples if s.energy_wh is not None]
    return with_energy[-1] if with_energy else None


def latest_register_wh(samples: list[MeterSample]) -> int | None:
    """The latest energy register among the samples, None when none has one."""
    latest = latest_energy(samples)
    return latest.energy_wh if latest else None


def plausible_energy_wh(start_time: str, until: str, max_power_w: float) -> int:
    """The most energy a charger of this maximum power can deliver between two times, with a margin."""
    seconds = max((ocpp_frames.parse_timestamp(until) - ocpp_frames.parse_timestamp(start_time)).total_seconds(), 0)
    return int(max_power_w * (seconds + PLAUSIBLE_SLACK_SECONDS) / 3600 * PLAUSIBLE_MARGIN)


def stop_energy_wh(
    meter_start: int, meter_stop: int | None, last_register_wh: int, plausible_wh: int
) -> tuple[int, list[Anomaly]]:
    """Session energy to bill: meterStop - meterStart; else (meterStop missing, absurd, or below a plausible
    register already reported) the last register's; never more than is plausible. An implausible register
    does not override a sane meterStop."""
    anomalies = []
    register_wh = max(last_register_wh - meter_start, 0)
    register_ok = register_wh <= plausible_wh
    stop_wh = (
        meter_stop - meter_start if meter_stop is not None and meter_start <= meter_stop <= MAX_REGISTER_WH else None
    )
    if meter_stop is not None and stop_wh is None:
        anomalies.append(
            Anomaly(
                "meterStopUnusable",
                f"meterStop {str(meter_stop)[:40]} Wh is below meterStart {meter_start} Wh or beyond 10^11 Wh",
            )
        )
    if stop_wh is not None and stop_wh > plausible_wh:
        anomalies.append(
            Anomaly("implausibleEnergy", f"meterStop says {stop_wh} Wh, at most {plausible_wh} Wh is plausible")
        )
        stop_wh = None
    if not register_ok:
        anomalies.append(
            Anomaly("implausibleEnergy", f"the register says {register_wh} Wh, at most {plausible_wh} Wh is plausible")
        )
    if stop_wh is not None and (stop_wh >= register_wh or not register_ok):
        return stop_wh, anomalies
    if stop_wh is not None:
        anomalies.append(Anomaly("meterStopUnusable", "meterStop is below the register already reported"))
    return (register_wh if register_ok else plausible_wh), anomalies


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
    if (
        isinstance(max_power, bool)
        or not isinstance(max_power, (int, float))
        or not 0 < max_power <= MAX_POWER_W / 1000
    ):
        raise ValueError("maxPower must be a number of kW between 0 and 5000")
    if isinstance(connectors, bool) or not isinstance(connectors, int) or not 1 <= connectors <= MAX_CONNECTORS:
        raise ValueError(f"connectors must be a whole number from 1 to {MAX_CONNECTORS}")
    return {"location": location, "maxPower": max_power, "connectors": connectors}
