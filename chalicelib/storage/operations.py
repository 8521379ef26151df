"""The requests every aggregate makes, with DynamoDB's refusals turned into answers: a failed condition is
False, an invalid value is ValueRefused, a transaction conflicting with a concurrent one is retried."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.storage.dynamo import Expression, ValueRefused, client, from_item, to_item

# --- requests ------------------------------------------------------------------------------------


def get_item(table: str, key: dict, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    response = client().get_item(TableName=table, Key=to_item(key), ConsistentRead=consistent)
    return from_item(response["Item"]) if "Item" in response else None


def conditional_update(table: str, key: dict, expr: Expression, update: str, condition: str, **extra: str) -> dict:
    """UpdateItem arguments: `update` on the item at key when `condition` holds (their names and values in expr)."""
    return {
        "TableName": table,
        "Key": to_item(key),
        "UpdateExpression": update,
        "ConditionExpression": condition,
        **extra,
        **expr.args(),
    }


def update_if(args: dict) -> bool:
    """One conditional UpdateItem: False when its condition does not hold."""
    return updated_if(args) is not None


def updated_if(args: dict) -> dict | None:
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


def transact(items: list[dict]) -> bool:
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


def query_all(args: dict) -> list[dict]:
    """Every item a Query matches, page after page (1 Query per 1 MB), as plain dicts."""
    args = dict(args)
    found: list[dict] = []
    while True:
        response = client().query(**args)
        found += [from_item(item) for item in response.get("Items", [])]
        if "LastEvaluatedKey" not in response:
            return found
        args["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def batch_get(table: str, keys: list[dict], consistent: bool = False, **extra: Any) -> list[dict]:
    """Items by key (serialised keys; absent ones are left out), in BatchGetItem calls of 100 keys,
    asking again for what DynamoDB left unprocessed. In no particular order. `extra`: a
    ProjectionExpression and its ExpressionAttributeNames."""
    found = []
    pending = keys
    while pending:
        chunk, pending = pending[:100], pending[100:]
        while chunk:
            response = client().batch_get_item(
                RequestItems={table: {"Keys": chunk, "ConsistentRead": consistent, **extra}}
            )
            found += [from_item(item) for item in response.get("Responses", {}).get(table, [])]
            chunk = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return found


def batch_write(table: str, requests: list[dict]) -> None:
    """Writes and deletes in BatchWriteItem calls of 25, re-sending what DynamoDB left unprocessed."""
    attempt = 0
    while requests:
        chunk, requests = requests[:25], requests[25:]
        response = client().batch_write_item(RequestItems={table: chunk})
        unprocessed = response.get("UnprocessedItems", {}).get(table, [])
        if unprocessed:
            requests = unprocessed + requests
            attempt += 1
            time.sleep(min(0.05 * 2**attempt, 2))


# --- listing: Query on an index, then the page's items in one BatchGetItem ------------------------


@dataclass
class Page:
    items: list[dict]
    last_key: dict | None = None


def query_page(
    table: str,
    index: str,
    partition: tuple[str, str],
    key_names: str | tuple[str, ...],
    limit: int,
    start: dict | None,
    newest_first: bool,
    between: tuple[str, str, str] | None = None,
) -> Page:
    """A page of full items in the index's order: 1 Query for the keys + 1 BatchGetItem (up to 100).
    key_names: the table's key attributes (strings), one or the partition and sort key. `between` (sort key
    name, lowest, highest; both included) narrows the partition to a range."""
    names = (key_names,) if isinstance(key_names, str) else key_names
    expr = Expression()
    condition = f"{expr.name(partition[0])} = {expr.value(partition[1])}"
    if between:
        name, low, high = between
        condition += f" AND {expr.name(name)} BETWEEN {expr.value(low)} AND {expr.value(high)}"
    args: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "Limit": limit,
        "ScanIndexForward": not newest_first,
        "KeyConditionExpression": condition,
    }
    if start:
        args["ExclusiveStartKey"] = start
    response = client().query(**args, **expr.args())
    keys = [{name: item[name] for name in names} for item in response.get("Items", [])]
    found = batch_get(table, keys) if keys else []
    by_key = {tuple(item[name] for name in names): item for item in found}
    ordered = [by_key.get(tuple(key[name]["S"] for name in names)) for key in keys]
    return Page([item for item in ordered if item is not None], response.get("LastEvaluatedKey"))
