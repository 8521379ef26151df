"""Meter history storage. The readings a MeterValues applies ride on the session's own UpdateItem, as a
small buffer of compact readings on the session item (storage.record_meter); once the buffer is full
they move, as one chunk item, to the history table (key sessionId + sampleKey). Readings that are not
applied (late ones, a stop's transactionData) are rows of their own there, keyed "<timestamp>#<digest>"
so that a redelivered reading rewrites its own row. The read side (chalicelib.meter_history) merges the
three. An item may carry a TTL (HISTORY_EXPIRES_AT, epoch seconds, set from its newest reading's time):
DynamoDB deletes it some time after (within days); until then the read side leaves it out."""

from __future__ import annotations

from typing import Any

from chalicelib.storage.dynamo import Expression, client, tables, to_item
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
