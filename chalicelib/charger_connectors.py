"""A simulated charge point's connectors under the central system's commands: availability, unlocking and
reservations (OCPP 1.6 5.2, 5.7, 5.13, 5.17), and what comes due later (a reservation expiring, an
availability change scheduled until the connector is free)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import charger_transactions
from chalicelib.ocpp_frames import parse_timestamp as at

if TYPE_CHECKING:
    from chalicelib.simulated_charger import Charger

IDLE = ("Available", "Unavailable")
# ReserveNow's answer for a connector in each status but Available.
RESERVE_REFUSAL = {"Faulted": "Faulted", "Unavailable": "Unavailable"}


def _chosen(charger: Charger, connector_id: int) -> list[str] | None:
    """Connector 0 means all of them; None for a connector the charger does not have."""
    connectors = charger.state["connectors"]
    if connector_id == 0:
        return list(connectors)
    return [str(connector_id)] if str(connector_id) in connectors else None


def change_availability(charger: Charger, payload: dict) -> dict:
    """A connector in use (charging, reserved) changes once it is free again: Scheduled."""
    chosen = _chosen(charger, payload["connectorId"])
    if chosen is None:
        return {"status": "Rejected"}
    target = "Unavailable" if payload["type"] == "Inoperative" else "Available"
    scheduled = False
    for connector in chosen:
        entry = charger.state["connectors"][connector]
        entry.pop("availability", None)
        if entry["status"] in IDLE:
            entry["status"] = target
        elif entry["status"] == "Faulted":
            entry["faultReturn"] = target
        else:
            entry["availability"] = target
            scheduled = True
    charger.report_changes()
    return {"status": "Scheduled" if scheduled else "Accepted"}


def unlock_connector(charger: Charger, payload: dict) -> dict:
    chosen = _chosen(charger, payload["connectorId"])
    if not chosen or payload["connectorId"] == 0:
        return {"status": "NotSupported"}
    if charger.state["connectors"][chosen[0]]["tx"]:
        charger_transactions.stop(charger, chosen[0], "UnlockCommand")
    return {"status": "Unlocked"}


def _cancel(charger: Charger, reservation_id: int) -> bool:
    """Drop the reservation with this id, wherever it is; a connector it held becomes Available."""
    for entry in charger.state["connectors"].values():
        reservation = entry.get("reservation")
        if reservation and reservation["reservationId"] == reservation_id:
            del entry["reservation"]
            if entry["status"] == "Reserved":
                entry["status"] = "Available"
            return True
    return False


def reserve_now(charger: Charger, payload: dict) -> dict:
    """A reservation with a known id replaces that one (OCPP 1.6 5.13); this charger cannot reserve
    connector 0 (ReserveConnectorZeroSupported false)."""
    chosen = _chosen(charger, payload["connectorId"])
    if not chosen or payload["connectorId"] == 0:
        return {"status": "Rejected"}
    if at(payload["expiryDate"]) <= charger.wall(charger.moment):
        return {"status": "Rejected"}
    _cancel(charger, payload["reservationId"])
    entry = charger.state["connectors"][chosen[0]]
    if entry["status"] != "Available":
        charger.report_changes()
        return {"status": RESERVE_REFUSAL.get(entry["status"], "Occupied")}
    entry["reservation"] = {
        key: payload[key] for key in ("reservationId", "idTag", "parentIdTag", "expiryDate") if key in payload
    }
    entry["status"] = "Reserved"
    charger.report_changes()
    return {"status": "Accepted"}


def cancel_reservation(charger: Charger, payload: dict) -> dict:
    cancelled = _cancel(charger, payload["reservationId"])
    charger.report_changes()
    return {"status": "Accepted" if cancelled else "Rejected"}


def reserved_for(entry: dict, id_tag: str) -> bool:
    """Whether the connector's reservation is this idTag's."""
    return bool(entry.get("reservation")) and entry["reservation"]["idTag"] == id_tag


def due(charger: Charger, moment: datetime) -> None:
    """Reservations that expired end; availability changes that waited for a free connector happen. Either
    is reported at once: a car arriving in the same moment must not hide it."""
    wall = charger.wall(moment)
    for connector, entry in charger.state["connectors"].items():
        reservation = entry.get("reservation")
        if reservation and entry["status"] == "Reserved" and at(reservation["expiryDate"]) <= wall:
            del entry["reservation"]
            entry["status"] = "Available"
        if "availability" in entry and entry["status"] == "Available":
            entry["status"] = entry.pop("availability")
        if entry["status"] != entry["reported"]:
            charger.report_status(connector, moment)


HANDLERS: dict[str, Callable[[Charger, dict], dict]] = {
    "ChangeAvailability": change_availability,
    "UnlockConnector": unlock_connector,
    "ReserveNow": reserve_now,
    "CancelReservation": cancel_reservation,
}
