"""Meter history: every meterValue a charger reported for a session, one item per (session, reading), in
the history table (key sessionId + sampleKey = "<timestamp>#<digest>"). The key makes a redelivered
reading overwrite itself and sorts a late one into its place in time; the item holds the sampled values
as a compact JSON string (OCPP's defaults left out) so that it stays under 1 KB, one write unit."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import Page, batch_write


def history_put(row: dict) -> dict:
    """A history row as a TransactWriteItems Put (written with the reading's own transaction)."""
    return {"Put": {"TableName": tables().history, "Item": to_item(row)}}


def keep_history(rows: list[dict]) -> None:
    """History rows written on their own (late readings, a stop's transactionData): idempotent puts in
    BatchWriteItem calls of 25."""
    if rows:
        batch_write(tables().history, [{"PutRequest": {"Item": to_item(row)}} for row in rows])


def registers(session_id: str, until: str) -> list[tuple[str, int]]:
    """A session's energy register readings up to `until`, as (timestamp, Wh) in time order: 1 Query per
    1 MB of rows (a session's whole history is a few hundred KB at most), only two attributes read."""
    expr = Expression()
    args: dict[str, Any] = {
        "TableName": tables().history,
        "KeyConditionExpression": f"{expr.name('sessionId')} = {expr.value(session_id)}"
        f" AND {expr.name('sampleKey')} <= {expr.value(until + '~')}",
        "ProjectionExpression": f"{expr.name('timestamp')}, {expr.name('registerWh')}",
        **expr.args(),
    }
    found: list[tuple[str, int]] = []
    while True:
        response = client().query(**args)
        found += [
            (item["timestamp"]["S"], int(item["registerWh"]["N"])) for item in response["Items"] if "registerWh" in item
        ]
        if "LastEvaluatedKey" not in response:
            return found
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def history_page(session_id: str, limit: int, start: dict | None) -> Page:
    """A session's readings in time order, `limit` at most: 1 Query."""
    expr = Expression()
    args: dict[str, Any] = {
        "TableName": tables().history,
        "KeyConditionExpression": f"{expr.name('sessionId')} = {expr.value(session_id)}",
        "Limit": limit,
        **expr.args(),
    }
    if start:
        args["ExclusiveStartKey"] = start
    response = client().query(**args)
    return Page([from_item(item) for item in response.get("Items", [])], response.get("LastEvaluatedKey"))
