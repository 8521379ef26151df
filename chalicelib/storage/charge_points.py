"""Charge points: the item every OCPP message is applied to (under the guard), its credentials, its
WebSocket connection, and the listing."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.dynamo import Expression, client, tables, to_item
from chalicelib.storage.guard import Outcome, Result, Stamp, classify, guarded_update, refusal, write_guarded
from chalicelib.storage.operations import (
    Page,
    batch_get,
    conditional_update,
    get_item,
    query_page,
    transact,
    update_if,
)
from chalicelib.storage.stats import stats_update

CHARGE_POINT_FLEET = "chargepoint"
# The charge point's attribute naming the newest session started on a connector: session_<connectorId>.
SESSION_POINTER = "session_"


def newest_sessions(charge_point: dict) -> dict[int, str]:
    """Each connector's newest session id, from the charge point item's pointers (active or not)."""
    return {
        int(name.removeprefix(SESSION_POINTER)): value["sessionId"]
        for name, value in charge_point.items()
        if name.startswith(SESSION_POINTER) and isinstance(value, dict)
    }


def get_charge_point(charge_point_id: str, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    return get_item(tables().charge_points, {"chargePointId": charge_point_id}, consistent)


def _credentials_key(charge_point_id: str) -> dict:
    """A charger's password hash lives in an item of its own in the charge points table, so that it can
    be set before the charger's first boot (which creates the charge point item) and is never part of
    the charge point the API shows. '#' cannot occur in a charge point id, and the item has none of the
    indexes' keys, so no listing ever sees it."""
    return {"chargePointId": f"credentials#{charge_point_id}"}


def get_password_hash(charge_point_id: str) -> str | None:
    """1 GetItem (strongly consistent: a new password works at once)."""
    return (get_item(tables().charge_points, _credentials_key(charge_point_id), consistent=True) or {}).get(
        "passwordHash"
    )


def put_password_hash(charge_point_id: str, password_hash: str, set_at: str) -> None:
    """1 PutItem."""
    item = {**_credentials_key(charge_point_id), "passwordHash": password_hash, "passwordSetAt": set_at}
    client().put_item(TableName=tables().charge_points, Item=to_item(item))


def create_charge_point(item: dict, shard: int) -> bool:
    """A charge point's first accepted boot: the item and the fleet counters in 1 TransactWriteItems.
    False when it exists already."""
    item = {**item, "fleet": CHARGE_POINT_FLEET, "shard": shard}
    return transact(
        [
            {
                "Put": {
                    "TableName": tables().charge_points,
                    "Item": to_item(item),
                    "ConditionExpression": "attribute_not_exists(chargePointId)",
                }
            },
            {"Update": stats_update(shard, {"totalChargePoints": 1, f"status_{item['status']}": 1})},
        ]
    )


def touch_charge_point(
    stamp: Stamp,
    sets: dict | None = None,
    adds: dict | None = None,
    since: tuple[str, str] | None = None,
    booting: bool = False,
) -> Result:
    """Record a message on the charge point: 1 UpdateItem; +1 GetItem when the guard fails. A message
    older than the last one heard still stores its facts, without moving lastSeen (+1 UpdateItem, +1
    GetItem when that fails too). `since` = (attribute path, time): the facts are written only when newer
    than the time stored there, else SUPERSEDED (the guard held, so that is why it failed)."""

    def explain(check_seen: bool) -> Result:
        charge_point = get_charge_point(stamp.charge_point_id, consistent=True)
        outcome = classify(charge_point, stamp, booting, check_seen)
        return Result(Outcome.SUPERSEDED if since and outcome is Outcome.APPLIED else outcome, charge_point)

    return write_guarded(
        stamp, update_if, explain, bool(sets or adds), sets=sets, adds=adds, below=since, booting=booting
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
    same TransactWriteItems (1 request; a plain UpdateItem when the charge point's status stays); +1
    GetItem when refused. Optimistic on statusVersion: CONFLICT tells the caller to read again and retry."""
    update = guarded_update(
        stamp,
        {f"connectorStatus.{connector}": entry, "status": new_status, "statusVersion": version + 1, **(sets or {})},
        check_seen=check_seen,
        equals={"statusVersion": version},
    )
    counters = {f"status_{old_status}": -1, f"status_{new_status}": 1}
    if (
        update_if(update)
        if new_status == old_status
        else transact([{"Update": update}, {"Update": stats_update(shard, counters)}])
    ):
        return Result(Outcome.APPLIED)
    charge_point = get_charge_point(stamp.charge_point_id, consistent=True)
    return Result(refusal(charge_point, stamp, check_seen), charge_point)


def set_online(charge_point_id: str, online: bool, seen: str, connection_id: str, gateway_id: str = "") -> bool:
    """A charger's WebSocket connected (online, with the gateway and connection that hold it) or closed:
    1 UpdateItem, +1 when it fails (a newer lastSeen is recorded: lastSeen never goes back, it guards
    every write). Only a registered charge point is marked, and a disconnect only counts for the
    connection it ends, so a charger that already reconnected stays online. False when nothing changed."""

    def update(with_seen: bool) -> dict:
        expr = Expression()
        sets: dict[str, Any] = {"online": online, **({"lastSeen": seen} if with_seen else {})}
        if online:
            sets.update(connectionId=connection_id, gatewayId=gateway_id)
        condition = f"attribute_exists({expr.name('chargePointId')})"
        if not online:
            condition += f" AND {expr.name('connectionId')} = {expr.value(connection_id)}"
        if with_seen:
            condition += f" AND {expr.name('lastSeen')} <= {expr.value(seen)}"
        key = {"chargePointId": charge_point_id}
        return conditional_update(tables().charge_points, key, expr, expr.update(sets), condition)

    return update_if(update(with_seen=True)) or update_if(update(with_seen=False))


def online_connections(charge_point_ids: list[str]) -> dict[str, str | None]:
    """The connection each registered one of these charge points is recorded online on (None: recorded
    offline), strongly consistent, these attributes only: 1 BatchGetItem per 100 (a read unit per 4 KB of
    each item all the same)."""
    expr = Expression()
    projection = ", ".join(expr.name(name) for name in ("chargePointId", "online", "connectionId"))
    keys = [to_item({"chargePointId": charge_point_id}) for charge_point_id in charge_point_ids]
    found = batch_get(
        tables().charge_points, keys, True, ProjectionExpression=projection, ExpressionAttributeNames=expr.names
    )
    return {item["chargePointId"]: item.get("connectionId") if item.get("online") else None for item in found}


def note_charge_point(charge_point_id: str, sets: dict) -> bool:
    """Facts about a registered charge point that no message of its own carries (what a command's answer
    means): 1 UpdateItem, outside the guard. False when there is no such charge point."""
    expr = Expression()
    condition = f"attribute_exists({expr.name('chargePointId')})"
    key = {"chargePointId": charge_point_id}
    return update_if(conditional_update(tables().charge_points, key, expr, expr.update(sets), condition))


def list_charge_points(limit: int, start: dict | None, status: str | None = None) -> Page:
    """A page of charge points by id: 1 Query + 1 BatchGetItem; never a Scan."""
    partition = ("status", status) if status else ("fleet", CHARGE_POINT_FLEET)
    index = "status-index" if status else "fleet-index"
    return query_page(tables().charge_points, index, partition, "chargePointId", limit, start, newest_first=False)
