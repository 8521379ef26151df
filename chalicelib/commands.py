"""Remote commands: the central system's CALLs to a connected charger (RemoteStartTransaction, Reset...).

A command takes three steps, and each may run in a different process (the API Lambda, a gateway
container, `chalice local`), so its whole life is kept in the Commands table, keyed by charge point id
and commandId, which is also the CALL's uniqueId:

1. `submit` (POST /chargepoints/{id}/commands) checks it against the official 1.6 schema and, in one
   transaction, stores it in the outbox of the gateway holding the charger's socket and takes the
   charger's single slot for an outstanding command: at most one CALL per direction.
2. That gateway finds it in its outbox (`queued_for`), marks it sent (`mark_sent`) and sends the CALL.
3. The charger's CALLRESULT or CALLERROR, matched by charge point id + uniqueId, is recorded
   (`record_answer`) and frees the slot. Unanswered after COMMAND_TIMEOUT_SECONDS, it is timed out.
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta

from chalice import BadRequestError, ConflictError, NotFoundError

from chalicelib import ocpp_frames, storage
from chalicelib.charging_rules import _plain  # DynamoDB numbers as JSON numbers, as every view shows them
from chalicelib import settings as settings_module

COMMAND_ACTIONS = ("RemoteStartTransaction", "RemoteStopTransaction", "Reset", "ChangeAvailability",
                   "UnlockConnector", "TriggerMessage", "ChangeConfiguration", "GetConfiguration")
PENDING, ANSWERED, FAILED, TIMED_OUT = "pending", "answered", "failed", "timedOut"
KEEP_SECONDS = 7 * 86400
log = logging.getLogger("ev.commands")


# --- the REST API ---------------------------------------------------------------------------------

def _parse(raw: bytes | None) -> tuple[str, dict]:
    try:
        body = json.loads(raw) if raw and raw.strip() else None
    except ValueError:
        raise BadRequestError("body must be JSON") from None
    if not isinstance(body, dict) or "action" not in body or set(body) - {"action", "payload"}:
        raise BadRequestError('body must be a JSON object {"action": ..., "payload": {...}}')
    action, payload = body["action"], body.get("payload", {})
    if action not in COMMAND_ACTIONS:
        raise BadRequestError(f"action must be one of {', '.join(COMMAND_ACTIONS)}, got {action!r}")
    if not isinstance(payload, dict):
        raise BadRequestError("payload must be a JSON object")
    try:
        ocpp_frames.validate(ocpp_frames.CALL, action, payload)
    except ocpp_frames.FrameError as error:
        raise BadRequestError(f"payload does not match the OCPP 1.6 schema: {error.description}") from None
    return action, payload


def _registered(charge_point_id: str) -> dict:
    item = (storage.get_charge_point(charge_point_id, consistent=True)
            if ocpp_frames.is_valid_charge_point_id(charge_point_id) else None)
    if item is None:
        raise NotFoundError(f"no charge point {charge_point_id!r}")
    return item


def _offline(charge_point_id: str) -> ConflictError:
    return ConflictError(f"charge point {charge_point_id} is offline: it has no open OCPP WebSocket connection")


def submit(charge_point_id: str, raw: bytes | None) -> dict:
    """POST /chargepoints/{id}/commands: 400 bad action or payload, 404 unknown charger, 409 offline or
    a command already outstanding; otherwise the command is queued for the charger's gateway."""
    action, payload = _parse(raw)
    charge_point = _registered(charge_point_id)
    if not charge_point.get("online"):
        raise _offline(charge_point_id)
    if action == "RemoteStartTransaction" and charge_point.get("registration") != "Accepted":
        # OCPP 1.6 4.2: a Pending charger may be configured, but it may not start transactions.
        raise ConflictError(f"charge point {charge_point_id} is {charge_point.get('registration')}: "
                            "it cannot start a transaction until it is Accepted")
    settings = settings_module.get()
    now = ocpp_frames.now()
    command = {"chargePointId": charge_point_id, "commandId": str(uuid.uuid4()), "action": action, "payload": payload,
               "status": PENDING, "createdAt": ocpp_frames.format_timestamp(now), "outbox": charge_point["gatewayId"],
               "expiresAt": int(time.time()) + KEEP_SECONDS}
    stale_before = ocpp_frames.format_timestamp(now - timedelta(seconds=settings.command_timeout_seconds))
    if not storage.create_command(command, charge_point["connectionId"], stale_before):
        charge_point = _registered(charge_point_id)
        if not charge_point.get("online"):
            raise _offline(charge_point_id)
        outstanding = charge_point.get("pendingCommand", {}).get("commandId", "another command")
        raise ConflictError(f"charge point {charge_point_id} has command {outstanding} outstanding: "
                            "one at a time, until it is answered or times out")
    log.info(json.dumps({"event": "command-queued", "chargePointId": charge_point_id,
                         "commandId": command["commandId"], "action": action}))
    return {"commandId": command["commandId"], "status": PENDING}


def view(charge_point_id: str, command_id: str) -> dict:
    """GET /chargepoints/{id}/commands/{commandId}."""
    item = (storage.get_command(charge_point_id, command_id)
            if ocpp_frames.is_valid_charge_point_id(charge_point_id) and len(command_id) <= ocpp_frames.MAX_UNIQUE_ID
            else None)
    if item is None:
        raise NotFoundError(f"no command {command_id!r} for charge point {charge_point_id!r}")
    status = item["status"]
    if status == PENDING and _expired(item):
        status = TIMED_OUT  # its gateway is gone and cannot say so itself
    return {"commandId": item["commandId"], "chargePointId": item["chargePointId"], "action": item["action"],
            "payload": _plain(item["payload"]), "status": status, "createdAt": item["createdAt"],
            **{key: _plain(item[key]) for key in ("sentAt", "answeredAt", "result", "error") if key in item}}


def _expired(item: dict) -> bool:
    deadline = ocpp_frames.parse_timestamp(item["createdAt"]) + timedelta(
        seconds=settings_module.get().command_timeout_seconds)
    return ocpp_frames.now() >= deadline


# --- the gateway's side ---------------------------------------------------------------------------

def queued_for(gateway_id: str) -> list[dict]:
    """Commands waiting in this gateway's outbox."""
    return storage.outbox(gateway_id)


def deadline(command: dict) -> float:
    """Seconds from now until the command times out."""
    return max(0.0, (ocpp_frames.parse_timestamp(command["createdAt"]) - ocpp_frames.now()).total_seconds()
               + settings_module.get().command_timeout_seconds)


def call_frame(command: dict) -> list:
    """The CALL that carries a command: its commandId is the uniqueId."""
    return [ocpp_frames.CALL, command["commandId"], command["action"], _plain(command["payload"])]


def mark_sent(command: dict) -> bool:
    """Take a command out of the outbox before sending it: False when it left already (another poll)."""
    return storage.update_command(command["chargePointId"], command["commandId"],
                                  {"sentAt": ocpp_frames.format_timestamp(ocpp_frames.now())}, only_if_queued=True)


def record_answer(charge_point_id: str, frame: list) -> str | None:
    """The charger's CALLRESULT or CALLERROR to a command, matched by uniqueId: the command's new status,
    or None when no pending command has that id. A CALLRESULT that breaks the schema counts as failed."""
    command_id = frame[1]
    command = storage.get_command(charge_point_id, command_id)
    if command is None or command["status"] != PENDING:
        log.warning(json.dumps({"event": "answer-unmatched", "chargePointId": charge_point_id, "commandId": command_id}))
        return None
    at = ocpp_frames.format_timestamp(ocpp_frames.now())
    if frame[0] == ocpp_frames.CALLRESULT:
        try:
            ocpp_frames.validate(ocpp_frames.CALLRESULT, command["action"], frame[2])
            sets = {"status": ANSWERED, "result": frame[2]}
        except ocpp_frames.FrameError as error:
            sets = {"status": FAILED, "error": {"errorCode": error.code,
                                                "errorDescription": f"answer breaks the schema: {error.description}"}}
    else:
        sets = {"status": FAILED, "error": {"errorCode": frame[2], "errorDescription": frame[3],
                                            "errorDetails": frame[4]}}
    return _finish(charge_point_id, command_id, {**sets, "answeredAt": at})


def fail(charge_point_id: str, command_id: str, code: str, description: str) -> str | None:
    """The gateway could not deliver the command (the charger disconnected)."""
    return _finish(charge_point_id, command_id, {"status": FAILED, "error": {"errorCode": code,
                                                                            "errorDescription": description}})


def time_out(charge_point_id: str, command_id: str) -> str | None:
    return _finish(charge_point_id, command_id, {"status": TIMED_OUT})


def _finish(charge_point_id: str, command_id: str, sets: dict) -> str | None:
    if not storage.update_command(charge_point_id, command_id, sets):
        return None
    storage.release_command_slot(charge_point_id, command_id)
    log.info(json.dumps({"event": "command-" + sets["status"], "chargePointId": charge_point_id,
                         "commandId": command_id}))
    return sets["status"]
