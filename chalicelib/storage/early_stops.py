"""Stops heard before their transaction's start. Each is kept in the sessions table under EARLY_STOP_PREFIX
+ the session id: outside every index (it has none of their keys) and out of the hot charge point item,
which only counts them (unknownStopCount), so that a charger cannot fill the table."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, tables, to_item
from chalicelib.storage.guard import Outcome, Result, Stamp, classify, write_guarded
from chalicelib.storage.operations import transact
from chalicelib.storage.sessions import get_session, session_and_charge_point

EARLY_STOP_PREFIX = "stop#"


def get_early_stop(session_id: str) -> dict | None:
    """The stop kept for a session not started yet, unless already applied: 1 GetItem."""
    kept = get_session(EARLY_STOP_PREFIX + session_id, consistent=True)
    return None if kept is None or kept.get("applied") else kept


def keep_early_stop(stamp: Stamp, session_id: str, record: dict, max_kept: int) -> Result:
    """A stop for a transaction not (yet) started here, kept in its own item until its start arrives, and
    counted on the charge point: 1 TransactWriteItems (+1 BatchGetItem when refused; +1 of each again when
    older than the last message heard, written without moving lastSeen). At most max_kept per charge point
    are kept: beyond that CONFLICT, and the caller only counts it. DUPLICATE when this stop is already kept."""
    kept_id = EARLY_STOP_PREFIX + session_id
    put = {
        "Put": {
            "TableName": tables().sessions,
            "Item": to_item({**record, "sessionId": kept_id}),
            "ConditionExpression": "attribute_not_exists(sessionId)",
        }
    }

    def explain(check_seen: bool) -> Result:
        _, charge_point, kept = session_and_charge_point(session_id, stamp.charge_point_id, also=kept_id)
        outcome = classify(charge_point, stamp, check_seen=check_seen)
        if outcome in (Outcome.DUPLICATE, Outcome.NOT_ACCEPTED, Outcome.STALE):
            return Result(outcome, charge_point, kept)
        if kept is not None:  # the same stop, resent with another uniqueId
            return Result(Outcome.SUPERSEDED, charge_point, kept)
        return Result(Outcome.CONFLICT, charge_point)

    return write_guarded(
        stamp,
        lambda count: transact([put, {"Update": count}]),
        explain,
        adds={"unknownStopCount": 1},
        below=("unknownStopCount", max_kept),
    )


def forget_early_stop(charge_point_id: str, session_id: str) -> None:
    """The kept stop, once applied to its session, marked applied (it stays as the record of what the charger
    sent) and no longer counted against the charger's bound: 1 TransactWriteItems."""
    stop, charge_point = Expression(), Expression()
    applied = stop.name("applied")
    transact(
        [
            {
                "Update": {
                    "TableName": tables().sessions,
                    "Key": to_item({"sessionId": EARLY_STOP_PREFIX + session_id}),
                    "UpdateExpression": stop.update({"applied": True}),
                    "ConditionExpression": f"attribute_exists(sessionId) AND attribute_not_exists({applied})",
                    **stop.args(),
                }
            },
            {
                "Update": {
                    "TableName": tables().charge_points,
                    "Key": to_item({"chargePointId": charge_point_id}),
                    "UpdateExpression": charge_point.update(adds={"unknownStopCount": -1}),
                    **charge_point.args(),
                }
            },
        ]
    )
