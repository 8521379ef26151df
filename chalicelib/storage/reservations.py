"""Reservations (ReserveNow): one item per reservationId, listed newest first per charger or fleet-wide,
and the pointer to a connector's active reservation on its charge point (so that showing a charge point
stays 1 GetItem).

A reservation's expiry is not a stored status: a Pending or Active one past its expiryDate is Expired,
which the listing's filter and the view (chalicelib/reservations.py) both derive from the clock."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import Page, batch_get, conditional_update, get_item, update_if, updated_if

RESERVATION_FLEET = "reservation"
# The stored statuses an expiry can still end (the others are final).
OPEN_RESERVATION = ("Pending", "Active")


def reservation_pointer(connector: int) -> str:
    """The charge point's attribute naming the active reservation of a connector (0: the whole charger)."""
    return f"reservation_{connector}"


def create_reservation(item: dict, abandoned_before: str) -> bool:
    """A new Pending reservation: 1 conditional PutItem. Its id may be taken over only from a Pending one
    created before abandoned_before (its ReserveNow was never answered). False when the id is in use."""
    expr = Expression()
    status, created = expr.name("status"), expr.name("createdAt")
    condition = (
        f"attribute_not_exists({expr.name('reservationId')})"
        f" OR ({status} = {expr.value('Pending')} AND {created} < {expr.value(abandoned_before)})"
    )
    full = {**item, "fleet": RESERVATION_FLEET, "createdKey": f"{item['createdAt']}#{item['reservationId']:010d}"}
    from botocore.exceptions import ClientError

    try:
        client().put_item(
            TableName=tables().reservations, Item=to_item(full), ConditionExpression=condition, **expr.args()
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True


def get_reservation(reservation_id: int, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    return get_item(tables().reservations, {"reservationId": reservation_id}, consistent)


def move_reservation(
    reservation_id: int, charge_point_id: str, sets: dict, from_statuses: tuple[str, ...], or_session: str = ""
) -> dict | None:
    """Move a charger's reservation on while its stored status is one of from_statuses (or, given
    or_session, it is already that session's: a resent start applies again): 1 conditional UpdateItem.
    The reservation as it now is, or None when it was not moved."""
    expr = Expression()
    status = expr.name("status")
    condition = f"{status} IN ({', '.join(expr.value(s) for s in from_statuses)})"
    if or_session:
        condition = f"({condition} OR {expr.name('sessionId')} = {expr.value(or_session)})"
    condition += f" AND {expr.name('chargePointId')} = {expr.value(charge_point_id)}"
    key = {"reservationId": reservation_id}
    args = conditional_update(tables().reservations, key, expr, expr.update(sets), condition, ReturnValues="ALL_NEW")
    attributes = updated_if(args)
    return None if attributes is None else from_item(attributes)


def drop_reservation_pointer(charge_point_id: str, connector: int, reservation_id: int) -> bool:
    """Forget the connector's active reservation if it is still this one: 1 conditional UpdateItem."""
    expr = Expression()
    slot = expr.name(reservation_pointer(connector))
    condition = f"{slot}.{expr.name('reservationId')} = {expr.value(reservation_id)}"
    key = {"chargePointId": charge_point_id}
    return update_if(conditional_update(tables().charge_points, key, expr, f"REMOVE {slot}", condition))


def _status_filter(expr: Expression, status: str, now: str) -> str:
    """A FilterExpression on the index's projected status and expiryDate, with Expired derived."""
    name = expr.name("status")
    if status == "Expired":
        still_open = ", ".join(expr.value(s) for s in OPEN_RESERVATION)
        return f"({name} IN ({still_open}) AND {expr.name('expiryDate')} < {expr.value(now)})"
    if status in OPEN_RESERVATION:
        return f"({name} = {expr.value(status)} AND {expr.name('expiryDate')} >= {expr.value(now)})"
    return f"{name} = {expr.value(status)}"


def list_reservations(
    limit: int, start: dict | None, now: str, charge_point_id: str | None = None, status: str | None = None
) -> Page:
    """A page of reservations, newest first: 1 Query + 1 BatchGetItem; never a Scan. With a status the
    index's projection is filtered, so a page may hold fewer than limit (its nextToken goes on)."""
    expr = Expression()
    index, partition = (
        ("chargepoint-index", ("chargePointId", charge_point_id))
        if charge_point_id
        else ("fleet-index", ("fleet", RESERVATION_FLEET))
    )
    args: dict[str, Any] = {
        "TableName": tables().reservations,
        "IndexName": index,
        "Limit": limit,
        "ScanIndexForward": False,
        "KeyConditionExpression": f"{expr.name(partition[0])} = {expr.value(partition[1])}",
    }
    if status:
        args["FilterExpression"] = _status_filter(expr, status, now)
    if start:
        args["ExclusiveStartKey"] = start
    response = client().query(**args, **expr.args())
    keys = [{"reservationId": item["reservationId"]} for item in response.get("Items", [])]
    by_id = {int(item["reservationId"]): item for item in batch_get(tables().reservations, keys)} if keys else {}
    ordered = [by_id.get(int(key["reservationId"]["N"])) for key in keys]
    return Page([item for item in ordered if item is not None], response.get("LastEvaluatedKey"))
