"""Reservations (OCPP 1.6 Reservation profile): what ReserveNow, CancelReservation and a StartTransaction
with a reservationId make of a reservation.

    ReserveNow queued        -> Pending (the reservationId is taken: 409 when in use)
    ReserveNow answered      -> Active (Accepted) | Occupied | Faulted | Unavailable | Rejected
    StartTransaction with it -> Used (its sessionId kept)
    CancelReservation        -> Cancelled (Accepted)
    past its expiryDate      -> Expired (a Pending or Active one; derived from the clock, never stored)

An Active reservation is also pointed to from its charge point (`reservation_{connectorId}`, 0: any
connector), so GET /chargepoints/{id} shows it without another request. The charger itself reports the
connector's Reserved status with a StatusNotification, applied as any other status.
"""

from __future__ import annotations

from datetime import timedelta

from chalicelib import charging_rules, ocpp_frames, storage, transactions
from chalicelib import settings as settings_module
from chalicelib.central_message import Message

ANSWERS = ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable")
STATUSES = ("Pending", "Active", "Occupied", "Faulted", "Unavailable", "Rejected", "Used", "Cancelled", "Expired")
# The ids this system gives reservations (the dashboard picks a random one): a start naming another cannot use ours.
MAX_RESERVATION_ID = 2**31 - 1
_KEPT = ("parentIdTag", "commandId", "answeredAt", "sessionId", "usedAt", "usedOnConnector", "cancelledAt")


class UnknownReservation(LookupError):
    """No reservation with that id (404)."""


def _now() -> str:
    return ocpp_frames.format_timestamp(ocpp_frames.now())


# --- the commands' hooks (chalicelib/command_effects.py) ------------------------------------------


def register(charge_point_id: str, payload: dict) -> dict:
    """BEFORE_SUBMIT["ReserveNow"]: the reservation, Pending, under the payload's reservationId (the
    payload already matches the official schema). The id of a Pending reservation whose ReserveNow can
    no longer be answered (older than COMMAND_TIMEOUT_SECONDS) may be used again."""
    # commands imports command_effects, which imports this module: imported when first used.
    from chalicelib import commands

    try:
        expiry = ocpp_frames.parse_timestamp(payload["expiryDate"], "expiryDate")
    except ocpp_frames.FrameError as error:
        raise commands.InvalidCommand(error.description) from None
    now = ocpp_frames.now()
    if expiry <= now:
        raise commands.InvalidCommand(f"expiryDate {payload['expiryDate']} has passed")
    if not 0 <= payload["reservationId"] <= MAX_RESERVATION_ID:
        raise commands.InvalidCommand(f"reservationId must be from 0 to {MAX_RESERVATION_ID}")
    connector = payload["connectorId"]
    if not 0 <= connector <= charging_rules.MAX_CONNECTORS:
        raise commands.InvalidCommand(f"connectorId must be from 0 (any) to {charging_rules.MAX_CONNECTORS}")
    item = {
        "reservationId": payload["reservationId"],
        "chargePointId": charge_point_id,
        "connectorId": connector,
        "idTag": payload["idTag"],
        "expiryDate": ocpp_frames.format_timestamp(expiry),
        "status": "Pending",
        "createdAt": ocpp_frames.format_timestamp(now),
        **({"parentIdTag": payload["parentIdTag"]} if "parentIdTag" in payload else {}),
    }
    abandoned_before = now - timedelta(seconds=settings_module.get().command_timeout_seconds)
    if not storage.create_reservation(item, ocpp_frames.format_timestamp(abandoned_before)):
        raise commands.CommandConflict(f"reservationId {payload['reservationId']} is in use: pick another")
    return payload


def reserve_now_answered(command: dict, result: dict) -> None:
    """EFFECTS["ReserveNow"]: the charger's answer becomes the reservation's status."""
    status = result.get("status")
    if status not in ANSWERS:
        return
    reservation_id = int(command["payload"]["reservationId"])
    sets = {"status": "Active" if status == "Accepted" else status, "commandId": command["commandId"]}
    moved = storage.move_reservation(
        reservation_id, command["chargePointId"], {**sets, "answeredAt": command["answeredAt"]}, ("Pending",)
    )
    if moved is not None and status == "Accepted":
        summary = {key: moved[key] for key in ("reservationId", "idTag", "expiryDate")}
        storage.note_charge_point(
            command["chargePointId"], {storage.reservation_pointer(int(moved["connectorId"])): summary}
        )


def cancel_answered(command: dict, result: dict) -> None:
    """EFFECTS["CancelReservation"]: Accepted ends the reservation (a Rejected one stays as it is)."""
    if result.get("status") != "Accepted":
        return
    reservation_id = int(command["payload"]["reservationId"])
    cancelled = storage.move_reservation(
        reservation_id,
        command["chargePointId"],
        {"status": "Cancelled", "cancelledAt": command["answeredAt"]},
        storage.OPEN_RESERVATION,
    )
    if cancelled is not None:
        storage.drop_reservation_pointer(command["chargePointId"], int(cancelled["connectorId"]), reservation_id)


# --- StartTransaction -----------------------------------------------------------------------------


def start_transaction(msg: Message) -> dict:
    """StartTransaction, and the reservation it names is Used: 1 UpdateItem more (and 1 to drop the
    charge point's pointer) only when it names one; the same again when the start is resent."""
    answer = transactions.start_transaction(msg)
    reservation_id = msg.payload.get("reservationId")
    if (
        isinstance(reservation_id, int)
        and 0 <= reservation_id <= MAX_RESERVATION_ID
        and answer["idTagInfo"]["status"] == "Accepted"
    ):
        session_id = charging_rules.session_id(msg.charge_point_id, answer["transactionId"])
        used = storage.move_reservation(
            reservation_id,
            msg.charge_point_id,
            {
                "status": "Used",
                "sessionId": session_id,
                "usedAt": msg.payload["timestamp"],
                "usedOnConnector": msg.payload["connectorId"],
            },
            storage.OPEN_RESERVATION,
            or_session=session_id,
        )
        if used is not None:
            storage.drop_reservation_pointer(msg.charge_point_id, int(used["connectorId"]), reservation_id)
    return answer


# --- the API --------------------------------------------------------------------------------------


def status_now(item: dict, now: str) -> str:
    """The reservation's status at `now`: an open one past its expiryDate is Expired."""
    status = item["status"]
    return "Expired" if status in storage.OPEN_RESERVATION and item["expiryDate"] < now else status


def view(item: dict, now: str | None = None) -> dict:
    return {
        "reservationId": int(item["reservationId"]),
        "chargePointId": item["chargePointId"],
        "connectorId": int(item["connectorId"]),
        "idTag": item["idTag"],
        "expiryDate": item["expiryDate"],
        "status": status_now(item, now or _now()),
        "createdAt": item["createdAt"],
        **{key: int(item[key]) if key == "usedOnConnector" else item[key] for key in _KEPT if key in item},
    }


def get(reservation_id: int) -> dict:
    item = storage.get_reservation(reservation_id)
    if item is None:
        raise UnknownReservation(f"no reservation {reservation_id}")
    return view(item)
