"""OCPP 1.6 Smart Charging (section 3.13) as pure functions over a charger's list of installed profiles:
SetChargingProfile's install and replacement rules, ClearChargingProfile's matching, and (from
charging_schedule) the composite schedule. Used by the simulated chargers, which obey the profiles, and by
the central system, which keeps what it has set on each charger. No AWS, no clock.

A stored profile is the SetChargingProfile `csChargingProfiles` object plus the `connectorId` it was set on.
"""

from __future__ import annotations

from typing import Any

from chalicelib.charging_schedule import (
    CYCLE_SECONDS,
    MAX_PROFILE,
    TX,
    TX_DEFAULT,
    composite_schedule,
    limit_w_at,
)
from chalicelib.ocpp_frames import FrameError, parse_timestamp

__all__ = [
    "MAX_PROFILE",
    "MAX_PROFILES",
    "TX",
    "TX_DEFAULT",
    "ProfileRejected",
    "check",
    "clear",
    "composite_schedule",
    "end_transaction",
    "install",
    "limit_w_at",
    "replaces",
]

# What one charger keeps (its MaxChargingProfilesInstalled): bounds the charge point item too.
MAX_PROFILES = 20


class ProfileRejected(ValueError):
    """SetChargingProfile refused: a charger answers status Rejected; the message says why."""


def check(new: dict[str, Any], connector_id: int) -> None:
    """The rules a profile breaks whatever the charger's state: raises ProfileRejected."""
    purpose, kind = new.get("chargingProfilePurpose"), new.get("chargingProfileKind")
    schedule = new.get("chargingSchedule") or {}
    if connector_id < 0:
        raise ProfileRejected(f"connectorId {connector_id} does not exist")
    if purpose == MAX_PROFILE and connector_id != 0:
        raise ProfileRejected("a ChargePointMaxProfile limits the whole charge point: it goes on connector 0")
    if purpose == TX and connector_id == 0:
        raise ProfileRejected("a TxProfile goes on the connector of its transaction, not on connector 0")
    if purpose != TX and "transactionId" in new:
        raise ProfileRejected("only a TxProfile names a transactionId")
    if kind == "Recurring" and not schedule.get("startSchedule"):
        raise ProfileRejected("a Recurring profile needs chargingSchedule.startSchedule: its cycles start there")
    if kind == "Recurring" and new.get("recurrencyKind") not in CYCLE_SECONDS:
        raise ProfileRejected("a Recurring profile needs recurrencyKind Daily or Weekly")
    if new.get("stackLevel", 0) < 0:
        raise ProfileRejected("stackLevel starts at 0")
    starts = [period["startPeriod"] for period in schedule.get("chargingSchedulePeriod", [])]
    if not starts or starts[0] != 0 or starts != sorted(set(starts)):
        raise ProfileRejected("chargingSchedulePeriod must start at 0 and increase")
    if any(period["limit"] < 0 for period in schedule["chargingSchedulePeriod"]):
        raise ProfileRejected("a limit cannot be negative")
    if (schedule.get("duration") or 0) < 0:
        raise ProfileRejected("duration cannot be negative")
    try:
        times = [new.get("validFrom"), new.get("validTo"), schedule.get("startSchedule")]
        valid_from, valid_to, _ = [parse_timestamp(value, "date-time") if value else None for value in times]
    except FrameError as error:
        raise ProfileRejected(error.description) from None
    if valid_from and valid_to and valid_to <= valid_from:
        raise ProfileRejected("validTo must be after validFrom")


def install(
    profiles: list[dict[str, Any]],
    new: dict[str, Any],
    connector_id: int,
    transaction_id: int | None = None,
    *,
    max_profiles: int = MAX_PROFILES,
) -> list[dict[str, Any]]:
    """SetChargingProfile: the profiles after installing `new` (a `csChargingProfiles` object) on
    `connector_id`, whose active transaction is `transaction_id`. A profile with the same chargingProfileId,
    or with the same stackLevel and purpose on the same connector, is replaced. Raises ProfileRejected
    (answer Rejected) for a profile the rules refuse or beyond `max_profiles`."""
    check(new, connector_id)
    kept = [profile for profile in profiles if not replaces(new, connector_id, profile)]
    if len(kept) >= max_profiles:
        raise ProfileRejected(f"{len(kept)} charging profiles are installed, the most a charger keeps: clear some")
    stored = {**new, "connectorId": connector_id}
    if new["chargingProfilePurpose"] == TX:
        if transaction_id is None:
            raise ProfileRejected(f"no transaction is active on connector {connector_id} for a TxProfile")
        if new.get("transactionId", transaction_id) != transaction_id:
            raise ProfileRejected(
                f"transactionId {new['transactionId']} is not the transaction on connector {connector_id}"
            )
        stored["transactionId"] = transaction_id
    return [*kept, stored]


def replaces(new: dict[str, Any], connector_id: int, profile: dict[str, Any]) -> bool:
    """Whether installing `new` on `connector_id` replaces the stored `profile`: the same chargingProfileId,
    or the same stackLevel and purpose on the same connector."""
    return bool(
        profile["chargingProfileId"] == new["chargingProfileId"]
        or (
            profile.get("connectorId") == connector_id
            and profile["stackLevel"] == new["stackLevel"]
            and profile["chargingProfilePurpose"] == new["chargingProfilePurpose"]
        )
    )


def clear(
    profiles: list[dict[str, Any]],
    id: int | None = None,
    connector_id: int | None = None,
    purpose: str | None = None,
    stack_level: int | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """ClearChargingProfile: the profiles left, and whether any was removed (Accepted) or none matched
    (Unknown). An id names one profile; otherwise every criterion given must match, and none clears all."""

    def matches(profile: dict[str, Any]) -> bool:
        if id is not None:
            return bool(profile["chargingProfileId"] == id)
        return (
            (connector_id is None or profile.get("connectorId") == connector_id)
            and (purpose is None or profile["chargingProfilePurpose"] == purpose)
            and (stack_level is None or profile["stackLevel"] == stack_level)
        )

    kept = [profile for profile in profiles if not matches(profile)]
    return kept, len(kept) < len(profiles)


def end_transaction(profiles: list[dict[str, Any]], connector_id: int) -> list[dict[str, Any]]:
    """A TxProfile lives as long as its transaction (3.13.1): the profiles once the transaction on
    `connector_id` has ended."""
    return [p for p in profiles if not (p["chargingProfilePurpose"] == TX and p.get("connectorId") == connector_id)]
