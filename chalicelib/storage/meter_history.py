"""Meter history storage. The readings a MeterValues applies ride on the session's own UpdateItem, as a
small buffer of compact readings on the session item (storage.record_meter); once the buffer is full
they move, as one chunk item, to the history table (key sessionId + sampleKey). Readings that are not
applied (late ones, a stop's transactionData) are rows of their own there, keyed "<timestamp>#<digest>"
so that a redelivered reading rewrites its own row. The read side (chalicelib.meter_history) merges the
three. An item may carry a TTL (HISTORY_EXPIRES_AT, epoch seconds, set from its newest reading's time):
DynamoDB deletes it some time after (within days); until then the read side leaves it out. Items written
before there was a retention have none: scripts/backfill_history_expiry.py walks the table to set it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import batch_write, conditional_update, query_all, update_if

# The history table's TTL attribute (its TimeToLiveSpecification in .chalice/resources.json).
HISTORY_EXPIRES_AT = "expiresAt"


def keep_history(rows: list[dict]) -> None:
    """History rows written on their own (late readings, a stop's transactionData): idempotent puts in
    BatchWriteItem calls of 25."""
    if rows:
        batch_write(tables().history, [{"PutRequest": {"Item": to_item(row)}} for row in rows])


def flush_buffer(session_id: str, chunk: dict, names: list[str]) -> None:
    """A full buffer moved off its session: the chunk item (its key names its readings, so a repeated or
    concurrent flush of the same readings rewrites the same item), then the buffered attributes removed
    from the session (removing one already gone is a no-op): 1 PutItem + 1 UpdateItem."""
    client().put_item(TableName=tables().history, Item=to_item({"sessionId": session_id, **chunk}))
    expr = Expression()
    update = "REMOVE " + ", ".join(expr.name(name) for name in names)
    condition = f"attribute_exists({expr.name('sessionId')})"
    update_if(conditional_update(tables().sessions, {"sessionId": session_id}, expr, update, condition))


def history_items(session_id: str, consistent: bool = False) -> list[dict]:
    """Every history item of a session (rows and chunks), in key order: 1 Query per 1 MB (a day of
    readings at one a minute is about 100 KB), strongly consistent when asked. Expired items DynamoDB has
    not deleted yet are among them (chalicelib.meter_history leaves them out)."""
    expr = Expression()
    args: dict[str, Any] = {
        "TableName": tables().history,
        "KeyConditionExpression": f"{expr.name('sessionId')} = {expr.value(session_id)}",
        "ConsistentRead": consistent,
        **expr.args(),
    }
    return query_all(args)


@dataclass
class ExpiryScan:
    items: list[dict]  # those without HISTORY_EXPIRES_AT: their key and what dates them (timestamp, readings)
    scanned: int  # items the page read, those with HISTORY_EXPIRES_AT among them
    read_units: float
    last_key: dict | None  # where the segment's next page starts; None: the segment is done


def scan_without_expiry(segment: int, segments: int, start: dict | None, limit: int) -> ExpiryScan:
    """One page of one segment of a parallel Scan of the history table (an operator's one-off, never a
    route): 1 Scan reading `limit` items or 1 MB, eventually consistent, billed 0.5 read unit per 4 KB
    read, on every item read (the filter only trims what comes back)."""
    expr = Expression()
    args: dict[str, Any] = {
        "TableName": tables().history,
        "Segment": segment,
        "TotalSegments": segments,
        "Limit": limit,
        "FilterExpression": f"attribute_not_exists({expr.name(HISTORY_EXPIRES_AT)})",
        "ProjectionExpression": ", ".join(expr.name(n) for n in ("sessionId", "sampleKey", "timestamp", "readings")),
        "ReturnConsumedCapacity": "TOTAL",
        **expr.args(),
    }
    if start:
        args["ExclusiveStartKey"] = start
    response = client().scan(**args)
    return ExpiryScan(
        [from_item(item) for item in response.get("Items", [])],
        response["ScannedCount"],
        response.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0),
        response.get("LastEvaluatedKey"),
    )


def set_expiry_if_missing(key: dict, expires_at: int) -> tuple[str, float]:
    """HISTORY_EXPIRES_AT set on an item that still exists and still has none: 1 conditional UpdateItem,
    1 write unit per KB of the item. Returns what happened and the write units DynamoDB reported: "set";
    "had" (a writer set it first: its value stays); "gone" (deleted since the Scan: not written back).
    DynamoDB bills a refused write as if written but reports no units for it."""
    from botocore.exceptions import ClientError

    expr = Expression()
    update = f"SET {expr.name(HISTORY_EXPIRES_AT)} = {expr.value(expires_at)}"
    condition = f"attribute_exists({expr.name('sessionId')}) AND attribute_not_exists({expr.name(HISTORY_EXPIRES_AT)})"
    args = conditional_update(tables().history, key, expr, update, condition)
    try:
        response = client().update_item(
            **args, ReturnConsumedCapacity="TOTAL", ReturnValuesOnConditionCheckFailure="ALL_OLD"
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return ("had" if "Item" in error.response else "gone"), 0.0
    return "set", response.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0)
