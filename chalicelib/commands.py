"""Remote commands: the central system's CALLs to a connected charger (RemoteStartTransaction, Reset...).

A command takes three steps, and each may run in a different process (the API Lambda, a gateway
container, `chalice local`), so its whole life is kept in the Commands table, keyed by charge point id
and commandId, which is also the CALL's uniqueId:

1. `queue` (POST /chargepoints/{id}/commands through `submit`, or a feature itself) checks it against the
   official 1.6 schema (and the feature's BEFORE_SUBMIT check, chalicelib/command_effects.py) and, in one
   transaction, stores it in the outbox of the gateway holding the charger's socket and takes the
   charger's single slot for an outstanding command: at most one CALL per direction.
2. That gateway finds it in its outbox (`queued_for`), marks it sent (`mark_sent`) and sends the CALL.
3. The charger's CALLRESULT or CALLERROR, matched by charge point id + uniqueId, is recorded
   (`record_answer`), a CALLRESULT's meaning applied (command_effects.EFFECTS), and the slot freed (or
   handed to the next part of a command sent in parts, command_sequence.py). Unanswered after
   COMMAND_TIMEOUT_SECONDS, it is timed out.

Refusals are this module's own exceptions (CommandError), which the REST layer turns into HTTP statuses:
the gateway uses this module too and must not need Chalice.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta

from chalicelib import bus_commands, ocpp_frames, storage, views
from chalicelib import settings as settings_module

# Every CALL a 1.6 central system may send, by feature profile (OCPP 1.6, section 3).
COMMAND_ACTIONS = (
    # Core
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "DataTransfer",
    "GetConfiguration",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "Reset",
    "UnlockConnector",
    # Firmware Management
    "GetDiagnostics",
    "UpdateFirmware",
    # Local Auth List Management
    "GetLocalListVersion",
    "SendLocalList",
    # Reservation
    "ReserveNow",
    "CancelReservation",
    # Smart Charging
    "SetChargingProfile",
    "ClearChargingProfile",
    "GetCompositeSchedule",
    # Remote Trigger
    "TriggerMessage",
)
PENDING, ANSWERED, FAILED, TIMED_OUT = "pending", "answered", "failed", "timedOut"
WAITING = "waiting"  # a later part of a command sent in parts (command_sequence.py): in no outbox yet
KEEP_SECONDS = 7 * 86400
# What a command keeps of a charger's answer, and the largest payload it sends: a DynamoDB item holds at
# most 400 KB.
MAX_STORED_ANSWER = 100_000
MAX_PAYLOAD = 100_000
log = logging.getLogger("ev.commands")


class CommandError(Exception):
    """A command the system refuses; the subclass says why (the REST layer's HTTP status)."""


class InvalidCommand(CommandError):
    """Not a command: bad JSON, action or payload (400)."""


class UnknownCommandTarget(CommandError):
    """No such charge point or command (404)."""


class CommandConflict(CommandError):
    """The charger is offline or has a command outstanding (409)."""


# --- the REST API ---------------------------------------------------------------------------------


def _parse(raw: str | bytes | None) -> tuple[object, object]:
    try:
        body = json.loads(raw) if raw and raw.strip() else None
    except (ValueError, RecursionError):  # too deep a nesting is as unusable as broken JSON
        raise InvalidCommand("body must be JSON") from None
    if not isinstance(body, dict) or "action" not in body or set(body) - {"action", "payload"}:
        raise InvalidCommand('body must be a JSON object {"action": ..., "payload": {...}}')
    return body["action"], body.get("payload", {})


def check(action: object, payload: object) -> tuple[str, dict]:
    """A command's action and payload as the schema and the size bound allow them: InvalidCommand otherwise."""
    if not isinstance(action, str) or action not in COMMAND_ACTIONS:
        raise InvalidCommand(f"action must be one of {', '.join(COMMAND_ACTIONS)}, got {action!r}")
    if not isinstance(payload, dict):
        raise InvalidCommand("payload must be a JSON object")
    if len(json.dumps(payload)) > MAX_PAYLOAD:
        raise InvalidCommand(f"payload over {MAX_PAYLOAD} bytes: send a large local list in differential parts")
    try:
        ocpp_frames.validate(ocpp_frames.CALL, action, payload)
    except ocpp_frames.FrameError as error:
        raise InvalidCommand(f"payload does not match the OCPP 1.6 schema: {error.description}") from None
    return action, payload


def registered(charge_point_id: str) -> dict:
    """The charge point a command or a feature names: UnknownCommandTarget (404) when there is none."""
    item = (
        storage.get_charge_point(charge_point_id, consistent=True)
        if ocpp_frames.is_valid_charge_point_id(charge_point_id)
        else None
    )
    if item is None:
        raise UnknownCommandTarget(f"no charge point {charge_point_id!r}")
    return item


def _offline(charge_point_id: str) -> CommandConflict:
    return CommandConflict(f"charge point {charge_point_id} is offline: it has no open OCPP WebSocket connection")


def submit(charge_point_id: str, raw: str | bytes | None) -> dict:
    """POST /chargepoints/{id}/commands: the body's command, queued (see `queue`)."""
    return queue(charge_point_id, *_parse(raw))


def queue(charge_point_id: str, action: object, payload: object, extra: dict | None = None) -> dict:
    """Queue a command for a charger: 400 (InvalidCommand) bad action or payload, 404 unknown charger,
    409 offline or a command already outstanding; a feature's BEFORE_SUBMIT hook may refuse it too.
    The entry point for features that send a command themselves; `extra`: their own attributes kept on
    the command (command_sequence.py: the parts that follow it)."""
    # Imported here: the features it registers import this module for its exceptions.
    from chalicelib.command_effects import BEFORE_SUBMIT

    action, payload = check(action, payload)
    charge_point = registered(charge_point_id)
    if not charge_point.get("online"):
        raise _offline(charge_point_id)
    if action == "RemoteStartTransaction" and charge_point.get("registration") != "Accepted":
        # OCPP 1.6 4.2: a Pending charger may be configured, but it may not start transactions.
        raise CommandConflict(
            f"charge point {charge_point_id} is {charge_point.get('registration')}: "
            "it cannot start a transaction until it is Accepted"
        )
    if action in BEFORE_SUBMIT:
        action, payload = check(action, BEFORE_SUBMIT[action](charge_point_id, payload))
    now = ocpp_frames.now()
    command = {
        "chargePointId": charge_point_id,
        "commandId": str(uuid.uuid4()),
        "action": action,
        "payload": payload,
        "status": PENDING,
        "createdAt": ocpp_frames.format_timestamp(now),
        "expiresAt": int(time.time()) + KEEP_SECONDS,
        **(extra or {}),
    }
    _deliver(charge_point, command, now)
    log.info(
        json.dumps(
            {
                "event": "command-queued",
                "chargePointId": charge_point_id,
                "commandId": command["commandId"],
                "action": action,
            }
        )
    )
    publish_on_bus(charge_point, command)
    return {"commandId": command["commandId"], "status": PENDING}


def publish_on_bus(charge_point: dict, command: dict) -> None:
    """A charger on the bus has no gateway polling an outbox for it: its command goes out at once."""
    if bus_commands.on_bus(charge_point) and mark_sent(command):
        bus_commands.send(charge_point["chargePointId"], call_frame(command))


def _deliver(charge_point: dict, command: dict, now: datetime) -> None:
    """Store the command in the outbox of the gateway holding the charger's socket, taking the charger's
    slot for an outstanding command; CommandConflict when it went offline or the slot is taken."""
    charge_point_id = command["chargePointId"]
    stale_before = ocpp_frames.format_timestamp(now - timedelta(seconds=settings_module.get().command_timeout_seconds))
    if storage.create_command(
        {**command, "outbox": charge_point["gatewayId"]}, charge_point["connectionId"], stale_before
    ):
        return
    charge_point = registered(charge_point_id)
    if not charge_point.get("online"):
        raise _offline(charge_point_id)
    outstanding = charge_point.get("pendingCommand", {}).get("commandId", "another command")
    raise CommandConflict(
        f"charge point {charge_point_id} has command {outstanding} outstanding: "
        "one at a time, until it is answered or times out"
    )


def view(charge_point_id: str, command_id: str) -> dict:
    """GET /chargepoints/{id}/commands/{commandId}."""
    item = (
        storage.get_command(charge_point_id, command_id)
        if ocpp_frames.is_valid_charge_point_id(charge_point_id) and len(command_id) <= ocpp_frames.MAX_UNIQUE_ID
        else None
    )
    if item is None:
        raise UnknownCommandTarget(f"no command {command_id!r} for charge point {charge_point_id!r}")
    return as_view(item)


def as_view(item: dict, listed: bool = False) -> dict:
    """A stored command as the API shows it (in a list: without a large payload or result), with its
    status as of now."""
    status = item["status"]
    if status == PENDING and _expired(item):
        status = TIMED_OUT  # its gateway is gone and cannot say so itself
    elif status == WAITING and _expired(item, turns=int(item["part"])):
        status = TIMED_OUT  # a part before it ended without handing it the slot (a CALLERROR, a timeout)
    return views.command_view(item, status, listed)


def _expired(item: dict, turns: int = 1) -> bool:
    deadline = ocpp_frames.parse_timestamp(item["createdAt"]) + turns * timedelta(
        seconds=settings_module.get().command_timeout_seconds
    )
    return ocpp_frames.now() >= deadline


# --- the gateway's side ---------------------------------------------------------------------------


def queued_for(gateway_id: str) -> list[dict]:
    """Commands waiting in this gateway's outbox."""
    return storage.outbox(gateway_id)


def deadline(command: dict) -> float:
    """Seconds from now until the command times out."""
    return max(
        0.0,
        (ocpp_frames.parse_timestamp(command["createdAt"]) - ocpp_frames.now()).total_seconds()
        + settings_module.get().command_timeout_seconds,
    )


def call_frame(command: dict) -> list:
    """The CALL that carries a command: its commandId is the uniqueId. A key in it is stored sealed and
    opened only here, as it goes out (authorization_key.py)."""
    # Imported here: the features it registers import this module for its exceptions.
    from chalicelib import authorization_key

    payload = authorization_key.opened(command, views.plain(command["payload"]))
    return [ocpp_frames.CALL, command["commandId"], command["action"], payload]


def mark_sent(command: dict) -> bool:
    """Take a command out of the outbox before sending it: False when it left already (another poll)."""
    return storage.update_command(
        command["chargePointId"],
        command["commandId"],
        {"sentAt": ocpp_frames.format_timestamp(ocpp_frames.now())},
        only_if_queued=True,
    )


def record_answer(charge_point_id: str, command_id: str, raw: str | bytes | list) -> str | None:
    """The charger's CALLRESULT or CALLERROR (the frame as received) to the command with this uniqueId:
    the command's new status, or None when no pending command has that id. Whatever the frame's shape,
    the command is finished: a CALLRESULT that breaks the schema, or any unusable frame, counts as failed."""
    command = storage.get_command(charge_point_id, command_id)
    if command is None or command["status"] != PENDING:
        log.warning(
            json.dumps({"event": "answer-unmatched", "chargePointId": charge_point_id, "commandId": command_id})
        )
        return None
    try:
        sets = _outcome(command["action"], ocpp_frames.decode(raw))
    except ocpp_frames.FrameError as error:
        sets = _failure(error.code, f"answer refused: {error.description}")
    sets["answeredAt"] = ocpp_frames.format_timestamp(ocpp_frames.now())
    if sets["status"] == ANSWERED:
        # Imported here: the features it registers import this module for its exceptions.
        from chalicelib import command_effects

        # First: whoever sees the command answered sees what the answer changed.
        command_effects.apply({**command, **sets})
    return _finish(charge_point_id, command_id, sets)


def _outcome(action: str, frame: list) -> dict:
    """What an answer frame makes of its command. A CALLERROR's description and details are optional
    in practice (chargers omit them), and what is kept of either is bounded."""
    if frame[0] == ocpp_frames.CALLERROR:
        code, description, details = (frame + [None] * 3)[2:5]
        return _failure(
            code if isinstance(code, str) else "GenericError",
            description if isinstance(description, str) else "",
            details if isinstance(details, dict) else {},
        )
    if len(frame) != 3:
        raise ocpp_frames.FrameError("FormatViolation", "a CALLRESULT has exactly 3 elements")
    ocpp_frames.validate(ocpp_frames.CALLRESULT, action, frame[2])
    if len(json.dumps(frame[2])) > MAX_STORED_ANSWER:
        raise ocpp_frames.FrameError("OccurrenceConstraintViolation", f"result over {MAX_STORED_ANSWER} bytes")
    return {"status": ANSWERED, "result": frame[2]}


def _failure(code: str, description: str, details: dict | None = None) -> dict:
    error: dict = {"errorCode": code[:64], "errorDescription": description[:255]}
    if details is not None:
        error["errorDetails"] = details if len(json.dumps(details)) <= MAX_STORED_ANSWER else {"omitted": "too large"}
    return {"status": FAILED, "error": error}


def fail(charge_point_id: str, command_id: str, code: str, description: str) -> str | None:
    """The gateway could not deliver the command (the charger disconnected)."""
    return _finish(charge_point_id, command_id, _failure(code, description))


def time_out(charge_point_id: str, command_id: str) -> str | None:
    return _finish(charge_point_id, command_id, {"status": TIMED_OUT})


def _finish(charge_point_id: str, command_id: str, sets: dict) -> str | None:
    if not storage.update_command(charge_point_id, command_id, sets):
        return None
    storage.release_command_slot(charge_point_id, command_id)
    log.info(
        json.dumps({"event": "command-" + sets["status"], "chargePointId": charge_point_id, "commandId": command_id})
    )
    return sets["status"]
