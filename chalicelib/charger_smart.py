"""A simulated charge point's smart charging (OCPP 1.6 3.13, 5.5, 5.16, 5.18): it keeps the charging profiles
it is sent, within its own limits (charger_config's ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods,
MaxChargingProfilesInstalled), answers its composite schedule, and draws no more than that schedule allows.
The rules themselves are charging_profiles.py, the same the central system applies."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import charging_profiles
from chalicelib.charger_config import FIXED
from chalicelib.ocpp_frames import format_timestamp as iso
from chalicelib.ocpp_frames import parse_timestamp as at

if TYPE_CHECKING:
    from chalicelib.simulated_charger import Charger

VOLTAGE_V = 230.0
PHASES = 3


def _profiles(state: dict) -> list[dict]:
    return state.get("chargingProfiles", [])


def _transaction(state: dict, connector_id: int) -> tuple[int | None, datetime | None]:
    """The connector's transaction, once its id is known, and when it started."""
    tx = state["connectors"].get(str(connector_id), {}).get("tx")
    if not tx or tx["txId"] is None:
        return None, None
    return tx["txId"], at(tx["start"]["timestamp"])


def install(state: dict, profile: dict, connector_id: int) -> bool:
    """Keep a profile if this charger can: False for one beyond its limits or one the rules refuse."""
    schedule = profile["chargingSchedule"]
    if profile["stackLevel"] > int(FIXED["ChargeProfileMaxStackLevel"]):
        return False
    if len(schedule["chargingSchedulePeriod"]) > int(FIXED["ChargingScheduleMaxPeriods"]):
        return False
    transaction_id, _ = _transaction(state, connector_id)
    try:
        state["chargingProfiles"] = charging_profiles.install(
            _profiles(state),
            profile,
            connector_id,
            transaction_id,
            max_profiles=int(FIXED["MaxChargingProfilesInstalled"]),
        )
    except charging_profiles.ProfileRejected:
        return False
    return True


def set_charging_profile(charger: Charger, payload: dict) -> dict:
    connector_id = payload["connectorId"]
    if connector_id and str(connector_id) not in charger.state["connectors"]:
        return {"status": "Rejected"}
    accepted = install(charger.state, payload["csChargingProfiles"], connector_id)
    return {"status": "Accepted" if accepted else "Rejected"}


def clear_charging_profile(charger: Charger, payload: dict) -> dict:
    kept, cleared = charging_profiles.clear(
        _profiles(charger.state),
        id=payload.get("id"),
        connector_id=payload.get("connectorId"),
        purpose=payload.get("chargingProfilePurpose"),
        stack_level=payload.get("stackLevel"),
    )
    charger.state["chargingProfiles"] = kept
    return {"status": "Accepted" if cleared else "Unknown"}


def _max_rate(state: dict, unit: str) -> float:
    """The charger's own maximum in a unit: what it draws where no profile limits it."""
    watts = state["profile"]["maxPower"] * 1000.0
    return watts if unit == "W" else math.floor(watts / (VOLTAGE_V * PHASES) * 10) / 10


def get_composite_schedule(charger: Charger, payload: dict) -> dict:
    connector_id, state = payload["connectorId"], charger.state
    if connector_id and str(connector_id) not in state["connectors"]:
        return {"status": "Rejected"}
    unit = payload.get("chargingRateUnit", "W")
    start = charger.wall(charger.moment)
    transaction_id, tx_start = _transaction(state, connector_id)
    schedule = charging_profiles.composite_schedule(
        _profiles(state),
        connector_id,
        start,
        payload["duration"],
        unit,
        VOLTAGE_V,
        PHASES,
        transaction_id,
        tx_start,
        max_rate=_max_rate(state, unit),
    )
    return {
        "status": "Accepted",
        "connectorId": connector_id,
        "scheduleStart": iso(start),
        "chargingSchedule": schedule,
    }


def limit_kw(charger: Charger, connector: str, moment: datetime) -> float:
    """What the profiles let the connector draw now (kW); infinite when nothing limits it."""
    profiles = _profiles(charger.state)
    if not profiles:
        return math.inf
    transaction_id, tx_start = _transaction(charger.state, int(connector))
    watts = charging_profiles.limit_w_at(
        profiles, int(connector), charger.wall(moment), VOLTAGE_V, PHASES, transaction_id, tx_start
    )
    return math.inf if watts is None else watts / 1000


def due(charger: Charger, moment: datetime) -> None:
    """A remote start's TxProfile applies once its transaction has an id; a TxProfile ends with its
    transaction (3.13.1)."""
    state = charger.state
    for connector, entry in state["connectors"].items():
        if entry["tx"] is None and state.get("chargingProfiles"):
            state["chargingProfiles"] = charging_profiles.end_transaction(state["chargingProfiles"], int(connector))
        elif entry["tx"] and entry["tx"]["txId"] is not None and "remoteProfile" in entry:
            install(state, entry.pop("remoteProfile"), int(connector))


HANDLERS: dict[str, Callable[[Charger, dict], dict]] = {
    "SetChargingProfile": set_charging_profile,
    "ClearChargingProfile": clear_charging_profile,
    "GetCompositeSchedule": get_composite_schedule,
}
