"""Charging sessions: started, metered and completed under the guard on their charge point, with the
fleet counters in the same transaction; notes that change no totals; signed values kept beside them;
the listing."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.guard import Outcome, Result, Stamp, refusal, write_guarded
from chalicelib.storage.operations import (
    Page,
    batch_get,
    batch_write,
    conditional_update,
    get_item,
    query_page,
    transact,
    update_if,
    updated_if,
)
from chalicelib.storage.stats import stats_update

SESSION_FLEET = "session"
# A session whose charger a later boot left Pending or Rejected carries this mark ("<registration>
# <bootedAt>"): its readings are refused until the charger is Accepted again (meter_values).
NOT_ACCEPTED_MARK = "chargerNotAccepted"


def get_session(session_id: str, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    return get_item(tables().sessions, {"sessionId": session_id}, consistent)


def get_sessions(session_ids: list[str]) -> list[dict]:
    """Sessions by id, the unknown left out, in no particular order: 1 BatchGetItem (up to 100)."""
    keys = [to_item({"sessionId": session_id}) for session_id in session_ids]
    return batch_get(tables().sessions, keys)


def session_and_charge_point(
    session_id: str, charge_point_id: str, also: str | None = None
) -> tuple[dict | None, dict | None, dict | None]:
    """Both items (and the sessions table's item `also`, when given) in 1 BatchGetItem (strongly
    consistent), to explain a failed transaction."""
    names = tables()
    keys = [to_item({"sessionId": session_id})] + ([to_item({"sessionId": also})] if also else [])
    response = client().batch_get_item(
        RequestItems={
            names.sessions: {"Keys": keys, "ConsistentRead": True},
            names.charge_points: {"Keys": [to_item({"chargePointId": charge_point_id})], "ConsistentRead": True},
        }
    )
    found = response.get("Responses", {})
    sessions = {item["sessionId"]["S"]: from_item(item) for item in found.get(names.sessions, [])}
    charge_point = next((from_item(item) for item in found.get(names.charge_points, [])), None)
    return sessions.get(session_id), charge_point, sessions.get(also) if also else None


def start_session(
    session: dict, stamp: Stamp, shard: int, sets: dict | None = None, also: tuple[dict, ...] = ()
) -> Result:
    """A new Active session, the guard (with `sets` on the charge point), the active-sessions counter and
    the transaction items `also` (its idTag's count): 1 TransactWriteItems. When the session exists
    already (a resent StartTransaction) it comes back in the Result; when only an item of `also` refused,
    the outcome is CONFLICT."""
    item = {
        **session,
        "fleet": SESSION_FLEET,
        "startKey": f"{session['startTime']}#{session['sessionId']}",
        "chargePointStatus": f"{session['chargePointId']}#Active",
    }
    put = {
        "Put": {
            "TableName": tables().sessions,
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(sessionId)",
        }
    }
    counter = {"Update": stats_update(shard, {"activeSessions": 1})}

    def explain(check_seen: bool) -> Result:
        existing, charge_point, _ = session_and_charge_point(session["sessionId"], stamp.charge_point_id)
        if existing is not None:
            return Result(Outcome.DUPLICATE, charge_point, existing)
        return Result(refusal(charge_point, stamp, check_seen), charge_point)

    return write_guarded(stamp, lambda guard: transact([put, {"Update": guard}, counter, *also]), explain, sets=sets)


def record_meter(
    session_id: str,
    stamp: Stamp,
    sample_time: str,
    sets: dict,
    register_wh: int | None,
    adds: dict | None = None,
) -> Result:
    """Latest meter reading of an Active session, the message's readings buffered on it (in `sets`):
    1 UpdateItem, no guard on the charge point (a session exists only for a charger Accepted when it
    started, and one a later boot left unaccepted is marked: NOT_ACCEPTED_MARK). The conditions keep
    readings in time order and the register rising, so a repeat is refused too; the refusal is explained
    with 1 BatchGetItem of the session and its charge point (NOT_ACCEPTED: the charger is not Accepted;
    DUPLICATE: the message last applied, by its digest; CONFLICT, with both items: anything else).
    Applied, the session comes back as written: the writer sees its buffer."""
    expr = Expression()
    last_time = expr.name("lastMeterTime")
    condition = (
        f"{expr.name('status')} = {expr.value('Active')}"
        f" AND (attribute_not_exists({last_time}) OR {last_time} < {expr.value(sample_time)})"
        f" AND attribute_not_exists({expr.name(NOT_ACCEPTED_MARK)})"
    )
    if register_wh is not None:
        condition += (
            f" AND {expr.name('lastRegisterWh')} <= {expr.value(register_wh)}"
            f" AND {expr.name('meterStart')} <= {expr.value(register_wh)}"
        )
    # Half the message's digest tells a repeat of the last message applied: the item stays small.
    call_digest = stamp.digest[:16]
    if call_digest:
        # A repeat whose time is its receive time (the charger's clock unusable) would be newer every time.
        last_call = expr.name("lastMeterCall")
        condition += f" AND (attribute_not_exists({last_call}) OR {last_call} <> {expr.value(call_digest)})"
    update = expr.update({**sets, "lastMeterTime": sample_time, "lastMeterCall": call_digest}, adds)
    args = conditional_update(
        tables().sessions, {"sessionId": session_id}, expr, update, condition, ReturnValues="ALL_NEW"
    )
    written = updated_if(args)
    if written is not None:
        return Result(Outcome.APPLIED, session=from_item(written))
    session, charge_point, _ = session_and_charge_point(session_id, stamp.charge_point_id)
    if session is None:
        return Result(Outcome.MISSING, charge_point)
    if charge_point is None or charge_point.get("registration") != "Accepted":
        return Result(Outcome.NOT_ACCEPTED, charge_point, session)
    repeat = call_digest and session.get("lastMeterCall") == call_digest
    return Result(Outcome.DUPLICATE if repeat else Outcome.CONFLICT, charge_point, session)


def mark_not_accepted(session_id: str, mark: str) -> bool:
    """An Active session's charger is no longer Accepted: its readings are refused while the mark is on
    it. 1 UpdateItem; False when the session is not Active (nothing to refuse)."""
    expr = Expression()
    condition = f"{expr.name('status')} = {expr.value('Active')}"
    return update_if(
        conditional_update(
            tables().sessions, {"sessionId": session_id}, expr, expr.update({NOT_ACCEPTED_MARK: mark}), condition
        )
    )


def clear_not_accepted(session_id: str, mark: str) -> bool:
    """The mark removed, if it is still this one (a newer unaccepted boot's mark stays): 1 UpdateItem."""
    expr = Expression()
    name = expr.name(NOT_ACCEPTED_MARK)
    condition = f"{name} = {expr.value(mark)}"
    return update_if(
        conditional_update(tables().sessions, {"sessionId": session_id}, expr, f"REMOVE {name}", condition)
    )


def attach_late_samples(session_id: str, sample_times: list[str], max_kept: int) -> bool:
    """Readings that arrive after the stop stay with their session without reopening it. A string set,
    so a duplicate delivery adds nothing, of at most max_kept times: 1 UpdateItem. False when full."""
    expr = Expression()
    late = expr.name("lateSampleTimes")
    update = f"ADD {late} {expr.value(set(sample_times))}"
    condition = f"attribute_not_exists({late}) OR size({late}) < {expr.value(max_kept)}"
    return update_if(conditional_update(tables().sessions, {"sessionId": session_id}, expr, update, condition))


def note_session(session_id: str, sets: dict | None = None, adds: dict | None = None) -> None:
    """Facts about an existing session that change none of its totals (anomalies, a stop heard after it
    was closed): 1 UpdateItem."""
    expr = Expression()
    client().update_item(
        TableName=tables().sessions,
        Key=to_item({"sessionId": session_id}),
        UpdateExpression=expr.update(sets, adds),
        ConditionExpression="attribute_exists(sessionId)",
        **expr.args(),
    )


def note_session_once(session_id: str, kept: str, key: str, max_kept: int, sets: dict, adds: dict) -> bool:
    """Facts about an existing session from a message that may come again, noted once: `key` joins the
    string set `kept` with them, unless the set holds it already or holds max_kept keys: 1 UpdateItem.
    False when nothing was written."""
    expr = Expression()
    held = expr.name(kept)
    condition = (
        f"attribute_exists({expr.name('sessionId')}) AND NOT contains({held}, {expr.value(key)})"
        f" AND (attribute_not_exists({held}) OR size({held}) < {expr.value(max_kept)})"
    )
    update = expr.update(sets, {**adds, kept: {key}})
    return update_if(conditional_update(tables().sessions, {"sessionId": session_id}, expr, update, condition))


def complete_session(
    session_id: str,
    stamp: Stamp,
    sets: dict,
    shard: int,
    energy_wh: int,
    revenue_minor: int,
    adds: dict | None = None,
    also: tuple[dict, ...] = (),
) -> Result:
    """Active -> Completed with the guard, the fleet totals and the transaction items `also` (its idTag's
    count): 1 TransactWriteItems. DUPLICATE when the session is no longer Active (or missing)."""
    expr = Expression()
    session_update = {
        "Update": {
            "TableName": tables().sessions,
            "Key": to_item({"sessionId": session_id}),
            "UpdateExpression": expr.update(
                {**sets, "status": "Completed", "chargePointStatus": f"{stamp.charge_point_id}#Completed"}, adds
            ),
            "ConditionExpression": f"{expr.name('status')} = {expr.value('Active')}",
            **expr.args(),
        }
    }
    totals = {"activeSessions": -1, "completedSessions": 1, "energyWh": energy_wh, "revenueMinor": revenue_minor}
    counters = {"Update": stats_update(shard, totals)}

    def explain(check_seen: bool) -> Result:
        session, charge_point, _ = session_and_charge_point(session_id, stamp.charge_point_id)
        if session is None or session["status"] != "Active":
            return Result(Outcome.DUPLICATE, charge_point, session)
        return Result(refusal(charge_point, stamp, check_seen), charge_point, session)

    return write_guarded(stamp, lambda guard: transact([session_update, {"Update": guard}, counters, *also]), explain)


def keep_signed_values(session_id: str, values: list[dict]) -> None:
    """Signed meter values (a verifier may need them), each in its own item beside the session, out of
    the session's item and every index; an item per value so a redelivery rewrites the same items:
    1 TransactWriteItems (up to 100 values)."""
    items = [{**value, "sessionId": f"signed#{session_id}#{value['digest']}"} for value in values]
    transact([{"Put": {"TableName": tables().sessions, "Item": to_item(item)}} for item in items])


def signed_values_kept(session_id: str, digests: list[str]) -> bool:
    """Whether every one of these signed values is kept beside the session: 1 BatchGetItem (strongly
    consistent, up to 100)."""
    keys = [to_item({"sessionId": f"signed#{session_id}#{digest}"}) for digest in set(digests)]
    return len(batch_get(tables().sessions, keys, consistent=True)) == len(keys)


def list_sessions(
    limit: int, start: dict | None, status: str | None = None, charge_point_id: str | None = None
) -> Page:
    """A page of sessions, newest first: 1 Query + 1 BatchGetItem; never a Scan."""
    if charge_point_id and status:
        # One charger's sessions of one status have their own index key: full pages, no filtering.
        index, partition = "chargepoint-status-index", ("chargePointStatus", f"{charge_point_id}#{status}")
    elif charge_point_id:
        index, partition = "chargepoint-index", ("chargePointId", charge_point_id)
    elif status:
        index, partition = "status-index", ("status", status)
    else:
        index, partition = "fleet-index", ("fleet", SESSION_FLEET)
    return query_page(tables().sessions, index, partition, "sessionId", limit, start, newest_first=True)


def completed_sessions(
    first_stop: str, last_stop: str, page_size: int, after: tuple[str, str] | None = None
) -> Iterator[dict]:
    """Every Completed session whose stopTime is in [first_stop, last_stop] (both included), oldest stop
    first: 1 Query + 1 BatchGetItem per page of page_size (at most 100); never a Scan. One page is held at
    a time: the previous page is let go before the next is read, whatever the range holds. after: the
    (stopTime, sessionId) of a session to resume after (excluded), as an export's next step does.

    The index is sparse (only a completed session has a stopTime) and has one partition, "Completed", as
    status-index has: a completion writes one ~100-byte index entry, so the partition's ceiling (1,000
    writes/s) is ~86 million completions a day. Day buckets would not spread that (today's bucket takes every
    write) and would cost a Query per day of the range even where it is empty."""
    start = None if after is None else to_item({"status": "Completed", "stopTime": after[0], "sessionId": after[1]})
    while True:
        page = query_page(
            tables().sessions,
            "completed-index",
            ("status", "Completed"),
            "sessionId",
            page_size,
            start,
            newest_first=False,
            between=("stopTime", first_stop, last_stop),
        )
        start = page.last_key
        yield from page.items
        del page
        if start is None:
            return


def load_sessions(items: list[dict]) -> None:
    """Session items written as they are, in BatchWriteItem calls of 25: a bulk load that bypasses the
    central system (scripts/benchmark.py builds 100,000 stored sessions with it)."""
    batch_write(tables().sessions, [{"PutRequest": {"Item": to_item(item)}} for item in items])
