"""The central system's side of OCPP 1.6 Smart Charging: it keeps what it has set on each charger.

SetChargingProfile and ClearChargingProfile are checked before they are queued (the rules a charger would
refuse whatever its state, and the bound on what one charger keeps), and applied to the stored list when the
charger answers Accepted, with the same rules the simulated chargers use (chalicelib.charging_profiles). A
TxProfile lives as long as its transaction: once that has ended it is left out, as the charger deletes it.
The view shows the profiles and the composite schedule of the next 24 hours per connector as the central
system believes it (the charger's own, with its local limits, is what GetCompositeSchedule asks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import charging_profiles, commands, ocpp_frames, storage
from chalicelib.charging_profiles import TX, ProfileRejected
from chalicelib.charging_rules import MAX_CONNECTORS
from chalicelib.charging_schedule import runs_from_transaction
from chalicelib.views import plain

HORIZON_S = 24 * 3600
# The composite is shown in W for a three-phase 230 V connection: the central system knows no charger's wiring.
VOLTAGE_V = 230.0
PHASES = 3


def _active_transactions(charge_point: dict | None) -> dict[int, tuple[int, datetime]]:
    """Each connector's running transaction (its id and start), from the charge point's pointers to its
    newest sessions: 1 BatchGetItem, none without pointers. Only Gets: every role that applies answers
    (the API, the gateway task, the bus handlers) may make them."""
    newest = storage.newest_sessions(charge_point or {})
    if not newest:
        return {}
    return {
        int(session["connectorId"]): (
            int(session["transactionId"]),
            ocpp_frames.parse_timestamp(session["startTime"], "startTime"),
        )
        for session in storage.get_sessions(list(newest.values())[:100])
        if session["status"] == "Active"
    }


def _running(profiles: list[dict], active: dict[int, tuple[int, datetime]]) -> list[dict]:
    """The profiles still on the charger: a TxProfile of a transaction that has ended is gone."""
    return [
        profile
        for profile in profiles
        if profile["chargingProfilePurpose"] != TX
        or active.get(profile["connectorId"], (None,))[0] == profile.get("transactionId")
    ]


def before_set(charge_point_id: str, payload: dict) -> dict:
    """BEFORE_SUBMIT for SetChargingProfile: 400 for a profile any charger must reject, 409 when the charger
    already holds as many profiles as are kept. A TxProfile's transaction is the charger's to judge."""
    new, connector_id = payload["csChargingProfiles"], payload["connectorId"]
    if connector_id > MAX_CONNECTORS:
        raise commands.InvalidCommand(f"connectorId must be at most {MAX_CONNECTORS}")
    try:
        charging_profiles.check(new, connector_id)
    except ProfileRejected as error:
        raise commands.InvalidCommand(str(error)) from None
    charge_point, stored = storage.get_charge_point_and_profiles(charge_point_id)
    kept = [p for p in plain(stored) if not charging_profiles.replaces(new, connector_id, p)]
    if len(kept) >= charging_profiles.MAX_PROFILES:
        kept = _running(kept, _active_transactions(charge_point))
    if len(kept) >= charging_profiles.MAX_PROFILES:
        raise commands.CommandConflict(
            f"{charge_point_id} holds {len(kept)} charging profiles, the most kept per charger: "
            "clear some first (ClearChargingProfile)"
        )
    return payload


def profile_set(command: dict, result: dict) -> None:
    """SetChargingProfile Accepted: the profile joins the charger's list, replacing what it replaces there."""
    if result["status"] != "Accepted":
        return
    payload = plain(command["payload"])
    new, connector_id = payload["csChargingProfiles"], payload["connectorId"]
    active = _active_transactions(storage.get_charge_point(command["chargePointId"]))
    transaction = new.get("transactionId", active.get(connector_id, (None,))[0])

    def install(profiles: list[dict]) -> list[dict]:
        return charging_profiles.install(_running(plain(profiles), active), new, connector_id, transaction)

    storage.change_charging_profiles(command["chargePointId"], install)


def profile_cleared(command: dict, result: dict) -> None:
    """ClearChargingProfile Accepted: the profiles it matches are gone from the charger's list."""
    if result["status"] != "Accepted":
        return
    payload = plain(command["payload"])
    criteria = {
        "id": payload.get("id"),
        "connector_id": payload.get("connectorId"),
        "purpose": payload.get("chargingProfilePurpose"),
        "stack_level": payload.get("stackLevel"),
    }
    storage.change_charging_profiles(
        command["chargePointId"], lambda profiles: charging_profiles.clear(plain(profiles), **criteria)[0]
    )


def view(charge_point_id: str) -> dict[str, Any] | None:
    """GET /chargepoints/{id}/chargingProfiles: the profiles set on the charger and, per connector (0: the
    charge point as a whole), the composite schedule in W from now for 24 hours. None: no such charger."""
    charge_point, stored = storage.get_charge_point_and_profiles(charge_point_id)
    if charge_point is None:
        return None
    # Only TxProfiles and schedules that run from the transaction's start need the sessions read.
    tied = any(p["chargingProfilePurpose"] == TX or runs_from_transaction(p) for p in stored)
    active = _active_transactions(charge_point) if tied else {}
    profiles = _running(plain(stored), active)
    start = ocpp_frames.now().replace(microsecond=0)
    # The connectors it has reported, and any a profile or a transaction names before a status did.
    known = [int(charge_point.get("connectors", 0)), *active, *(p["connectorId"] for p in profiles)]
    connectors = min(max(known), MAX_CONNECTORS)
    schedules = {}
    for connector_id in range(connectors + 1):
        transaction, tx_start = active.get(connector_id, (None, None))
        schedules[str(connector_id)] = charging_profiles.composite_schedule(
            profiles, connector_id, start, HORIZON_S, "W", VOLTAGE_V, PHASES, transaction, tx_start
        )
    return {"chargePointId": charge_point_id, "chargingProfiles": profiles, "compositeSchedule": schedules}
