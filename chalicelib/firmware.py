"""Firmware Management on the charge point: the firmware update the central system asked for
(UpdateFirmware), and the sequences of FirmwareStatusNotification and DiagnosticsStatusNotification the
charger reports (Downloading, Downloaded, Installing, Installed...; Uploading, Uploaded...).

The latest status is kept as before (`firmwareStatus`, `diagnosticsStatus`, newest by receive time), and
beside it a bounded history, newest last (`firmwareHistory`, `diagnosticsHistory`: the charge point item
must stay small whatever a charger sends).
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import storage
from chalicelib.central_message import Message, settle

HISTORY = 10


def update_firmware_answered(command: dict, result: dict) -> None:
    """EFFECTS["UpdateFirmware"]: the charger took the request (its answer has no content)."""
    payload = command["payload"]
    request = {
        "location": payload["location"],
        "retrieveDate": payload["retrieveDate"],
        "requestedAt": command["createdAt"],
        "commandId": command["commandId"],
    }
    storage.note_charge_point(command["chargePointId"], {"firmwareUpdate": request})


def notification(field: str, history: str) -> Callable[[Message], dict]:
    """The handler of a status notification kept in `field` (its time in `{field}Time`) and `history`:
    1 GetItem (the history so far; a repeat stops there) + 1 UpdateItem."""
    since = f"{field}Time"

    def record(msg: Message) -> dict:
        answer: dict = {}
        stamp = msg.stamp(answer)
        charge_point = storage.get_charge_point(msg.charge_point_id, consistent=True)
        outcome = storage.classify(charge_point, stamp)
        if outcome in (storage.Outcome.NOT_ACCEPTED, storage.Outcome.DUPLICATE):
            return settle(storage.Result(outcome, charge_point), answer, msg.charge_point_id)
        assert charge_point is not None  # a missing one is NOT_ACCEPTED
        entry = {"status": msg.payload["status"], "at": msg.seen}
        kept = sorted([*charge_point.get(history, []), entry], key=lambda item: item["at"])[-HISTORY:]
        newest = charge_point.get(since, "") <= msg.seen
        # One heard late still joins the history in its place; only a newer one is the current status.
        sets = {history: kept, **({field: entry["status"], since: msg.seen} if newest else {})}
        result = storage.touch_charge_point(stamp, sets, since=(since, msg.seen) if newest else None)
        return settle(result, answer, msg.charge_point_id)

    return record
