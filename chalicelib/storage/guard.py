"""The guard on the charge point that every write applying an OCPP message carries, and the outcomes that
tell why a guarded write was refused.

The guard: the charge point is accepted, the message is not older than the last one heard (lastSeen) and
is not a repeat of the last call (same lastCallId and the same action and payload: lastCallDigest;
chargers restart their uniqueId counter on reconnect, so an id alone proves nothing). The duplicate check
therefore costs no extra request; only a write whose condition fails is followed by a read, to tell why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chalicelib.storage.dynamo import Expression, tables, to_item


class Outcome(Enum):
    """What became of a guarded write."""

    APPLIED = "applied"
    DUPLICATE = "duplicate"  # a repeat of the last call (or of what the item already holds)
    STALE = "stale"  # older than the last message heard from the charge point
    NOT_ACCEPTED = "not-accepted"  # the charge point is unknown or not Accepted
    CONFLICT = "conflict"  # the guard held, another condition did not (a concurrent change, a bound)
    MISSING = "missing"  # the item the message is about does not exist
    SUPERSEDED = "superseded"  # a newer fact of the same kind is stored already


@dataclass(frozen=True)
class Stamp:
    """Who sent the message being applied, its uniqueId, when it was heard, and the answer it gets."""

    charge_point_id: str
    unique_id: str
    seen: str
    answer: str
    digest: str = ""


@dataclass
class Result:
    outcome: Outcome
    charge_point: dict | None = None
    session: dict | None = None


def guarded_update(
    stamp: Stamp,
    sets: dict | None = None,
    adds: dict | None = None,
    check_seen: bool = True,
    below: tuple[str, Any] | None = None,
    equals: dict[str, Any] | None = None,
    booting: bool = False,
) -> dict:
    """The guard as UpdateItem arguments on the charge point, with `sets` and `adds`. Without check_seen
    lastSeen is neither a condition nor moved. `below` = (attribute path, value): written only while the
    attribute is absent or below the value (a fact newer than the one stored, a count under its bound);
    `equals`: attributes that must hold these values. A boot may change the registration, so it only
    needs the item to exist."""
    expr = Expression()
    all_sets = {
        **({"lastSeen": stamp.seen} if check_seen else {}),
        "lastCallId": stamp.unique_id,
        "lastCallDigest": stamp.digest,
        "lastAnswer": stamp.answer,
        **(sets or {}),
    }
    condition = (
        f"attribute_exists({expr.name('chargePointId')})"
        if booting
        else f"{expr.name('registration')} = {expr.value('Accepted')}"
    )
    condition += (
        f" AND NOT ({expr.name('lastCallId')} = {expr.value(stamp.unique_id)}"
        f" AND {expr.name('lastCallDigest')} = {expr.value(stamp.digest)})"
    )
    if check_seen:
        condition += f" AND {expr.name('lastSeen')} <= {expr.value(stamp.seen)}"
    if below:
        path = expr.name(below[0])
        condition += f" AND (attribute_not_exists({path}) OR {path} < {expr.value(below[1])})"
    for name, value in (equals or {}).items():
        condition += f" AND {expr.name(name)} = {expr.value(value)}"
    return {
        "TableName": tables().charge_points,
        "Key": to_item({"chargePointId": stamp.charge_point_id}),
        "UpdateExpression": expr.update(all_sets, adds),
        "ConditionExpression": condition,
        **expr.args(),
    }


def classify(charge_point: dict | None, stamp: Stamp, booting: bool = False, check_seen: bool = True) -> Outcome:
    """Why a guarded write on this charge point failed (or APPLIED when the guard itself holds)."""
    if charge_point is None or (charge_point.get("registration") != "Accepted" and not booting):
        return Outcome.NOT_ACCEPTED
    if (charge_point.get("lastCallId"), charge_point.get("lastCallDigest")) == (stamp.unique_id, stamp.digest):
        return Outcome.DUPLICATE
    if check_seen and charge_point.get("lastSeen", "") > stamp.seen:
        return Outcome.STALE
    return Outcome.APPLIED


def refusal(
    charge_point: dict | None, stamp: Stamp, check_seen: bool = True, otherwise: Outcome = Outcome.CONFLICT
) -> Outcome:
    """Why a guarded write failed: the guard's outcome, or `otherwise` when the guard holds (so another
    of the write's conditions failed)."""
    outcome = classify(charge_point, stamp, check_seen=check_seen)
    return otherwise if outcome is Outcome.APPLIED else outcome


def write_guarded(
    stamp: Stamp,
    write: Callable[[dict], bool],
    explain: Callable[[bool], Result],
    retry_stale: bool = True,
    **guard: Any,
) -> Result:
    """`write` (an UpdateItem or a transaction) given the guard's arguments (`guard`: see guarded_update).
    When it fails, `explain(check_seen)` reads why (+1 read). A message refused only as STALE is written
    again without moving lastSeen (+1 write, and +1 read when that fails too): the bus and racing HTTP
    clients do not keep order, and an acknowledged fact is never dropped."""
    if write(guarded_update(stamp, **guard)):
        return Result(Outcome.APPLIED)
    result = explain(True)
    if result.outcome is not Outcome.STALE or not retry_stale:
        return result
    if write(guarded_update(stamp, check_seen=False, **guard)):
        return Result(Outcome.APPLIED)
    return explain(False)
