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
