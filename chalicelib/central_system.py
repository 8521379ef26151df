"""The central system: one function answers every OCPP 1.6 CALL a charger sends, whatever carried it
(the event bus, HTTP, a WebSocket). It turns messages into charge point state; transactions.py and
meter_values.py turn them into sessions.

Every message is applied at most once and in a way that late or repeated delivery cannot undo: see
storage's guard, and the conditions on each write. Refusals of business (unknown idTag, rejected boot)
are normal answers; malformed or impossible messages get the spec's CALLERROR and are counted, and so
does anything unexpected (InternalError): no exception reaches the transport.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime

from chalicelib import (
    authorization,
    bus_commands,
    firmware,
    meter_values,
    ocpp_frames,
    reservations,
    site_loop,
    storage,
    telemetry,
    transactions,
)
from chalicelib import charging_rules as rules
from chalicelib.central_message import Message, settle, stats_shard
from chalicelib.ocpp_frames import FrameError
from chalicelib.settings import Settings
from chalicelib.settings import get as get_settings

log = logging.getLogger("ev.central_system")
# A burst of StatusNotifications for one charger's connectors (at boot, say) contends on its
# statusVersion: each loser reads again after a jittered pause (tests/test_concurrency.py).
STATUS_ATTEMPTS = 12
# What a BootNotification tells about the charger, as stored and shown (payload key -> attribute).
BOOT_FIELDS = (
    ("chargePointSerialNumber", "serialNumber"),
    ("firmwareVersion", "firmwareVersion"),
    ("chargeBoxSerialNumber", "chargeBoxSerialNumber"),
    ("meterType", "meterType"),
    ("meterSerialNumber", "meterSerialNumber"),
    ("iccid", "iccid"),
    ("imsi", "imsi"),
)


class InvalidChargePointId(ValueError):
    pass


def handle_event(charge_point_id: str, raw: str | bytes | list, received_at: datetime | None = None) -> list:
    """handle() for the event bus: an unexpected error raises (retried, then parked), never lost. A charger
    accepted at boot on the bus is reachable there for commands."""
    answer = handle(charge_point_id, raw, received_at, raise_unexpected=True)
    bus_commands.note_boot(charge_point_id, raw, answer)
    return answer


def handle(
    charge_point_id: str, raw: str | bytes | list, received_at: datetime | None = None, raise_unexpected: bool = False
) -> list:
    """Answer one frame from a charger: a CALLRESULT, or a CALLERROR with the spec's code. An unexpected
    error is an InternalError CALLERROR, unless raise_unexpected: the event bus's handler raises, so that
    Lambda retries the event and finally parks it in its failure queue (nothing is lost)."""
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise InvalidChargePointId(
            f"charge point id {charge_point_id[:60]!r} is not {ocpp_frames.CHARGE_POINT_ID_RULE}"
        )
    settings = get_settings()
    call = None
    try:
        call = ocpp_frames.parse_call(raw)
        payload = _HANDLERS[call.action](Message(charge_point_id, call, received_at or ocpp_frames.now(), settings))
        ocpp_frames.validate(ocpp_frames.CALLRESULT, call.action, payload)
    except FrameError as error:
        if call is not None:
            error.unique_id, error.action = call.unique_id, call.action
        _count_rejection(charge_point_id, error.action, error, settings)
        return error.frame()
    except storage.ValueRefused as refused:
        refusal = FrameError("PropertyConstraintViolation", f"a value cannot be stored: {refused}", *_identity(call))
        _count_rejection(charge_point_id, refusal.action, refusal, settings)
        return refusal.frame()
    except Exception:  # noqa: BLE001 - anything unexpected is still answered on the same connection
        if raise_unexpected:
            raise
        return _internal_error(charge_point_id, call, settings)
    telemetry.event(
        log,
        logging.INFO,
        "answered",
        charge_point_id,
        call.unique_id,
        action=call.action,
        metrics={"MessagesProcessed": 1},
        dimensions={"Action": call.action},
    )
    return ocpp_frames.call_result(call.unique_id, payload)


def _identity(call: ocpp_frames.Call | None) -> tuple[ocpp_frames.UniqueId | None, str | None]:
    """The uniqueId and action of a CALL, once it parsed."""
    return (call.unique_id, call.action) if call else (None, None)


def _internal_error(charge_point_id: str, call: ocpp_frames.Call | None, settings: Settings) -> list:
    """An unexpected error: logged with its traceback, counted, answered InternalError."""
    unique_id, action = _identity(call)
    log.exception(
        json.dumps(
            {"event": "internal-error", "chargePointId": charge_point_id, "messageId": unique_id, "action": action}
        )
    )
    error = FrameError("InternalError", "the central system failed to process this message", unique_id, action)
    _count_rejection(charge_point_id, action, error, settings)
    return error.frame()


def _count_rejection(charge_point_id: str, action: str | None, error: FrameError, settings: Settings) -> None:
    telemetry.event(
        log,
        logging.WARNING,
        "rejected",
        charge_point_id,
        error.unique_id,
        action=action,
        errorCode=error.code,
        description=error.description,
        # action is set only for a known OCPP action: a charger cannot mint new metrics.
        metrics={"MessagesRejected": 1},
        dimensions={"Action": action or "Unknown"},
    )
    try:
        storage.add_to_stats(stats_shard(charge_point_id, settings.stats_shards), {"rejectedMessages": 1})
    except Exception:  # noqa: BLE001 - the charger's answer matters more than the counter (the metric has it)
        log.exception(json.dumps({"event": "rejection-not-counted", "chargePointId": charge_point_id}))


# --- the actions ---------------------------------------------------------------------------------


def boot_notification(msg: Message) -> dict:
    """Registration is one truth: the status answered here is the one stored (and shown by the API);
    a Pending charge point is registered but refused everything but BootNotification until Accepted."""
    status = msg.settings.boot_status(msg.charge_point_id)
    answer = {"status": status, "currentTime": msg.seen, "interval": msg.settings.heartbeat_interval}
    p = msg.payload
    fields = {
        "vendor": p["chargePointVendor"],
        "model": p["chargePointModel"],
        "bootedAt": msg.seen,
        "registration": status,
        **{name: p[key] for key, name in BOOT_FIELDS if key in p},
    }
    stamp = msg.stamp(answer)
    if status != "Rejected":
        item = {
            "chargePointId": msg.charge_point_id,
            "status": rules.UNKNOWN_STATUS,
            "statusVersion": 0,
            "connectors": 0,
            "connectorStatus": {},
            "connectorMeter": {},
            "lastSeen": stamp.seen,
            "lastCallId": stamp.unique_id,
            "lastCallDigest": stamp.digest,
            "lastAnswer": stamp.answer,
            **fields,
        }
        if storage.create_charge_point(item, msg.shard):
            return answer
    else:
        log.info(
            json.dumps(
                {
                    "event": "boot-refused",
                    "chargePointId": msg.charge_point_id,
                    "messageId": msg.call.unique_id,
                    "status": status,
                }
            )
        )
    result = storage.touch_charge_point(stamp, fields, since=("bootedAt", msg.seen), booting=True)
    if result.outcome == storage.Outcome.NOT_ACCEPTED:  # a charger never registered, refused: nothing to keep
        return answer
    answered = settle(result, answer, msg.charge_point_id)
    if (
        result.outcome == storage.Outcome.APPLIED and status != "Accepted"
    ) or result.outcome == storage.Outcome.DUPLICATE:
        # Left unaccepted, its sessions stop metering too; a redelivery (the charge point as read with it)
        # marks them again, in case the first delivery failed before it did.
        meter_values.refuse_while_not_accepted(msg.charge_point_id, result.charge_point)
    return answered


def heartbeat(msg: Message) -> dict:
    answer = {"currentTime": msg.seen}
    return settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)


def authorize(msg: Message) -> dict:
    answer = {"idTagInfo": authorization.authorize(msg.settings, msg.payload["idTag"], msg.received_at)}
    return settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)


def _newer_status(known: dict | None, entry: dict, stale: bool) -> bool:
    """Whether a notification replaces the connector's applied one: by the charger's own timestamps
    when both have one; otherwise by arrival (this one arrived later). On a tie only a notification
    heard no earlier than anything else from the charger (not stale) surely arrived after the applied
    one: a stale one may be the older of the two, redelivered, and must not bring it back. The very
    entry that is applied (a redelivery of the same notification) changes nothing."""
    if known == entry:
        return False
    if not known or known.get("serverStamped") or entry.get("serverStamped"):
        return True
    if entry["timestamp"] == known["timestamp"]:
        return not stale
    return entry["timestamp"] > known["timestamp"]


def status_notification(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector, p["status"])
    entry = {
        "status": p["status"],
        "errorCode": p["errorCode"],
        "timestamp": msg.timestamp(p["timestamp"]) if "timestamp" in p else msg.seen,
        **({} if "timestamp" in p else {"serverStamped": True}),
        **{k: p[k] for k in ("info", "vendorErrorCode", "vendorId") if k in p},
    }
    answer: dict = {}
    stamp = msg.stamp(answer)
    check_seen = True
    for attempt in range(STATUS_ATTEMPTS):
        charge_point = storage.get_charge_point(msg.charge_point_id, consistent=True)
        outcome = storage.classify(charge_point, stamp)
        if outcome in (storage.Outcome.NOT_ACCEPTED, storage.Outcome.DUPLICATE):
            return settle(storage.Result(outcome, charge_point), answer, msg.charge_point_id)
        assert charge_point is not None  # a missing one is NOT_ACCEPTED
        announced = int(charge_point.get("announcedConnectors", 0))
        if announced and connector > announced:
            return _beyond_announced(msg, stamp, connector, announced)
        stale = outcome is storage.Outcome.STALE
        if not _newer_status(charge_point["connectorStatus"].get(str(connector)), entry, stale):
            # Not newer than what is applied: it must not overwrite newer state.
            return settle(storage.touch_charge_point(stamp), answer, msg.charge_point_id)
        connectors = {**charge_point["connectorStatus"], str(connector): entry}
        sets = {"connectors": connector} if connector > int(charge_point.get("connectors", 0)) else {}
        result = storage.apply_status(
            stamp,
            str(connector),
            entry,
            rules.charge_point_status(connectors),
            charge_point["status"],
            int(charge_point["statusVersion"]),
            msg.shard,
            sets,
            check_seen,
        )
        if result.outcome == storage.Outcome.STALE:
            check_seen = False
        elif result.outcome != storage.Outcome.CONFLICT:
            if result.outcome == storage.Outcome.APPLIED and p["status"] != "Charging":
                transactions.connector_stopped_charging(charge_point, connector)
            if result.outcome == storage.Outcome.APPLIED:
                site_loop.status_applied(charge_point, connector, p["status"])
            return settle(result, answer, msg.charge_point_id)
        else:
            time.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.5)))
    raise RuntimeError(f"{msg.charge_point_id}: status kept conflicting with concurrent updates")


def _beyond_announced(msg: Message, stamp: storage.Stamp, connector: int, announced: int) -> dict:
    """Recorded as a fault of the charger, not as a new connector: its shape stays what it announced."""
    anomaly = rules.Anomaly(
        "connectorBeyondAnnounced",
        f"connector {connector} reported {msg.payload['status']} but the charger announced {announced}",
    )
    result = storage.touch_charge_point(stamp, rules.anomaly_sets([anomaly]), rules.anomaly_counts([anomaly]))
    return settle(result, {}, msg.charge_point_id)


def data_transfer(msg: Message) -> dict:
    p = msg.payload
    if p["vendorId"] != ocpp_frames.INFO_VENDOR_ID:
        answer = {"status": "UnknownVendorId"}
        return settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    if p.get("messageId") != ocpp_frames.INFO_MESSAGE_ID:
        answer = {"status": "UnknownMessageId"}
        return settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    try:
        info = rules.charge_point_info(p.get("data", ""))
    except ValueError as error:
        answer = {"status": "Rejected", "data": str(error)}
        return settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    answer = {"status": "Accepted"}
    info = {**info, "announcedConnectors": info["connectors"], "infoTime": msg.seen}
    result = storage.touch_charge_point(msg.stamp(answer), info, since=("infoTime", msg.seen))
    return settle(result, answer, msg.charge_point_id)


_HANDLERS: dict[str, Callable[[Message], dict]] = {
    "Authorize": authorize,
    "BootNotification": boot_notification,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": firmware.notification("diagnosticsStatus", "diagnosticsHistory"),
    "FirmwareStatusNotification": firmware.notification("firmwareStatus", "firmwareHistory"),
    "Heartbeat": heartbeat,
    "MeterValues": meter_values.meter_values,
    "StartTransaction": reservations.start_transaction,  # transactions.start_transaction, and its reservation
    "StatusNotification": status_notification,
    "StopTransaction": transactions.stop_transaction,
}
assert set(_HANDLERS) == ocpp_frames.CHARGER_ACTIONS
