"""DynamoDB: the only module that talks to it.

Every write that applies an OCPP message carries a *guard* on the charge point item: the charge point is
accepted, the message is not older than the last one heard (lastSeen) and is not a repeat of the last
call (same lastCallId and the same action and payload: lastCallDigest; chargers restart their uniqueId
counter on reconnect, so an id alone proves nothing). The duplicate check therefore costs no extra request;
only a write whose condition fails is followed by a read, to tell why. Request counts per operation are in the docstrings and are
pinned by tests/test_request_budget.py.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from chalicelib import settings as settings_module

RESOURCES_FILE = Path(__file__).resolve().parents[1] / ".chalice" / "resources.json"
# Logical id in resources.json -> the Settings attribute holding the table's name.
TABLES = {
    "ChargePointsTable": "charge_points_table",
    "SessionsTable": "sessions_table",
    "SimulatorTable": "simulator_table",
    "StatsTable": "stats_table",
    "CommandsTable": "commands_table",
}
CHARGE_POINT_FLEET = "chargepoint"
SESSION_FLEET = "session"

APPLIED, DUPLICATE, STALE, NOT_ACCEPTED, CONFLICT, MISSING, SUPERSEDED = (
    "applied",
    "duplicate",
    "stale",
    "not-accepted",
    "conflict",
    "missing",
    "superseded",
)
# A stop heard before its transaction's start is kept in the sessions table under this prefix + the
# session id: outside every index (it has none of their keys) and out of the hot charge point item.
EARLY_STOP_PREFIX = "stop#"


class ValueRefused(Exception):
    """DynamoDB refused a value or an item as invalid (number range, item size): retrying cannot help."""


_lock = threading.Lock()
_client: Any = None


def client() -> Any:
    """The DynamoDB client, created on first use. boto3 itself honours AWS_ENDPOINT_URL and
    AWS_ENDPOINT_URL_DYNAMODB, which is how local mode and the tests point it elsewhere."""
    global _client
    with _lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            _client = boto3.client(
                "dynamodb",
                config=Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10),
            )
        return _client


def reset_client() -> None:
    """Forget the client (tests that switch backends)."""
    global _client
    with _lock:
        _client = None


@contextmanager
def counting_requests() -> Iterator[Counter]:
    """Count the DynamoDB requests made while inside, by operation name, at the client (before each
    call is sent): how tests/test_request_budget.py and scripts/benchmark.py hold the counts above."""
    counts: Counter = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    hooks = client().meta.events
    hooks.register("before-call.dynamodb", count)
    try:
        yield counts
    finally:
        hooks.unregister("before-call.dynamodb", count)


def _names() -> settings_module.Settings:
    return settings_module.get()


# --- (de)serialisation --------------------------------------------------------------------------


def _to_attr(value: Any) -> dict:
    from decimal import DecimalException

    from boto3.dynamodb.types import TypeSerializer

    try:
        return TypeSerializer().serialize(_decimals(value))
    except DecimalException as error:  # beyond DynamoDB's 38 digits or its exponent range
        raise ValueRefused(f"a number DynamoDB cannot store: {type(error).__name__}") from None


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimals(v) for v in value]
    return value


def to_item(values: dict) -> dict:
    return {k: _to_attr(v) for k, v in values.items()}


def from_item(item: dict | None) -> dict | None:
    if item is None:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


class _Expression:
    """Builds expression attribute names and values, so callers never juggle placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict] = {}

    def name(self, path: str) -> str:
        parts = []
        for segment in path.split("."):
            placeholder = f"#n{len(self.names)}"
            self.names[placeholder] = segment
            parts.append(placeholder)
        return ".".join(parts)

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = _to_attr(value)
        return placeholder

    def update(self, sets: dict[str, Any] | None = None, adds: dict[str, Any] | None = None) -> str:
        clauses = []
        if sets:
            clauses.append("SET " + ", ".join(f"{self.name(k)} = {self.value(v)}" for k, v in sets.items()))
        if adds:
            clauses.append("ADD " + ", ".join(f"{self.name(k)} {self.value(v)}" for k, v in adds.items()))
        return " ".join(clauses)

    def args(self) -> dict:
        args: dict[str, Any] = {"ExpressionAttributeNames": self.names}
        if self.values:
            args["ExpressionAttributeValues"] = self.values
        return args


# --- the guard on the charge point ----------------------------------------------------------------


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
    outcome: str
    charge_point: dict | None = None
    session: dict | None = None


def _guarded_charge_point_update(
    stamp: Stamp,
    sets: dict | None = None,
    adds: dict | None = None,
    check_seen: bool = True,
    since: tuple[str, str] | None = None,
    booting: bool = False,
) -> dict:
    """The guard as an UpdateItem. `since` = (attribute path, time): the fact is written only when newer
    than the one stored there. A boot may change the registration, so it only needs the item to exist."""
    expr = _Expression()
    all_sets = {
        "lastSeen": stamp.seen,
        "lastCallId": stamp.unique_id,
        "lastCallDigest": stamp.digest,
        "lastAnswer": stamp.answer,
        **(sets or {}),
    }
    if not check_seen:
        del all_sets["lastSeen"]
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
    if since:
        path = expr.name(since[0])
        condition += f" AND (attribute_not_exists({path}) OR {path} < {expr.value(since[1])})"
    return {
        "TableName": _names().charge_points_table,
        "Key": to_item({"chargePointId": stamp.charge_point_id}),
        "UpdateExpression": expr.update(all_sets, adds),
        "ConditionExpression": condition,
        **expr.args(),
    }


def classify(charge_point: dict | None, stamp: Stamp, booting: bool = False) -> str:
    """Why a guarded write on this charge point failed (or APPLIED when the guard itself holds)."""
    if charge_point is None or (charge_point.get("registration") != "Accepted" and not booting):
        return NOT_ACCEPTED
    if (charge_point.get("lastCallId"), charge_point.get("lastCallDigest")) == (stamp.unique_id, stamp.digest):
        return DUPLICATE
    if charge_point.get("lastSeen", "") > stamp.seen:
        return STALE
    return APPLIED


def _update_if(args: dict) -> bool:
    """One conditional UpdateItem: False when its condition does not hold."""
    return _updated_if(args) is not None


def _updated_if(args: dict) -> dict | None:
    """One conditional UpdateItem: the attributes it returns (per its ReturnValues), None when its
    condition does not hold."""
    from botocore.exceptions import ClientError

    try:
        return client().update_item(**args).get("Attributes", {})
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ValidationException":
            raise ValueRefused(error.response["Error"].get("Message", code)) from None
        if code != "ConditionalCheckFailedException":
            raise
        return None


def touch_charge_point(
    stamp: Stamp,
    sets: dict | None = None,
    adds: dict | None = None,
    since: tuple[str, str] | None = None,
    booting: bool = False,
) -> Result:
    """Record a message on the charge point: 1 UpdateItem; +1 GetItem when the guard fails. A message
    older than the last one heard still stores its facts, without moving lastSeen (+1 UpdateItem): the
    bus and racing HTTP clients do not keep order, and an acknowledged fact is never dropped. SUPERSEDED
    when the fact at `since` is newer than this one."""
    if _update_if(_guarded_charge_point_update(stamp, sets, adds, since=since, booting=booting)):
        return Result(APPLIED)
    charge_point = get_charge_point(stamp.charge_point_id, consistent=True)
    outcome = classify(charge_point, stamp, booting)
    if outcome == STALE and (sets or adds):
        if _update_if(_guarded_charge_point_update(stamp, sets, adds, False, since, booting)):
            return Result(APPLIED)
        charge_point = get_charge_point(stamp.charge_point_id, consistent=True)
        outcome = classify(charge_point, stamp, booting)
    if outcome in (APPLIED, STALE) and since:
        outcome = SUPERSEDED
    return Result(outcome, charge_point)


def _stats_key(shard: int) -> dict:
    return to_item({"shard": shard})


def _stats_update(shard: int, adds: dict[str, int]) -> dict:
    expr = _Expression()
    return {
        "TableName": _names().stats_table,
        "Key": _stats_key(shard),
        "UpdateExpression": expr.update(adds=adds),
        **expr.args(),
    }


def add_to_stats(shard: int, adds: dict[str, int]) -> None:
    """Bump counters on one shard: 1 UpdateItem."""
    client().update_item(**_stats_update(shard, adds))


def _transact(items: list[dict]) -> bool:
    """TransactWriteItems: True when written, False when a condition failed. Conflicts with a
    concurrent transaction on the same items are retried (1 request each time)."""
    from botocore.exceptions import ClientError

    for attempt in range(8):
        try:
            client().transact_write_items(TransactItems=items)
            return True
        except ClientError as error:
            code = error.response["Error"]["Code"]
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if code == "ValidationException" or "ValidationError" in reasons:
                raise ValueRefused(error.response["Error"].get("Message", code)) from None
            if code == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                return False
            if code not in ("TransactionCanceledException", "TransactionConflictException"):
                raise
            if not reasons and code == "TransactionCanceledException":
                return False
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise RuntimeError("transaction kept conflicting with concurrent writes")


# --- charge points -------------------------------------------------------------------------------


def get_charge_point(charge_point_id: str, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    response = client().get_item(
        TableName=_names().charge_points_table,
        Key=to_item({"chargePointId": charge_point_id}),
        ConsistentRead=consistent,
    )
    return from_item(response.get("Item"))


def _credentials_key(charge_point_id: str) -> dict:
    """A charger's password hash lives in an item of its own in the charge points table, so that it can
    be set before the charger's first boot (which creates the charge point item) and is never part of
    the charge point the API shows. '#' cannot occur in a charge point id, and the item has none of the
    indexes' keys, so no listing ever sees it."""
    return to_item({"chargePointId": f"credentials#{charge_point_id}"})


def get_password_hash(charge_point_id: str) -> str | None:
    """1 GetItem (strongly consistent: a new password works at once)."""
    response = client().get_item(
        TableName=_names().charge_points_table, Key=_credentials_key(charge_point_id), ConsistentRead=True
    )
    return (from_item(response.get("Item")) or {}).get("passwordHash")


def put_password_hash(charge_point_id: str, password_hash: str, set_at: str) -> None:
    """1 PutItem."""
    item = {**_credentials_key(charge_point_id), **to_item({"passwordHash": password_hash, "passwordSetAt": set_at})}
    client().put_item(TableName=_names().charge_points_table, Item=item)


def create_charge_point(item: dict, shard: int) -> bool:
    """A charge point's first accepted boot: the item and the fleet counters in 1 TransactWriteItems.
    False when it exists already."""
    item = {**item, "fleet": CHARGE_POINT_FLEET, "shard": shard}
    return _transact(
        [
            {
                "Put": {
                    "TableName": _names().charge_points_table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(chargePointId)",
                }
            },
            {"Update": _stats_update(shard, {"totalChargePoints": 1, f"status_{item['status']}": 1})},
        ]
    )


def apply_status(
    stamp: Stamp,
    connector: str,
    entry: dict,
    new_status: str,
    old_status: str,
    version: int,
    shard: int,
    sets: dict | None = None,
    check_seen: bool = True,
) -> Result:
    """A connector status change, with the charge point's status and the status counters moved in the
    same TransactWriteItems (1 request; a plain UpdateItem when the charge point's status stays).
    Optimistic on statusVersion: CONFLICT tells the caller to read again and retry."""
    update = _guarded_charge_point_update(
        stamp,
        {f"connectorStatus.{connector}": entry, "status": new_status, "statusVersion": version + 1, **(sets or {})},
        check_seen=check_seen,
    )
    expr_names, expr_values = update["ExpressionAttributeNames"], update["ExpressionAttributeValues"]
    expr_names["#sv"] = "statusVersion"
    expr_values[":sv"] = _to_attr(version)
    update["ConditionExpression"] += " AND #sv = :sv"
    counters = {f"status_{old_status}": -1, f"status_{new_status}": 1}
    if (
        _update_if(update)
        if new_status == old_status
        else _transact([{"Update": update}, {"Update": _stats_update(shard, counters)}])
    ):
        return Result(APPLIED)
    charge_point = get_charge_point(stamp.charge_point_id, consistent=True)
    outcome = classify(charge_point, stamp)
    return Result(CONFLICT if outcome == APPLIED else outcome, charge_point)


# --- sessions ------------------------------------------------------------------------------------


def get_session(session_id: str, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    response = client().get_item(
        TableName=_names().sessions_table, Key=to_item({"sessionId": session_id}), ConsistentRead=consistent
    )
    return from_item(response.get("Item"))


def _session_and_charge_point(
    session_id: str, charge_point_id: str, with_early_stop: bool = False
) -> tuple[dict | None, dict | None, dict | None]:
    """Both items (and a stop kept for the session) in 1 BatchGetItem (strongly consistent), to explain a
    failed transaction."""
    names = _names()
    keys = [to_item({"sessionId": session_id})]
    if with_early_stop:
        keys.append(to_item({"sessionId": EARLY_STOP_PREFIX + session_id}))
    response = client().batch_get_item(
        RequestItems={
            names.sessions_table: {"Keys": keys, "ConsistentRead": True},
            names.charge_points_table: {"Keys": [to_item({"chargePointId": charge_point_id})], "ConsistentRead": True},
        }
    )
    found = response.get("Responses", {})
    sessions = {item["sessionId"]["S"]: from_item(item) for item in found.get(names.sessions_table, [])}
    charge_point = next(iter(found.get(names.charge_points_table, [])), None)
    return sessions.get(session_id), from_item(charge_point), sessions.get(EARLY_STOP_PREFIX + session_id)


def start_session(session: dict, stamp: Stamp, shard: int, sets: dict | None = None) -> Result:
    """A new Active session, the guard (with `sets` on the charge point) and the active-sessions counter:
    1 TransactWriteItems. When the session exists already (a resent StartTransaction) it comes back in the
    Result."""
    item = {
        **session,
        "fleet": SESSION_FLEET,
        "startKey": f"{session['startTime']}#{session['sessionId']}",
        "chargePointStatus": f"{session['chargePointId']}#Active",
    }
    for check_seen in (True, False):
        written = _transact(
            [
                {
                    "Put": {
                        "TableName": _names().sessions_table,
                        "Item": to_item(item),
                        "ConditionExpression": "attribute_not_exists(sessionId)",
                    }
                },
                {"Update": _guarded_charge_point_update(stamp, sets, check_seen=check_seen)},
                {"Update": _stats_update(shard, {"activeSessions": 1})},
            ]
        )
        if written:
            return Result(APPLIED)
        existing, charge_point, _ = _session_and_charge_point(session["sessionId"], stamp.charge_point_id)
        if existing is not None:
            return Result(DUPLICATE, charge_point, existing)
        outcome = classify(charge_point, stamp)
        if outcome != STALE:
            return Result(CONFLICT if outcome == APPLIED else outcome, charge_point)
    return Result(CONFLICT)


def get_early_stop(session_id: str) -> dict | None:
    """The stop kept for a session not started yet, unless already applied: 1 GetItem."""
    kept = get_session(EARLY_STOP_PREFIX + session_id, consistent=True)
    return None if kept is None or kept.get("applied") else kept


def keep_early_stop(stamp: Stamp, session_id: str, record: dict, max_kept: int) -> Result:
    """A stop for a transaction not (yet) started here, kept in its own item until its start arrives, and
    counted on the charge point: 1 TransactWriteItems (+1 BatchGetItem when refused). At most max_kept per
    charge point are kept (a charger cannot fill the table): beyond that CONFLICT, and the caller only
    counts it. DUPLICATE when this stop is already kept."""
    expr_count = "unknownStopCount"
    update = _guarded_charge_point_update(stamp, check_seen=False, adds={expr_count: 1})
    update["ExpressionAttributeNames"]["#usc"] = expr_count
    update["ExpressionAttributeValues"][":usc"] = _to_attr(max_kept)
    update["ConditionExpression"] += " AND (attribute_not_exists(#usc) OR #usc < :usc)"
    item = {**record, "sessionId": EARLY_STOP_PREFIX + session_id}
    if _transact(
        [
            {
                "Put": {
                    "TableName": _names().sessions_table,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(sessionId)",
                }
            },
            {"Update": update},
        ]
    ):
        return Result(APPLIED)
    _, charge_point, kept = _session_and_charge_point(session_id, stamp.charge_point_id, with_early_stop=True)
    outcome = classify(charge_point, stamp)
    if outcome in (DUPLICATE, NOT_ACCEPTED):
        return Result(outcome, charge_point, kept)
    if kept is not None:  # the same stop, resent with another uniqueId
        return Result(SUPERSEDED, charge_point, kept)
    return Result(CONFLICT, charge_point)


def forget_early_stop(charge_point_id: str, session_id: str) -> None:
    """The kept stop, once applied to its session, marked applied (it stays as the record of what the charger
    sent) and no longer counted against the charger's bound: 1 TransactWriteItems."""
    stop, charge_point = _Expression(), _Expression()
    _transact(
        [
            {
                "Update": {
                    "TableName": _names().sessions_table,
                    "Key": to_item({"sessionId": EARLY_STOP_PREFIX + session_id}),
                    "UpdateExpression": stop.update({"applied": True}),
                    "ConditionExpression": f"attribute_exists(sessionId) AND attribute_not_exists({stop.name('applied')})",
                    **stop.args(),
                }
            },
            {
                "Update": {
                    "TableName": _names().charge_points_table,
                    "Key": to_item({"chargePointId": charge_point_id}),
                    "UpdateExpression": charge_point.update(adds={"unknownStopCount": -1}),
                    **charge_point.args(),
                }
            },
        ]
    )


def keep_signed_values(session_id: str, values: list[dict]) -> None:
    """Signed meter values (a verifier may need them), each in its own item beside the session, out of
    the session's item and every index; an item per value so a redelivery rewrites the same items:
    1 TransactWriteItems (up to 100 values)."""
    items = [{**value, "sessionId": f"signed#{session_id}#{value['digest']}"} for value in values]
    _transact([{"Put": {"TableName": _names().sessions_table, "Item": to_item(item)}} for item in items])


def record_meter(
    session_id: str, stamp: Stamp, sample_time: str, sets: dict, register_wh: int | None, adds: dict | None = None
) -> Result:
    """Latest meter reading of an Active session with the guard: 1 TransactWriteItems. The conditions keep
    readings in time order and the register rising; a failure is explained with 1 BatchGetItem."""
    expr = _Expression()
    last_time = expr.name("lastMeterTime")
    condition = (
        f"{expr.name('status')} = {expr.value('Active')}"
        f" AND (attribute_not_exists({last_time}) OR {last_time} < {expr.value(sample_time)})"
    )
    if register_wh is not None:
        condition += (
            f" AND {expr.name('lastRegisterWh')} <= {expr.value(register_wh)}"
            f" AND {expr.name('meterStart')} <= {expr.value(register_wh)}"
        )
    session_update = {
        "TableName": _names().sessions_table,
        "Key": to_item({"sessionId": session_id}),
        "UpdateExpression": expr.update({**sets, "lastMeterTime": sample_time}, adds),
        "ConditionExpression": condition,
        **expr.args(),
    }
    for check_seen in (True, False):
        if _transact(
            [{"Update": session_update}, {"Update": _guarded_charge_point_update(stamp, check_seen=check_seen)}]
        ):
            return Result(APPLIED)
        session, charge_point, _ = _session_and_charge_point(session_id, stamp.charge_point_id)
        outcome = classify(charge_point, stamp)
        if outcome != STALE:
            return Result(
                outcome if outcome != APPLIED else MISSING if session is None else CONFLICT, charge_point, session
            )
    return Result(CONFLICT, charge_point, session)


def attach_late_samples(session_id: str, sample_times: list[str], max_kept: int) -> bool:
    """Readings that arrive after the stop stay with their session without reopening it. A string set,
    so a duplicate delivery adds nothing, of at most max_kept times: 1 UpdateItem. False when full."""
    expr = _Expression()
    late = expr.name("lateSampleTimes")
    return _update_if(
        {
            "TableName": _names().sessions_table,
            "Key": to_item({"sessionId": session_id}),
            "UpdateExpression": f"ADD {late} {expr.value(set(sample_times))}",
            "ConditionExpression": f"attribute_not_exists({late}) OR size({late}) < {expr.value(max_kept)}",
            **expr.args(),
        }
    )


def note_session(session_id: str, sets: dict | None = None, adds: dict | None = None) -> None:
    """Facts about an existing session that change none of its totals (anomalies, a stop heard after it
    was closed): 1 UpdateItem."""
    expr = _Expression()
    client().update_item(
        TableName=_names().sessions_table,
        Key=to_item({"sessionId": session_id}),
        UpdateExpression=expr.update(sets, adds),
        ConditionExpression="attribute_exists(sessionId)",
        **expr.args(),
    )


def complete_session(
    session_id: str, stamp: Stamp, sets: dict, shard: int, energy_wh: int, revenue_minor: int, adds: dict | None = None
) -> Result:
    """Active -> Completed with the guard and the fleet totals: 1 TransactWriteItems."""
    expr = _Expression()
    session_update = {
        "TableName": _names().sessions_table,
        "Key": to_item({"sessionId": session_id}),
        "UpdateExpression": expr.update(
            {**sets, "status": "Completed", "chargePointStatus": f"{stamp.charge_point_id}#Completed"}, adds
        ),
        "ConditionExpression": f"{expr.name('status')} = {expr.value('Active')}",
        **expr.args(),
    }
    totals = {"activeSessions": -1, "completedSessions": 1, "energyWh": energy_wh, "revenueMinor": revenue_minor}
    for check_seen in (True, False):
        if _transact(
            [
                {"Update": session_update},
                {"Update": _guarded_charge_point_update(stamp, check_seen=check_seen)},
                {"Update": _stats_update(shard, totals)},
            ]
        ):
            return Result(APPLIED)
        session, charge_point, _ = _session_and_charge_point(session_id, stamp.charge_point_id)
        if session is None or session["status"] != "Active":
            return Result(DUPLICATE, charge_point, session)
        outcome = classify(charge_point, stamp)
        if outcome != STALE:
            return Result(CONFLICT if outcome == APPLIED else outcome, charge_point, session)
    return Result(CONFLICT)


# --- statistics ----------------------------------------------------------------------------------


def read_stats(shards: int) -> dict[str, int]:
    """The fleet's counters summed over every shard: 1 BatchGetItem (up to 100 shards)."""
    table = _names().stats_table
    keys = [_stats_key(shard) for shard in range(shards)]
    totals: dict[str, int] = {}
    while keys:
        response = client().batch_get_item(RequestItems={table: {"Keys": keys}})
        for item in response.get("Responses", {}).get(table, []):
            for name, value in from_item(item).items():
                if name != "shard":
                    totals[name] = totals.get(name, 0) + int(value)
        keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return totals


# --- listing: Query on an index, then the page's items in one BatchGetItem ------------------------


@dataclass
class Page:
    items: list[dict]
    last_key: dict | None = None


def _query_keys(
    table: str, index: str, partition: tuple[str, str], limit: int, start: dict | None, newest_first: bool
) -> tuple[list[dict], dict | None]:
    expr = _Expression()
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "Limit": limit,
        "ScanIndexForward": not newest_first,
        "KeyConditionExpression": f"{expr.name(partition[0])} = {expr.value(partition[1])}",
    }
    if start:
        args["ExclusiveStartKey"] = start
    response = client().query(**args, **expr.args())
    return response.get("Items", []), response.get("LastEvaluatedKey")


def _batch_get(table: str, key_name: str, keys: list[dict]) -> list[dict]:
    """Full items for index keys, in the index's order: 1 BatchGetItem for a page of up to 100."""
    wanted = [{key_name: k[key_name]} for k in keys]
    found: dict[str, dict] = {}
    pending = wanted
    while pending:
        response = client().batch_get_item(RequestItems={table: {"Keys": pending}})
        for item in response.get("Responses", {}).get(table, []):
            found[item[key_name]["S"]] = item
        pending = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return [from_item(found[k[key_name]["S"]]) for k in wanted if k[key_name]["S"] in found]


def list_charge_points(limit: int, start: dict | None, status: str | None = None) -> Page:
    """A page of charge points by id: 1 Query + 1 BatchGetItem; never a Scan."""
    table = _names().charge_points_table
    partition = ("status", status) if status else ("fleet", CHARGE_POINT_FLEET)
    index = "status-index" if status else "fleet-index"
    keys, last = _query_keys(table, index, partition, limit, start, newest_first=False)
    return Page(_batch_get(table, "chargePointId", keys) if keys else [], last)


def list_sessions(
    limit: int, start: dict | None, status: str | None = None, charge_point_id: str | None = None
) -> Page:
    """A page of sessions, newest first: 1 Query + 1 BatchGetItem; never a Scan."""
    table = _names().sessions_table
    if charge_point_id:
        # One charger's sessions of one status have their own index key: full pages, no filtering.
        index, partition = (
            ("chargepoint-status-index", ("chargePointStatus", f"{charge_point_id}#{status}"))
            if status
            else ("chargepoint-index", ("chargePointId", charge_point_id))
        )
        keys, last = _query_keys(table, index, partition, limit, start, newest_first=True)
    elif status:
        keys, last = _query_keys(table, "status-index", ("status", status), limit, start, newest_first=True)
    else:
        keys, last = _query_keys(table, "fleet-index", ("fleet", SESSION_FLEET), limit, start, newest_first=True)
    return Page(_batch_get(table, "sessionId", keys) if keys else [], last)


# --- the simulator's own memory ------------------------------------------------------------------


def load_simulator_items(keys: Iterable[str]) -> dict[str, dict]:
    """Simulator items by pk, in BatchGetItem calls of 100 keys."""
    table = _names().simulator_table
    pending = [to_item({"pk": key}) for key in dict.fromkeys(keys)]
    found: dict[str, dict] = {}
    while pending:
        chunk, pending = pending[:100], pending[100:]
        while chunk:
            response = client().batch_get_item(RequestItems={table: {"Keys": chunk, "ConsistentRead": True}})
            for item in response.get("Responses", {}).get(table, []):
                loaded = from_item(item)
                found[loaded["pk"]] = loaded
            chunk = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def save_simulator_items(puts: list[dict], deletes: Iterable[str] = ()) -> None:
    """Writes and deletes in BatchWriteItem calls of 25, re-sending what DynamoDB left unprocessed."""
    requests = [{"PutRequest": {"Item": to_item(item)}} for item in puts]
    requests += [{"DeleteRequest": {"Key": to_item({"pk": key})}} for key in deletes]
    _batch_write(_names().simulator_table, requests)


def load_sessions(items: list[dict]) -> None:
    """Session items written as they are, in BatchWriteItem calls of 25: a bulk load that bypasses the
    central system (scripts/benchmark.py builds 100,000 stored sessions with it)."""
    _batch_write(_names().sessions_table, [{"PutRequest": {"Item": to_item(item)}} for item in items])


def _batch_write(table: str, requests: list[dict]) -> None:
    attempt = 0
    while requests:
        chunk, requests = requests[:25], requests[25:]
        response = client().batch_write_item(RequestItems={table: chunk})
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        if unprocessed:
            requests = unprocessed + requests
            attempt += 1
            time.sleep(min(0.05 * 2**attempt, 2))


def put_simulator_item(item: dict) -> None:
    """1 PutItem."""
    client().put_item(TableName=_names().simulator_table, Item=to_item(item))


def acquire_lease(name: str, holder: str, now_epoch: float, seconds: float) -> bool:
    """A lease so that two simulator ticks never run at once: 1 conditional UpdateItem."""
    expr = _Expression()
    return _update_if(
        {
            "TableName": _names().simulator_table,
            "Key": to_item({"pk": name}),
            "UpdateExpression": expr.update({"holder": holder, "until": Decimal(str(now_epoch + seconds))}),
            "ConditionExpression": (
                f"attribute_not_exists({expr.name('until')}) OR "
                f"{expr.name('until')} < {expr.value(Decimal(str(now_epoch)))}"
            ),
            **expr.args(),
        }
    )


def wait_on_lease(name: str, member: str, now_epoch: float) -> bool:
    """Leave member for the lease's holder to serve before it lets go (see release_lease): 1 conditional
    UpdateItem. False when nobody holds the lease (any more): then take it instead."""
    expr = _Expression()
    return _update_if(
        {
            "TableName": _names().simulator_table,
            "Key": to_item({"pk": name}),
            "UpdateExpression": expr.update(adds={"waiting": {member}}),
            "ConditionExpression": f"{expr.name('until')} >= {expr.value(Decimal(str(now_epoch)))}",
            **expr.args(),
        }
    )


def release_lease(name: str, holder: str) -> list[str]:
    """Give the lease back, unless members wait on it: then it stays held and they are returned, taken off
    the list, for the holder to serve before it tries again. Nothing when the lease expired and another
    holder has it now. 1 conditional UpdateItem; +1 UpdateItem when members wait."""
    expr = _Expression()
    if _update_if(
        {
            "TableName": _names().simulator_table,
            "Key": to_item({"pk": name}),
            "UpdateExpression": expr.update({"until": Decimal(0)}),
            "ConditionExpression": f"{expr.name('holder')} = {expr.value(holder)}"
            f" AND attribute_not_exists({expr.name('waiting')})",
            **expr.args(),
        }
    ):
        return []
    expr = _Expression()
    taken = _updated_if(
        {
            "TableName": _names().simulator_table,
            "Key": to_item({"pk": name}),
            "ReturnValues": "UPDATED_OLD",
            "UpdateExpression": f"REMOVE {expr.name('waiting')}",
            "ConditionExpression": f"{expr.name('holder')} = {expr.value(holder)}",
            **expr.args(),
        }
    )
    return sorted(from_item(taken or {}).get("waiting", ()))


def give_up_lease(name: str, holder: str) -> None:
    """Give the lease back whatever waits on it (after a failure: the next holder serves them): 1 UpdateItem."""
    expr = _Expression()
    _update_if(
        {
            "TableName": _names().simulator_table,
            "Key": to_item({"pk": name}),
            "UpdateExpression": expr.update({"until": Decimal(0)}),
            "ConditionExpression": f"{expr.name('holder')} = {expr.value(holder)}",
            **expr.args(),
        }
    )


# --- WebSocket connections and remote commands ---------------------------------------------------


def set_online(charge_point_id: str, online: bool, seen: str, connection_id: str, gateway_id: str = "") -> bool:
    """A charger's WebSocket connected (online, with the gateway and connection that hold it) or closed:
    1 UpdateItem, +1 when a newer lastSeen is already recorded (lastSeen never goes back: it guards
    every write). Only a registered charge point is marked, and a disconnect only counts for the
    connection it ends, so a charger that already reconnected stays online. False when nothing changed."""
    for with_seen in (True, False):
        expr = _Expression()
        sets: dict[str, Any] = {"online": online, **({"lastSeen": seen} if with_seen else {})}
        if online:
            sets.update(connectionId=connection_id, gatewayId=gateway_id)
        condition = f"attribute_exists({expr.name('chargePointId')})"
        if not online:
            condition += f" AND {expr.name('connectionId')} = {expr.value(connection_id)}"
        if with_seen:
            condition += f" AND {expr.name('lastSeen')} <= {expr.value(seen)}"
        if _update_if(
            {
                "TableName": _names().charge_points_table,
                "Key": to_item({"chargePointId": charge_point_id}),
                "UpdateExpression": expr.update(sets),
                "ConditionExpression": condition,
                **expr.args(),
            }
        ):
            return True
    return False


def create_command(command: dict, connection_id: str, stale_before: str) -> bool:
    """Queue a command in the outbox of the gateway holding the charger's socket, and take the charger's
    single slot for an outstanding command, in 1 TransactWriteItems. The slot is free when empty or
    when its command is older than stale_before (timed out). False when the charger is not connected
    on connection_id or its slot is taken."""
    expr = _Expression()
    slot, created = expr.name("pendingCommand"), expr.name("createdAt")
    condition = (
        f"{expr.name('online')} = {expr.value(True)} AND {expr.name('connectionId')} = {expr.value(connection_id)}"
        f" AND (attribute_not_exists({slot}) OR {slot}.{created} < {expr.value(stale_before)})"
    )
    update = {
        "TableName": _names().charge_points_table,
        "Key": to_item({"chargePointId": command["chargePointId"]}),
        "UpdateExpression": f"SET {slot} = {expr.value({'commandId': command['commandId'], 'createdAt': command['createdAt']})}",
        "ConditionExpression": condition,
        **expr.args(),
    }
    return _transact(
        [
            {
                "Put": {
                    "TableName": _names().commands_table,
                    "Item": to_item(command),
                    "ConditionExpression": "attribute_not_exists(commandId)",
                }
            },
            {"Update": update},
        ]
    )


def get_command(charge_point_id: str, command_id: str) -> dict | None:
    """1 GetItem (strongly consistent: a command's state changes within seconds)."""
    response = client().get_item(
        TableName=_names().commands_table,
        ConsistentRead=True,
        Key=to_item({"chargePointId": charge_point_id, "commandId": command_id}),
    )
    return from_item(response.get("Item"))


def outbox(gateway_id: str, limit: int = 100) -> list[dict]:
    """Commands waiting to be sent by this gateway: 1 Query on the sparse outbox index."""
    expr = _Expression()
    response = client().query(
        TableName=_names().commands_table,
        IndexName="outbox-index",
        Limit=limit,
        KeyConditionExpression=f"{expr.name('outbox')} = {expr.value(gateway_id)}",
        **expr.args(),
    )
    return [from_item(item) for item in response.get("Items", [])]


def update_command(charge_point_id: str, command_id: str, sets: dict, only_if_queued: bool = False) -> bool:
    """Move a pending command on (sent, answered, failed, timed out) and out of the outbox: 1 conditional
    UpdateItem. False when it is no longer pending (or, with only_if_queued, already sent)."""
    expr = _Expression()
    outbox_name = expr.name("outbox")
    condition = f"{expr.name('status')} = {expr.value('pending')}"
    if only_if_queued:
        condition += f" AND attribute_exists({outbox_name})"
    return _update_if(
        {
            "TableName": _names().commands_table,
            "Key": to_item({"chargePointId": charge_point_id, "commandId": command_id}),
            "UpdateExpression": f"{expr.update(sets)} REMOVE {outbox_name}",
            "ConditionExpression": condition,
            **expr.args(),
        }
    )


def release_command_slot(charge_point_id: str, command_id: str) -> bool:
    """Free the charger's outstanding-command slot if this command still holds it: 1 UpdateItem."""
    expr = _Expression()
    slot = expr.name("pendingCommand")
    return _update_if(
        {
            "TableName": _names().charge_points_table,
            "Key": to_item({"chargePointId": charge_point_id}),
            "UpdateExpression": f"REMOVE {slot}",
            "ConditionExpression": f"{slot}.{expr.name('commandId')} = {expr.value(command_id)}",
            **expr.args(),
        }
    )


# --- tables, from the one declaration in .chalice/resources.json ---------------------------------


@dataclass
class TableSpec:
    logical_id: str
    name: str
    definition: dict = field(default_factory=dict)


def table_specs() -> list[TableSpec]:
    """CreateTable arguments for every table declared in resources.json, named per the settings."""
    resources = json.loads(RESOURCES_FILE.read_text())["Resources"]
    names = _names()
    specs = []
    for logical_id, attribute in TABLES.items():
        props = resources[logical_id]["Properties"]
        definition = {key: props[key] for key in ("AttributeDefinitions", "KeySchema", "BillingMode") if key in props}
        if "GlobalSecondaryIndexes" in props:
            definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        specs.append(TableSpec(logical_id, getattr(names, attribute), definition))
    return specs


def ensure_tables() -> list[str]:
    """Create the declared tables that do not exist yet; returns the names it created."""
    existing = set()
    for page in client().get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    created = []
    for spec in table_specs():
        if spec.name in existing:
            continue
        client().create_table(TableName=spec.name, **spec.definition)
        client().get_waiter("table_exists").wait(TableName=spec.name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        created.append(spec.name)
    return created


def ping() -> None:
    """1 GetItem (eventually consistent, 0.5 read unit) of a key no item has: raises unless the charge
    points table answers this process (the gateway's health check)."""
    client().get_item(TableName=_names().charge_points_table, Key=to_item({"chargePointId": "health#probe"}))
