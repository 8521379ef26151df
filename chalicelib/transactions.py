"""Sessions from a charger's transaction messages: StartTransaction and StopTransaction (MeterValues is
meter_values.py).

What a charger reports is kept even when it cannot be applied as it came: a bad sample is left out and
counted as an anomaly of its session, a stop with an unusable clock closes its session at the receive
time, a stop heard before its start waits for it, signed meter values are kept beside the session, and
energy beyond what the charger's power allows is flagged and not billed. One connector has at most one
Active session: a newer start closes the older one.
"""

from __future__ import annotations

import json
import logging

from chalicelib import authorization, meter_history, ocpp_frames, pricing, site_loop, storage, telemetry
from chalicelib import charging_rules as rules
from chalicelib.central_message import Message, not_accepted, settle
from chalicelib.ocpp_frames import FrameError
from chalicelib.signed_values import bounded_signed, keep_signed

log = logging.getLogger("ev.central_system")
MAX_ATTEMPTS = 5
# A charger's stops waiting for their start, kept per charge point (a charger cannot fill the table).
MAX_EARLY_STOPS = 100
# transactionIds this central system gives out (rules.transaction_id): a stop for another cannot be ours.
MAX_TRANSACTION_ID = 2**31 - 1
# Anomalies written out one by one in a kept stop's record (its item must stay far below 400 KB).
MAX_RECORDED_ANOMALIES = 20
# Different stops a closed session keeps (a charger cannot grow a closed session).
MAX_REPORTED_STOPS = 20


def _pointer(connector: int) -> str:
    """The charge point's attribute naming the newest session started on a connector."""
    return f"{storage.SESSION_POINTER}{connector}"


def _storable(value: int | None) -> dict:
    """A charger's meterStop as stored: a number DynamoDB can hold (the anomaly keeps any other)."""
    return {"meterStop": value} if value is not None and abs(value) < 10**20 else {}


# --- StartTransaction ------------------------------------------------------------------------------


def start_transaction(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector)
    if connector == 0:
        raise FrameError("PropertyConstraintViolation", "a transaction runs on a connector numbered from 1")
    meter_start = rules.check_register(p["meterStart"], "meterStart")
    # The start's own time stays strict: the transactionId is derived from it, so a resent start must
    # carry the same time to get the same id.
    timestamp = msg.timestamp(p["timestamp"])
    charge_point = storage.get_charge_point(msg.charge_point_id, consistent=True)
    if charge_point is None or charge_point.get("registration") != "Accepted":
        raise not_accepted(msg.charge_point_id, charge_point)
    decision = authorization.start(msg.settings, p["idTag"], msg.received_at)
    count = (decision.count,) if decision.count else ()
    max_power_w = float(charge_point.get("maxPower", 0)) * 1000 or rules.DEFAULT_MAX_POWER_W
    previous = charge_point.get(_pointer(connector))
    newest = previous is None or previous["startTime"] <= timestamp
    for attempt in range(MAX_ATTEMPTS):
        transaction = rules.transaction_id(msg.charge_point_id, connector, p["idTag"], meter_start, timestamp, attempt)
        answer = {"transactionId": transaction, "idTagInfo": decision.info}
        session_id = rules.session_id(msg.charge_point_id, transaction)
        session = {
            "sessionId": session_id,
            "transactionId": transaction,
            "chargePointId": msg.charge_point_id,
            "connectorId": connector,
            "idTag": p["idTag"],
            "idTagStatus": decision.info["status"],
            "idTagInfo": decision.info,
            **({"idTagCounted": True} if count else {}),
            "status": "Active",
            "startTime": timestamp,
            "meterStart": meter_start,
            "lastRegisterWh": meter_start,
            "tariff": pricing.tariff_record(msg.settings.tariff),
            "maxPowerW": max_power_w,
            **({"siteId": charge_point["siteId"]} if charge_point.get("siteId") else {}),
        }
        sets = {_pointer(connector): {"sessionId": session_id, "startTime": timestamp}} if newest else {}
        early_stop = storage.get_early_stop(session_id) if charge_point.get("unknownStopCount") else None
        if early_stop is not None:
            _start_after_its_stop(msg, session, answer, sets, early_stop, count)
            return answer
        result = storage.start_session(session, msg.stamp(answer), msg.shard, sets, count)
        if result.outcome == storage.Outcome.APPLIED:
            telemetry.event(
                log,
                logging.INFO,
                "session-started",
                msg.charge_point_id,
                msg.call.unique_id,
                sessionId=session_id,
                metrics={"SessionsStarted": 1},
            )
            _one_active_session(msg, session, previous, newest)
            site_loop.session_started(charge_point, session)
            return answer
        if result.session is None:
            if result.outcome == storage.Outcome.CONFLICT and count:
                # The tag's entry changed meanwhile (its last free transaction taken, or deleted): decided again.
                return start_transaction(msg)
            return settle(result, answer, msg.charge_point_id)
        same = {k: result.session[k] for k in ("connectorId", "idTag", "meterStart", "startTime")}
        if same == {"connectorId": connector, "idTag": p["idTag"], "meterStart": meter_start, "startTime": timestamp}:
            info = result.session.get("idTagInfo", {"status": result.session["idTagStatus"]})
            return {"transactionId": transaction, "idTagInfo": info}
        # Another transaction of this charge point owns this id: try the next one.
    raise FrameError("InternalError", "no free transactionId for this transaction")


def _derived(msg: Message, step: str) -> storage.Stamp:
    """The guard for a second write a message makes (closing another session): not a repeat of it."""
    stamp = msg.stamp({})
    return storage.Stamp(stamp.charge_point_id, stamp.unique_id, stamp.seen, stamp.answer, f"{stamp.digest}/{step}")


def _one_active_session(msg: Message, session: dict, previous: dict | None, newest: bool) -> None:
    """One connector, one Active session: the older of the two closes at the newer one's start, with
    its last known energy, flagged."""
    if newest and previous and previous["sessionId"] != session["sessionId"]:
        older = storage.get_session(previous["sessionId"], consistent=True)
        if older is not None and older["status"] == "Active":
            _close_superseded(msg, older, session["startTime"])
    elif not newest and previous is not None:  # not newest: there is a newer one
        _close_superseded(msg, session, previous["startTime"])


def _close_superseded(msg: Message, session: dict, stop_time: str) -> None:
    anomaly = rules.Anomaly(
        "supersededByNewStart", f"closed at {stop_time}: a newer start on connector {int(session['connectorId'])}"
    )
    _complete(
        msg, session, _derived(msg, "closes-older"), stop_time, None, int(session["lastRegisterWh"]), "Other", [anomaly]
    )


def _start_after_its_stop(
    msg: Message, session: dict, answer: dict, sets: dict, stop: dict, count: tuple[dict, ...]
) -> None:
    """The stop heard before this start completes the session now."""
    result = storage.start_session(session, msg.stamp(answer), msg.shard, sets, count)
    if result.outcome != storage.Outcome.APPLIED:
        settle(result, answer, msg.charge_point_id)  # refused or conflicting: raises
        return  # a resent start: its session exists, its stop was applied
    anomalies = [rules.Anomaly("stopBeforeStart", f"its stop arrived at {stop['receivedAt']}, before its start")]
    anomalies += [rules.Anomaly(reason, detail) for reason, detail in stop.get("anomalies", [])]
    last_register = max(int(stop.get("lastRegisterWh", 0)), int(session["meterStart"]))
    meter_stop = int(stop["meterStop"]) if "meterStop" in stop else None
    _complete(
        msg,
        session,
        _derived(msg, "early-stop"),
        max(stop["timestamp"], session["startTime"]),
        meter_stop,
        last_register,
        stop["reason"],
        anomalies,
        {"soc": stop["soc"]} if "soc" in stop else {},
    )
    storage.forget_early_stop(msg.charge_point_id, session["sessionId"])


# --- a connector's session ------------------------------------------------------------------------


def connector_stopped_charging(charge_point: dict, connector: int) -> None:
    """A connector that leaves Charging delivers no power: its session shows 0 until a reading says more."""
    known = charge_point["connectorStatus"].get(str(connector), {})
    pointer = charge_point.get(_pointer(connector))
    if known.get("status") == "Charging" and pointer:
        storage.note_session(pointer["sessionId"], {"powerW": 0})


# --- StopTransaction -------------------------------------------------------------------------------


def stop_transaction(msg: Message) -> dict:
    p = msg.payload
    moment, anomalies = rules.usable_time(
        p["timestamp"], msg.received_at, msg.settings.max_clock_drift_seconds, "timestamp"
    )
    timestamp = ocpp_frames.format_timestamp(moment)
    samples, sample_anomalies = rules.meter_samples(
        p.get("transactionData", []), msg.received_at, msg.settings.max_clock_drift_seconds
    )
    anomalies += sample_anomalies
    register = rules.latest_register_wh(samples)
    socs = [s.soc for s in samples if s.soc is not None]
    signed = bounded_signed(samples, anomalies)
    facts = {"soc": socs[-1]} if socs else {}
    reason = p.get("reason", "Local")  # OCPP 1.6: an omitted reason means Local
    answer = {"idTagInfo": authorization.stop_info(msg.settings, p["idTag"], msg.received_at)} if "idTag" in p else {}
    stamp = msg.stamp(answer)
    transaction = p["transactionId"]
    session_id = rules.session_id(msg.charge_point_id, transaction)
    history, not_kept = meter_history.rows(
        session_id, p.get("transactionData", []), msg.received_at, msg.settings.max_clock_drift_seconds
    )
    anomalies += not_kept
    for _ in range(MAX_ATTEMPTS):
        session = storage.get_session(session_id, consistent=True)
        if session is None:
            # Acknowledged all the same: refusing makes the charger resend it forever.
            log.warning(
                json.dumps(
                    {
                        "event": "stop-unknown-transaction",
                        "chargePointId": msg.charge_point_id,
                        "messageId": msg.call.unique_id,
                        "transactionId": str(transaction)[:40],
                    }
                )
            )
            record = {
                "chargePointId": msg.charge_point_id,
                "transactionId": transaction,
                "timestamp": timestamp,
                "reason": reason,
                "receivedAt": msg.seen,
                "lastRegisterWh": register or 0,
                "anomalies": [[a.reason, a.detail] for a in anomalies[:MAX_RECORDED_ANOMALIES]],
                **facts,
                **_storable(p["meterStop"]),
            }
            keep_signed(msg, session_id, signed)
            return _keep_early_stop(msg, stamp, answer, session_id, record)
        if session["status"] != "Active":
            _stop_after_close(session, p, timestamp, reason)
            return answer
        last_register = max(int(session["lastRegisterWh"]), register or 0)
        result = _complete(
            msg,
            session,
            stamp,
            max(timestamp, session["startTime"]),
            p["meterStop"],
            last_register,
            reason,
            anomalies,
            facts,
            len(signed),
        )
        if result.outcome in (storage.Outcome.APPLIED, storage.Outcome.DUPLICATE):
            keep_signed(msg, session_id, signed)
            storage.keep_history(history)
            if result.outcome == storage.Outcome.APPLIED:
                site_loop.session_stopped(session)
            return answer
        if result.outcome != storage.Outcome.CONFLICT:
            return settle(result, answer, msg.charge_point_id)
    raise RuntimeError(f"{msg.charge_point_id}: stop kept conflicting with concurrent updates")


def _complete(
    msg: Message,
    session: dict,
    stamp: storage.Stamp,
    stop_time: str,
    meter_stop: int | None,
    last_register: int,
    reason: str,
    anomalies: list[rules.Anomaly],
    facts: dict | None = None,
    signed: int = 0,
) -> storage.Result:
    """Close an Active session: bill the plausible energy at the tariff fixed at its start."""
    session_id = session["sessionId"]
    plausible = rules.plausible_energy_wh(
        session["startTime"], stop_time, float(session.get("maxPowerW", rules.DEFAULT_MAX_POWER_W))
    )
    energy_wh, energy_anomalies = rules.stop_energy_wh(int(session["meterStart"]), meter_stop, last_register, plausible)
    anomalies = anomalies + energy_anomalies
    cost = pricing.session_cost(energy_wh, pricing.tariff_from_record(session["tariff"]))
    sets = {
        "stopTime": stop_time,
        "energyWh": energy_wh,
        "cost": str(cost),
        "powerW": 0,
        "lastRegisterWh": last_register,
        "stopReason": reason,
        **_storable(meter_stop),
        **rules.anomaly_sets(anomalies),
        **(facts or {}),
    }
    adds = {**rules.anomaly_counts(anomalies), **({"signedValues": signed} if signed else {})}
    result = storage.complete_session(
        session_id,
        stamp,
        sets,
        msg.shard,
        energy_wh,
        pricing.to_minor_units(cost),
        adds,
        authorization.completion_count(session),
    )
    if result.outcome == storage.Outcome.APPLIED:  # counted once: a redelivered stop is a DUPLICATE
        telemetry.event(
            log,
            logging.INFO,
            "session-completed",
            msg.charge_point_id,
            msg.call.unique_id,
            sessionId=session_id,
            metrics={"SessionsCompleted": 1, "EnergyDeliveredWh": energy_wh},
        )
    return result


def _stop_after_close(session: dict, p: dict, timestamp: str, reason: str) -> None:
    """A stop for a session already closed (a redelivery, or after a newer start closed it): a different
    one is kept beside the session (its totals stay: they were counted when it closed), the latest as
    reportedStop, each counted once however often it comes (a redelivered older one is no new fact)."""
    reported = {"meterStop": str(p["meterStop"])[:40], "timestamp": timestamp, "reason": reason}
    if session.get("reportedStop") == reported or (
        session.get("stopTime") == timestamp and session.get("meterStop") == p["meterStop"]
    ):
        return
    anomaly = rules.Anomaly(
        "stopAfterClose",
        f"a stop at {timestamp} with meterStop {reported['meterStop']} Wh arrived after the session was closed",
    )
    storage.note_session_once(
        session["sessionId"],
        "reportedStops",
        f"{timestamp} {reported['meterStop']} {reason}",
        MAX_REPORTED_STOPS,
        {"reportedStop": reported, **rules.anomaly_sets([anomaly])},
        rules.anomaly_counts([anomaly]),
    )


def _keep_early_stop(msg: Message, stamp: storage.Stamp, answer: dict, session_id: str, record: dict) -> dict:
    """A stop for a transaction not started here (yet): kept until its start arrives, within bounds."""
    if not isinstance(record["transactionId"], int) or not 1 <= record["transactionId"] <= MAX_TRANSACTION_ID:
        # Not an id this central system gives out: it can never start here. Counted only.
        return settle(storage.touch_charge_point(stamp, adds={"unknownStopsNotKept": 1}), answer, msg.charge_point_id)
    result = storage.keep_early_stop(stamp, session_id, record, MAX_EARLY_STOPS)
    if result.outcome == storage.Outcome.CONFLICT:  # this charger's kept stops are at their bound
        result = storage.touch_charge_point(stamp, adds={"unknownStopsNotKept": 1})
    return settle(result, answer, msg.charge_point_id)
