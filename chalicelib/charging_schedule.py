"""The composite schedule of OCPP 1.6 Smart Charging (section 3.13): what limit the installed charging
profiles put on a connector at each instant. Pure: no AWS, no clock of its own.

A stored profile is the SetChargingProfile `csChargingProfiles` object plus the `connectorId` it was set on.
Within each purpose the valid profile with the highest stackLevel prevails; a profile whose schedule does not
cover the instant (before its first period or after its duration) lets the next stack level show through, as
the compliancy test of stacking (TC_072) expects. A TxProfile overrides the TxDefaultProfiles for its
transaction; the connector's limit is the lower of that and the ChargePointMaxProfile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.ocpp_frames import format_timestamp, parse_timestamp

MAX_PROFILE = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX = "TxProfile"
CYCLE_SECONDS = {"Daily": 86_400, "Weekly": 7 * 86_400}


@dataclass(frozen=True)
class Limit:
    """One schedule period in force: its limit as written (`value` in `unit`) and as power for comparison."""

    value: float
    unit: str
    number_phases: int | None
    watts: float
    profile: dict[str, Any]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _time(profile: dict[str, Any], key: str) -> datetime | None:
    value = profile.get(key)
    return parse_timestamp(value, key) if value else None


def _schedule(profile: dict[str, Any]) -> dict[str, Any]:
    schedule: dict[str, Any] = profile["chargingSchedule"]
    return schedule


def _phases_used(number_phases: int | None, phases: int) -> int:
    """A period's numberPhases caps the phases the car draws on; the car cannot use more than it has."""
    return max(1, min(number_phases or phases, phases))


def to_watts(value: float, unit: str, number_phases: int | None, voltage_v: float, phases: int) -> float:
    return float(value) if unit == "W" else float(value) * voltage_v * _phases_used(number_phases, phases)


def runs_from_transaction(profile: dict[str, Any]) -> bool:
    """Relative, or Absolute without startSchedule ("relative to start of charging", the spec says)."""
    kind = profile.get("chargingProfileKind")
    return kind == "Relative" or (kind == "Absolute" and not _schedule(profile).get("startSchedule"))


def _origin(profile: dict[str, Any], at: datetime, anchor: datetime) -> datetime | None:
    """Where the schedule instance covering `at` starts: startSchedule (Absolute), the cycle's start
    (Recurring), the transaction's start (Relative, and Absolute without startSchedule; `anchor`)."""
    if runs_from_transaction(profile):
        return anchor
    start = _time(_schedule(profile), "startSchedule")
    if start is None:
        return None
    if profile.get("chargingProfileKind") == "Recurring":
        cycle = CYCLE_SECONDS.get(profile.get("recurrencyKind", ""))
        if cycle is None:
            return None
        # The first cycle begins at startSchedule: nothing repeats before it.
        cycles = max(0, math.floor((at - start).total_seconds() / cycle))
        return start + timedelta(seconds=cycle * cycles)
    return start


def _valid(profile: dict[str, Any], at: datetime) -> bool:
    valid_from, valid_to = _time(profile, "validFrom"), _time(profile, "validTo")
    return (valid_from is None or valid_from <= at) and (valid_to is None or at < valid_to)


def period_at(profile: dict[str, Any], at: datetime, anchor: datetime, voltage_v: float, phases: int) -> Limit | None:
    """The period of `profile` in force at `at`, or None when the profile says nothing then."""
    if not _valid(profile, at):
        return None
    origin = _origin(profile, at, anchor)
    if origin is None:
        return None
    offset = (at - origin).total_seconds()
    schedule = _schedule(profile)
    duration = schedule.get("duration")
    if offset < 0 or (duration is not None and offset >= duration):
        return None
    current = None
    for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
        if period["startPeriod"] <= offset:
            current = period
    if current is None:
        return None
    unit, number_phases = schedule["chargingRateUnit"], current.get("numberPhases")
    value = float(current["limit"])
    return Limit(value, unit, number_phases, to_watts(value, unit, number_phases, voltage_v, phases), profile)


@dataclass(frozen=True)
class Applicable:
    """The profiles that can limit one connector, by purpose, highest stack level first."""

    max_profiles: list[dict[str, Any]]
    tx_profiles: list[dict[str, Any]]
    tx_defaults: list[dict[str, Any]]


def _by_priority(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # At equal stack levels a profile set on the connector itself beats one set on connector 0 for all.
    return sorted(profiles, key=lambda p: (p["stackLevel"], p.get("connectorId", 0) != 0), reverse=True)


def applicable(profiles: list[dict[str, Any]], connector_id: int, transaction_id: int | None) -> Applicable:
    def of(purpose: str) -> list[dict[str, Any]]:
        return [p for p in profiles if p.get("chargingProfilePurpose") == purpose]

    tx = [
        p
        for p in of(TX)
        if connector_id != 0
        and transaction_id is not None
        and p.get("connectorId") == connector_id
        and p.get("transactionId", transaction_id) == transaction_id
    ]
    defaults = [p for p in of(TX_DEFAULT) if p.get("connectorId", 0) in (0, connector_id)]
    return Applicable(_by_priority(of(MAX_PROFILE)), _by_priority(tx), _by_priority(defaults))


def _prevailing(
    ordered: list[dict[str, Any]], at: datetime, anchor: datetime, voltage_v: float, phases: int
) -> Limit | None:
    for profile in ordered:
        limit = period_at(profile, at, anchor, voltage_v, phases)
        if limit is not None:
            return limit
    return None


def limit_at(found: Applicable, at: datetime, anchor: datetime, voltage_v: float, phases: int) -> Limit | None:
    """The lower of the prevailing ChargePointMaxProfile and the prevailing TxProfile (else TxDefaultProfile)."""
    tx = _prevailing(found.tx_profiles, at, anchor, voltage_v, phases) or _prevailing(
        found.tx_defaults, at, anchor, voltage_v, phases
    )
    cap = _prevailing(found.max_profiles, at, anchor, voltage_v, phases)
    candidates = [limit for limit in (cap, tx) if limit is not None]
    return min(candidates, key=lambda limit: limit.watts) if candidates else None


def limit_w_at(
    profiles: list[dict[str, Any]],
    connector_id: int,
    at: datetime,
    voltage_v: float = 230.0,
    phases: int = 3,
    transaction_id: int | None = None,
    tx_start: datetime | None = None,
) -> float | None:
    """The power limit (W) on a connector at `at`; None when no profile limits it. Relative profiles run from
    `tx_start` (from `at` itself when there is no transaction: what a session starting now would get)."""
    at = _utc(at)
    anchor = _utc(tx_start) if tx_start else at
    limit = limit_at(applicable(profiles, connector_id, transaction_id), at, anchor, voltage_v, phases)
    return None if limit is None else limit.watts


def _round_down(value: float) -> float:
    """Limits are multiples of 0.1 (schema); rounding down keeps a converted limit within the original."""
    return math.floor(value * 10 + 1e-6) / 10


def convert(value: float, from_unit: str, number_phases: int | None, unit: str, voltage_v: float, phases: int) -> float:
    """A limit in another unit (W = A x V x phases used), rounded down so that it never exceeds the original."""
    if from_unit == unit:
        return float(value)
    watts = to_watts(value, from_unit, number_phases, voltage_v, phases)
    return _round_down(watts if unit == "W" else watts / (voltage_v * _phases_used(number_phases, phases)))


def _instances(profile: dict[str, Any], start: datetime, end: datetime, anchor: datetime) -> list[datetime]:
    """The origins of the schedule instances of `profile` that can overlap [start, end)."""
    first = _origin(profile, start, anchor)
    if first is None:
        return []
    cycle = CYCLE_SECONDS.get(profile.get("recurrencyKind", ""))
    if profile["chargingProfileKind"] != "Recurring" or cycle is None:
        return [first]
    count = math.ceil((end - first).total_seconds() / cycle)
    return [first + timedelta(seconds=cycle * k) for k in range(count)]


def _change_points(profiles: list[dict[str, Any]], start: datetime, end: datetime, anchor: datetime) -> list[int]:
    """Every offset (whole seconds from `start`) where some profile's limit may change."""
    moments: set[datetime] = set()
    for profile in profiles:
        moments.update(t for t in (_time(profile, "validFrom"), _time(profile, "validTo")) if t)
        schedule = _schedule(profile)
        for origin in _instances(profile, start, end, anchor):
            moments.update(origin + timedelta(seconds=p["startPeriod"]) for p in schedule["chargingSchedulePeriod"])
            if schedule.get("duration") is not None:
                moments.add(origin + timedelta(seconds=schedule["duration"]))
    offsets = {math.ceil((moment - start).total_seconds()) for moment in moments if start < moment < end}
    return sorted(offsets | {0})


def _without_start(period: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in period.items() if key != "startPeriod"}


def composite_schedule(
    profiles: list[dict[str, Any]],
    connector_id: int,
    start: datetime,
    duration_s: int,
    unit: str,
    voltage_v: float = 230.0,
    phases: int = 3,
    transaction_id: int | None = None,
    tx_start: datetime | None = None,
    max_rate: float | None = None,
) -> dict[str, Any]:
    """The GetCompositeSchedule `chargingSchedule` for [start, start + duration_s) in `unit` ('A' or 'W').

    `max_rate` is the charger's own maximum in `unit`: it caps every period and fills the stretches no profile
    limits. Without it those stretches have `limit: None` (the central system's view, where the charger's
    rating is unknown); a charger answering GetCompositeSchedule passes it to get a schema-valid schedule.
    """
    start, end = _utc(start), _utc(start) + timedelta(seconds=duration_s)
    anchor = _utc(tx_start) if tx_start else start
    found = applicable(profiles, connector_id, transaction_id)
    periods: list[dict[str, Any]] = []
    minimum_rates: list[float] = []
    everything = found.max_profiles + found.tx_profiles + found.tx_defaults
    for offset in _change_points(everything, start, end, anchor):
        limit = limit_at(found, start + timedelta(seconds=offset), anchor, voltage_v, phases)
        period: dict[str, Any] = {"startPeriod": offset, "limit": max_rate}
        if limit is not None:
            value = convert(limit.value, limit.unit, limit.number_phases, unit, voltage_v, phases)
            period["limit"] = value if max_rate is None else min(value, max_rate)
            if limit.number_phases is not None:
                period["numberPhases"] = limit.number_phases
            rate = _schedule(limit.profile).get("minChargingRate")
            if rate is not None and limit.profile["chargingProfilePurpose"] != MAX_PROFILE:
                minimum_rates.append(convert(rate, limit.unit, limit.number_phases, unit, voltage_v, phases))
        if not periods or _without_start(periods[-1]) != _without_start(period):
            periods.append(period)
    composite: dict[str, Any] = {
        "duration": duration_s,
        "startSchedule": format_timestamp(start),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }
    if minimum_rates:
        composite["minChargingRate"] = max(minimum_rates)
    return composite
