"""The central system: one function answers every OCPP 1.6 CALL a charger sends, whatever carried it
(the event bus, HTTP, a WebSocket). It turns messages into charge point and session state.

Every message is applied at most once and in a way that late or repeated delivery cannot undo: see
storage's guard, and the conditions on each write. Refusals of business (unknown idTag, rejected boot)
are normal answers; malformed or impossible messages get the spec's CALLERROR and are counted.
"""
from __future__ import annotations

import json
import logging
import random
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from chalicelib import charging_rules as rules
from chalicelib import ocpp_frames, pricing, storage, telemetry
from chalicelib.ocpp_frames import FrameError
from chalicelib.settings import Settings
from chalicelib.settings import get as get_settings

log = logging.getLogger("ev.central_system")
MAX_ATTEMPTS = 5
# A burst of StatusNotifications for one charger's connectors (at boot, say) contends on its
# statusVersion: each loser reads again after a jittered pause (tests/test_concurrency.py).
STATUS_ATTEMPTS = 12


@dataclass(frozen=True)
class Message:
    charge_point_id: str
    call: ocpp_frames.Call
    received_at: datetime
    settings: Settings

    @property
    def payload(self) -> dict:
        return self.call.payload

    @property
    def seen(self) -> str:
        return ocpp_frames.format_timestamp(self.received_at)

    @property
    def shard(self) -> int:
        return zlib.crc32(self.charge_point_id.encode()) % self.settings.stats_shards

    def stamp(self, answer: dict) -> storage.Stamp:
        return storage.Stamp(self.charge_point_id, self.call.unique_id, self.seen, json.dumps(answer))

    def timestamp(self, value: str, field: str = "timestamp") -> str:
        moment = ocpp_frames.check_timestamp(value, self.received_at, self.settings.max_clock_drift_seconds, field)
        return ocpp_frames.format_timestamp(moment)


class InvalidChargePointId(ValueError):
    pass


def handle(charge_point_id: str, raw: str | bytes | list, received_at: datetime | None = None) -> list:
    """Answer one frame from a charger: a CALLRESULT, or a CALLERROR with the spec's code."""
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise InvalidChargePointId(f"charge point id {charge_point_id[:60]!r} is not 1-48 letters, digits or ._:@-")
    settings = get_settings()
    call = None
    try:
        call = ocpp_frames.parse_call(raw)
        payload = _HANDLERS[call.action](Message(charge_point_id, call, received_at or ocpp_frames.now(), settings))
    except FrameError as error:
        if call is not None:
            error.unique_id, error.action = call.unique_id, call.action
        _count_rejection(charge_point_id, error.action, error, settings)
        return error.frame()
    ocpp_frames.validate(ocpp_frames.CALLRESULT, call.action, payload)
    telemetry.event(log, logging.INFO, "answered", charge_point_id, call.unique_id, action=call.action,
                    metrics={"MessagesProcessed": 1}, dimensions={"Action": call.action})
    return ocpp_frames.call_result(call.unique_id, payload)


def _count_rejection(charge_point_id: str, action: str | None, error: FrameError, settings: Settings) -> None:
    telemetry.event(log, logging.WARNING, "rejected", charge_point_id, error.unique_id, action=action,
                    errorCode=error.code, description=error.description,
                    # action is set only for a known OCPP action: a charger cannot mint new metrics.
                    metrics={"MessagesRejected": 1}, dimensions={"Action": action or "Unknown"})
    storage.add_to_stats(zlib.crc32(charge_point_id.encode()) % settings.stats_shards, {"rejectedMessages": 1})


def _not_accepted(charge_point_id: str) -> FrameError:
    return FrameError("SecurityError", f"charge point {charge_point_id} is not accepted: it must boot first")


def _settle(result: storage.Result, answer: dict, charge_point_id: str) -> dict:
    """The answer once a guarded write is done: a repeat gets the first answer again."""
    if result.outcome == storage.NOT_ACCEPTED:
        raise _not_accepted(charge_point_id)
    if result.outcome == storage.DUPLICATE and result.charge_point:
        return json.loads(result.charge_point["lastAnswer"])
    if result.outcome == storage.CONFLICT:
        raise RuntimeError(f"{charge_point_id}: kept conflicting with concurrent updates")
    return answer


# --- the actions ---------------------------------------------------------------------------------

def boot_notification(msg: Message) -> dict:
    status = msg.settings.boot_status(msg.charge_point_id)
    answer = {"status": status, "currentTime": msg.seen, "interval": msg.settings.heartbeat_interval}
    if status != "Accepted":
        log.info(json.dumps({"event": "boot-refused", "chargePointId": msg.charge_point_id,
                             "messageId": msg.call.unique_id, "status": status}))
        return answer
    p = msg.payload
    fields = {"vendor": p["chargePointVendor"], "model": p["chargePointModel"], "bootedAt": msg.seen,
              **{name: p[key] for key, name in (("chargePointSerialNumber", "serialNumber"),
                                                ("firmwareVersion", "firmwareVersion")) if key in p}}
    stamp = msg.stamp(answer)
    item = {"chargePointId": msg.charge_point_id, "registration": "Accepted", "status": rules.UNKNOWN_STATUS,
            "statusVersion": 0, "connectors": 0, "connectorStatus": {}, "connectorMeter": {},
            "lastSeen": stamp.seen, "lastCallId": stamp.unique_id, "lastAnswer": stamp.answer, **fields}
    if storage.create_charge_point(item, msg.shard):
        return answer
    result = storage.touch_charge_point(stamp, fields)
    if result.outcome == storage.NOT_ACCEPTED:
        return {**answer, "status": "Rejected"}
    return _settle(result, answer, msg.charge_point_id)


def heartbeat(msg: Message) -> dict:
    answer = {"currentTime": msg.seen}
    return _settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)


def authorize(msg: Message) -> dict:
    answer = {"idTagInfo": {"status": msg.settings.id_tag_status(msg.payload["idTag"])}}
    return _settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)


def status_notification(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector, p["status"])
    timestamp = msg.timestamp(p["timestamp"]) if "timestamp" in p else msg.seen
    entry = {"status": p["status"], "errorCode": p["errorCode"], "timestamp": timestamp,
             **{k: p[k] for k in ("info", "vendorErrorCode", "vendorId") if k in p}}
    answer: dict = {}
    stamp = msg.stamp(answer)
    check_seen = True
    for attempt in range(STATUS_ATTEMPTS):
        charge_point = storage.get_charge_point(msg.charge_point_id, consistent=True)
        outcome = storage.classify(charge_point, stamp)
        if outcome in (storage.NOT_ACCEPTED, storage.DUPLICATE):
            return _settle(storage.Result(outcome, charge_point), answer, msg.charge_point_id)
        known = charge_point["connectorStatus"].get(str(connector))
        if known and known["timestamp"] >= timestamp:
            # Older than what is applied: it must not overwrite newer state.
            return _settle(storage.touch_charge_point(stamp), answer, msg.charge_point_id)
        connectors = {**charge_point["connectorStatus"], str(connector): entry}
        sets = {"connectors": connector} if connector > int(charge_point.get("connectors", 0)) else {}
        result = storage.apply_status(stamp, str(connector), entry, rules.charge_point_status(connectors),
                                      charge_point["status"], int(charge_point["statusVersion"]), msg.shard,
                                      sets, check_seen)
        if result.outcome == storage.STALE:
            check_seen = False
        elif result.outcome != storage.CONFLICT:
            return _settle(result, answer, msg.charge_point_id)
        else:
            time.sleep(random.uniform(0, min(0.01 * 2**attempt, 0.5)))
    raise RuntimeError(f"{msg.charge_point_id}: status kept conflicting with concurrent updates")


def start_transaction(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector)
    if connector == 0:
        raise FrameError("PropertyConstraintViolation", "a transaction runs on a connector numbered from 1")
    meter_start = rules.check_register(p["meterStart"], "meterStart")
    timestamp = msg.timestamp(p["timestamp"])
    tag_status = msg.settings.id_tag_status(p["idTag"])
    for attempt in range(MAX_ATTEMPTS):
        transaction = rules.transaction_id(msg.charge_point_id, connector, p["idTag"], meter_start, timestamp, attempt)
        answer = {"transactionId": transaction, "idTagInfo": {"status": tag_status}}
        session = {
            "sessionId": rules.session_id(msg.charge_point_id, transaction), "transactionId": transaction,
            "chargePointId": msg.charge_point_id, "connectorId": connector, "idTag": p["idTag"],
            "idTagStatus": tag_status, "status": "Active", "startTime": timestamp, "meterStart": meter_start,
            "lastRegisterWh": meter_start, "tariff": pricing.tariff_record(msg.settings.tariff),
        }
        result = storage.start_session(session, msg.stamp(answer), msg.shard)
        if result.outcome == storage.APPLIED:
            telemetry.event(log, logging.INFO, "session-started", msg.charge_point_id, msg.call.unique_id,
                            sessionId=session["sessionId"], metrics={"SessionsStarted": 1})
            return answer
        if result.session is None:
            return _settle(result, answer, msg.charge_point_id)
        same = {k: result.session[k] for k in ("connectorId", "idTag", "meterStart", "startTime")}
        if same == {"connectorId": connector, "idTag": p["idTag"], "meterStart": meter_start, "startTime": timestamp}:
            return {"transactionId": transaction, "idTagInfo": {"status": result.session["idTagStatus"]}}
        # Another transaction of this charge point owns this id: try the next one.
    raise FrameError("InternalError", "no free transactionId for this transaction")


def meter_values(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector)
    samples = rules.meter_samples(p["meterValue"], msg.received_at, msg.settings.max_clock_drift_seconds)
    latest = samples[-1]
    energy = rules.latest_energy(samples)
    reading = {k: v for k, v in (("powerW", latest.power_w), ("soc", latest.soc),
                                 ("lastRegisterWh", energy and energy.energy_wh)) if v is not None}
    answer: dict = {}
    stamp = msg.stamp(answer)
    latest_time = ocpp_frames.format_timestamp(latest.timestamp)
    if "transactionId" not in p:
        sets = {f"connectorMeter.{connector}": {**reading, "timestamp": latest_time}}
        return _settle(storage.touch_charge_point(stamp, sets), answer, msg.charge_point_id)
    session_id = rules.session_id(msg.charge_point_id, p["transactionId"])
    register = energy.energy_wh if energy else None
    for _ in range(MAX_ATTEMPTS):
        result = storage.record_meter(session_id, stamp, latest_time, reading, register)
        session = result.session
        if result.outcome != storage.CONFLICT or session is None:
            if result.outcome == storage.MISSING:
                log.warning(json.dumps({"event": "meter-values-unknown-transaction", "chargePointId":
                                        msg.charge_point_id, "messageId": msg.call.unique_id,
                                        "transactionId": p["transactionId"]}))
            return _settle(result, answer, msg.charge_point_id)
        if session["status"] != "Active":
            # Readings newer than the last one applied arrived after the stop: they stay with the session.
            # One at or before it was applied (this is a redelivery) or superseded while the session ran.
            applied_until = session.get("lastMeterTime", "")
            late = [t for t in (ocpp_frames.format_timestamp(s.timestamp) for s in samples) if t > applied_until]
            if late:
                storage.attach_late_samples(session_id, late)
            return answer
        if latest_time <= session.get("lastMeterTime", ""):
            return answer  # an older or repeated reading: already superseded
        if register is not None and register < max(int(session["lastRegisterWh"]), int(session["meterStart"])):
            raise FrameError("PropertyConstraintViolation",
                             f"energy register went down from {int(session['lastRegisterWh'])} to {register} Wh")
    raise RuntimeError(f"{msg.charge_point_id}: meter values kept conflicting with concurrent updates")


def stop_transaction(msg: Message) -> dict:
    p = msg.payload
    timestamp = msg.timestamp(p["timestamp"])
    samples = rules.meter_samples(p.get("transactionData", []), msg.received_at, msg.settings.max_clock_drift_seconds)
    answer = {"idTagInfo": {"status": msg.settings.id_tag_status(p["idTag"])}} if "idTag" in p else {}
    stamp = msg.stamp(answer)
    session_id = rules.session_id(msg.charge_point_id, p["transactionId"])
    for _ in range(MAX_ATTEMPTS):
        session = storage.get_session(session_id, consistent=True)
        if session is None:
            # Acknowledged all the same: refusing makes the charger resend it forever.
            log.warning(json.dumps({"event": "stop-unknown-transaction", "chargePointId": msg.charge_point_id,
                                    "messageId": msg.call.unique_id, "transactionId": p["transactionId"]}))
            result = storage.touch_charge_point(stamp, adds={"unknownStops": {str(p["transactionId"])}})
            return _settle(result, answer, msg.charge_point_id)
        if session["status"] != "Active":
            return answer
        energy = rules.latest_energy(samples)
        last_register = max(int(session["lastRegisterWh"]), energy.energy_wh if energy else 0)
        meter_stop = p["meterStop"]
        energy_wh = rules.stop_energy_wh(int(session["meterStart"]), meter_stop, last_register)
        cost = pricing.session_cost(energy_wh, pricing.tariff_from_record(session["tariff"]))
        sets = {"stopTime": max(timestamp, session["startTime"]), "meterStop": meter_stop, "energyWh": energy_wh,
                "cost": str(cost), "powerW": 0, "lastRegisterWh": last_register,
                **({"stopReason": p["reason"]} if "reason" in p else {})}
        result = storage.complete_session(session_id, stamp, sets, msg.shard, energy_wh, pricing.to_minor_units(cost))
        if result.outcome == storage.APPLIED:  # counted once: a redelivered stop is a DUPLICATE
            telemetry.event(log, logging.INFO, "session-completed", msg.charge_point_id, msg.call.unique_id,
                            sessionId=session_id, metrics={"SessionsCompleted": 1, "EnergyDeliveredWh": energy_wh})
        if result.outcome in (storage.APPLIED, storage.DUPLICATE):
            return answer
        if result.outcome != storage.CONFLICT:
            return _settle(result, answer, msg.charge_point_id)
    raise RuntimeError(f"{msg.charge_point_id}: stop kept conflicting with concurrent updates")


def data_transfer(msg: Message) -> dict:
    p = msg.payload
    if p["vendorId"] != ocpp_frames.INFO_VENDOR_ID:
        answer = {"status": "UnknownVendorId"}
        return _settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    if p.get("messageId") != ocpp_frames.INFO_MESSAGE_ID:
        answer = {"status": "UnknownMessageId"}
        return _settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    try:
        info = rules.charge_point_info(p.get("data", ""))
    except ValueError as error:
        answer = {"status": "Rejected", "data": str(error)}
        return _settle(storage.touch_charge_point(msg.stamp(answer)), answer, msg.charge_point_id)
    answer = {"status": "Accepted"}
    return _settle(storage.touch_charge_point(msg.stamp(answer), info), answer, msg.charge_point_id)


def _notification(field: str) -> Callable[[Message], dict]:
    def record(msg: Message) -> dict:
        answer: dict = {}
        sets = {field: msg.payload["status"], f"{field}Time": msg.seen}
        return _settle(storage.touch_charge_point(msg.stamp(answer), sets), answer, msg.charge_point_id)
    return record


_HANDLERS: dict[str, Callable[[Message], dict]] = {
    "Authorize": authorize,
    "BootNotification": boot_notification,
    "DataTransfer": data_transfer,
    "DiagnosticsStatusNotification": _notification("diagnosticsStatus"),
    "FirmwareStatusNotification": _notification("firmwareStatus"),
    "Heartbeat": heartbeat,
    "MeterValues": meter_values,
    "StartTransaction": start_transaction,
    "StatusNotification": status_notification,
    "StopTransaction": stop_transaction,
}
assert set(_HANDLERS) == ocpp_frames.CHARGER_ACTIONS
