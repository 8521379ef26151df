"""Commands sent in parts: one the charger cannot take in one message (a local list longer than its
SendLocalListMaxLength) goes as several commands, one at a time, each only once the part before it was
answered as the feature wants (local_list.py: Accepted).

All the parts are stored when the first is queued, so the operator sees every one from the start: the
first as any command (commands.queue), the later ones `waiting`, in no outbox. Each part names the ones
after it (`laterParts`). When a part's answer allows it, its effect (command_effects.EFFECTS) hands the
charger's slot for an outstanding command, which that part still holds, straight to the next part and
puts that part in the outbox of the gateway holding the charger's socket, in one transaction: no other
command can slip in between two parts. An answer that does not allow it fails the later parts. A part
that ends without an effect (a CALLERROR, a timeout, the charger gone) hands nothing on: the parts after
it stay `waiting` and are shown timed out once their turn cannot come any more (commands.as_view).
"""

from __future__ import annotations

import time
import uuid

from chalicelib import bus_commands, commands, ocpp_frames, storage


def queue_parts(charge_point_id: str, action: str, payloads: list[dict]) -> list[dict]:
    """Queue `payloads` as the parts of one command, in order: `[{"commandId", "status"}]` for each part.
    Refused as commands.queue refuses the first part (nothing of it stays then). For actions without a
    BEFORE_SUBMIT hook: the later parts are checked against the schema only."""
    checked = [commands.check(action, payload)[1] for payload in payloads]
    later_ids = [str(uuid.uuid4()) for _ in checked[1:]]
    if not later_ids:
        return [commands.queue(charge_point_id, action, checked[0])]
    created_at = ocpp_frames.format_timestamp(ocpp_frames.now())
    parts = len(checked)
    storage.put_waiting(
        [
            {
                "chargePointId": charge_point_id,
                "commandId": command_id,
                "action": action,
                "payload": payload,
                "status": commands.WAITING,
                "createdAt": created_at,
                "expiresAt": int(time.time()) + commands.KEEP_SECONDS,
                "part": index + 2,
                "parts": parts,
                "laterParts": later_ids[index + 1 :],
            }
            for index, (command_id, payload) in enumerate(zip(later_ids, checked[1:], strict=True))
        ]
    )
    try:
        first = commands.queue(
            charge_point_id, action, checked[0], extra={"part": 1, "parts": parts, "laterParts": later_ids}
        )
    except commands.CommandError:
        storage.delete_waiting(charge_point_id, later_ids)
        raise
    return [first, *({"commandId": command_id, "status": commands.WAITING} for command_id in later_ids)]


def follow(command: dict, go_on: bool, why: str) -> None:
    """After a part's answer (from its effect, while it holds the charger's slot): go_on, the next part goes
    out; otherwise the later parts fail, with `why`. Nothing for a command that is not a part or the last."""
    later = command.get("laterParts") or []
    if not later:
        return
    charge_point_id = command["chargePointId"]
    if go_on:
        charge_point = storage.get_charge_point(charge_point_id, consistent=True)
        created_at = ocpp_frames.format_timestamp(ocpp_frames.now())
        if charge_point is not None and storage.hand_over_command(command, later[0], charge_point, created_at):
            following = storage.get_command(charge_point_id, later[0]) if bus_commands.on_bus(charge_point) else None
            if following is not None:
                commands.publish_on_bus(charge_point, following)
            return
        next_part = storage.get_command(charge_point_id, later[0])
        if next_part is None or next_part["status"] != commands.WAITING:
            return  # the same answer applied twice: the first one handed it over
        why = f"not sent: part {command['part']} was Accepted, but the charger went offline or its slot was taken"
    for command_id in later:
        error = {"errorCode": "GenericError", "errorDescription": why[:255]}
        storage.update_command(
            charge_point_id, command_id, {"status": commands.FAILED, "error": error}, was=commands.WAITING
        )
