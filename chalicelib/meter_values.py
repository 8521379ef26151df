"""MeterValues: a session's latest register, power and SoC, or a connector's latest reading outside any
known transaction. A bad sample is left out and counted as an anomaly; a register that goes down is not
applied; readings older than the latest applied, or heard after the stop, stay with their session without
moving it (it never reopens). Every count a message makes (anomalies, signed values) is made once however
often it is delivered. A charger a later boot left Pending or Rejected meters none of its sessions
(SecurityError, as for its other messages) until it is Accepted again."""

from __future__ import annotations

import json
import logging

from chalicelib import charging_rules as rules
from chalicelib import meter_history, ocpp_frames, site_loop, storage
from chalicelib.central_message import Message, settle
from chalicelib.signed_values import bounded_signed, keep_signed
from chalicelib.transactions import MAX_ATTEMPTS

log = logging.getLogger("ev.central_system")
# Readings arriving after the stop that a session keeps (their times): beyond this they are counted only.
MAX_LATE_SAMPLE_TIMES = 200
# Late messages whose counts a session remembers (digests in LATE_COUNTED, ~17 bytes each on its item):
# each is counted once however often it comes; beyond this a late message's counts are not kept.
MAX_LATE_COUNTED = 20
LATE_COUNTED = "lateCounted"


def meter_values(msg: Message) -> dict:
    p = msg.payload
    connector = p["connectorId"]
    rules.check_connector(connector)
    samples, anomalies = rules.meter_samples(p["meterValue"], msg.received_at, msg.settings.max_clock_drift_seconds)
    latest = samples[-1]
    register = rules.latest_register_wh(samples)
    reading = {
        k: v
        for k, v in (("powerW", latest.power_w), ("soc", latest.soc), ("lastRegisterWh", register))
        if v is not None
    }
    answer: dict = {}
    stamp = msg.stamp(answer)
    latest_time = ocpp_frames.format_timestamp(latest.timestamp)
    if "transactionId" not in p:
        return _connector_reading(msg, stamp, connector, reading, latest_time, anomalies)
    session_id = rules.session_id(msg.charge_point_id, p["transactionId"])
    signed = bounded_signed(samples, anomalies)
    history, not_kept = meter_history.rows(
        session_id, p["meterValue"], msg.received_at, msg.settings.max_clock_drift_seconds
    )
    anomalies += not_kept
    buffer = meter_history.buffered(history)
    for _ in range(MAX_ATTEMPTS):
        adds = {**rules.anomaly_counts(anomalies), **({"signedValues": len(signed)} if signed else {})}
        sets = {**reading, **rules.anomaly_sets(anomalies), **buffer}
        result = storage.record_meter(session_id, stamp, latest_time, sets, register, adds)
        session = result.session
        if result.outcome == storage.Outcome.APPLIED and session is not None:
            meter_history.flush_if_full(session)
            keep_signed(msg, session_id, signed)
            site_loop.reading(msg.charge_point_id, connector, reading.get("powerW"))
            return answer
        if result.outcome == storage.Outcome.NOT_ACCEPTED:
            return settle(result, answer, msg.charge_point_id)  # SecurityError: nothing is kept
        if result.outcome == storage.Outcome.DUPLICATE:
            # The message last applied, delivered again: nothing new, but its signed values may not have
            # been kept if the first delivery failed right after its update (the items are rewritten alike).
            keep_signed(msg, session_id, signed)
            return answer
        if result.outcome == storage.Outcome.MISSING or session is None:
            # Not a transaction of ours (yet): the reading is still the connector's latest.
            log.warning(
                json.dumps(
                    {
                        "event": "meter-values-unknown-transaction",
                        "chargePointId": msg.charge_point_id,
                        "messageId": msg.call.unique_id,
                        "transactionId": str(p["transactionId"])[:40],
                    }
                )
            )
            return _connector_reading(msg, stamp, connector, reading, latest_time, anomalies)
        if session["status"] != "Active" or latest_time <= session.get("lastMeterTime", ""):
            _keep_unapplied(msg, session, samples, anomalies, signed, history)
            return answer
        if storage.NOT_ACCEPTED_MARK in session:
            # Marked by a boot that left the charger unaccepted; it is Accepted again (NOT_ACCEPTED otherwise).
            storage.clear_not_accepted(session_id, session[storage.NOT_ACCEPTED_MARK])
            continue
        if register is not None and register < max(int(session["lastRegisterWh"]), int(session["meterStart"])):
            anomalies.append(
                rules.Anomaly(
                    "registerWentDown",
                    f"energy register went down from {int(session['lastRegisterWh'])} to {register} Wh",
                )
            )
            reading.pop("lastRegisterWh", None)
            register = None
    raise RuntimeError(f"{msg.charge_point_id}: meter values kept conflicting with concurrent updates")


def refuse_while_not_accepted(charge_point_id: str, charge_point: dict | None = None) -> None:
    """After a boot that left the charger Pending or Rejected: its Active sessions (one per connector, the
    newest its item points to) are marked, so that their readings are refused by the session's own
    condition, as the guard refuses its other messages. 1 GetItem (unless the charge point is given, as
    read after the boot) + 1 UpdateItem per connector with a session. The first reading after it is
    Accepted again removes the mark."""
    charge_point = charge_point or storage.get_charge_point(charge_point_id, consistent=True)
    if charge_point is None or charge_point.get("registration") == "Accepted":
        return
    mark = f"{charge_point['registration']} {charge_point['bootedAt']}"
    for session_id in storage.newest_sessions(charge_point).values():
        storage.mark_not_accepted(session_id, mark)


def _connector_reading(
    msg: Message, stamp: storage.Stamp, connector: int, reading: dict, latest_time: str, anomalies: list[rules.Anomaly]
) -> dict:
    """A reading outside any known transaction: the connector's latest, ordered by its own time."""
    sets = {f"connectorMeter.{connector}": {**reading, "timestamp": latest_time}, **rules.anomaly_sets(anomalies)}
    result = storage.touch_charge_point(
        stamp, sets, rules.anomaly_counts(anomalies), since=(f"connectorMeter.{connector}.timestamp", latest_time)
    )
    return settle(result, {}, msg.charge_point_id)


def _keep_unapplied(
    msg: Message,
    session: dict,
    samples: list[rules.MeterSample],
    anomalies: list[rules.Anomaly],
    signed: list[dict],
    history: list[dict],
) -> None:
    """Readings older than the latest applied, or heard after the stop: they do not move the session
    (it never reopens) but stay with it, in its history, with their anomalies and signed values. After
    the stop only as many as the session keeps late times for (a charger cannot grow a closed session).
    The counts first, once (_count_once), then the rows and signed values, which a redelivery rewrites
    alike: a delivery that fails between the two leaves nothing counted twice or lost."""
    session_id = session["sessionId"]
    applied_until = session.get("lastMeterTime", "")
    kept = history
    if session["status"] != "Active":
        late = [t for t in (ocpp_frames.format_timestamp(s.timestamp) for s in samples) if t > applied_until]
        if late and not storage.attach_late_samples(session_id, late, MAX_LATE_SAMPLE_TIMES):
            anomalies = anomalies + [rules.Anomaly("lateValuesNotKept", f"{len(late)} readings after the stop")]
            kept = [row for row in history if row["timestamp"] <= applied_until]
    adds = {**rules.anomaly_counts(anomalies), **({"signedValues": len(signed)} if signed else {})}
    if adds:
        _count_once(msg, session, history, signed, anomalies, adds)
    storage.keep_history(kept)
    keep_signed(msg, session_id, signed)


def _count_once(
    msg: Message, session: dict, history: list[dict], signed: list[dict], anomalies: list[rules.Anomaly], adds: dict
) -> None:
    """A late message's counts, made once: not when it was applied before (a redelivery after newer
    readings: its readings are in the session's buffer or chunks, or, without a reading, its signed
    values are kept), and not when its digest is among the late messages counted (the conditional update
    that adds it is the one that counts, so two deliveries at once count once)."""
    key = msg.digest[:16]
    if key in session.get(LATE_COUNTED, ()):
        return
    session_id = session["sessionId"]
    if history:
        applied = meter_history.applied(session, history)
    else:
        applied = bool(signed) and storage.signed_values_kept(session_id, [value["digest"] for value in signed])
    if not applied:
        storage.note_session_once(session_id, LATE_COUNTED, key, MAX_LATE_COUNTED, rules.anomaly_sets(anomalies), adds)
