"""What every aggregate shares: the client, the table names, (de)serialisation, the expression builder and
the request helpers that turn DynamoDB's refusals into answers (a failed condition is False, an invalid
value is ValueRefused, a conflicting transaction is retried)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from chalicelib import settings


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


# --- table names ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    charge_points: str
    sessions: str
    simulator: str
    stats: str
    commands: str


_tables: tuple[settings.Settings, Tables] | None = None


def tables() -> Tables:
    """The table names, resolved once per settings object: tests that change the environment clear
    settings.get's cache, and the next call resolves the new names."""
    global _tables
    current = settings.get()
    resolved = _tables
    if resolved is None or resolved[0] is not current:
        names = Tables(
            current.charge_points_table,
            current.sessions_table,
            current.simulator_table,
            current.stats_table,
            current.commands_table,
        )
        resolved = _tables = (current, names)
    return resolved[1]


# --- (de)serialisation ---------------------------------------------------------------------------


def to_attr(value: Any) -> dict:
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
    return {k: to_attr(v) for k, v in values.items()}


def from_item(item: dict) -> dict:
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in item.items()}


class Expression:
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
        self.values[placeholder] = to_attr(value)
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


# --- requests ------------------------------------------------------------------------------------


def get_item(table: str, key: dict, consistent: bool = False) -> dict | None:
    """1 GetItem."""
    response = client().get_item(TableName=table, Key=to_item(key), ConsistentRead=consistent)
    return from_item(response["Item"]) if "Item" in response else None


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


def batch_get(table: str, keys: list[dict], consistent: bool = False) -> list[dict]:
    """Items by key (serialised keys; absent ones are left out), in BatchGetItem calls of 100 keys,
    asking again for what DynamoDB left unprocessed. In no particular order."""
    found = []
    pending = keys
    while pending:
        chunk, pending = pending[:100], pending[100:]
        while chunk:
            response = client().batch_get_item(RequestItems={table: {"Keys": chunk, "ConsistentRead": consistent}})
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
    key_name: str,
    limit: int,
    start: dict | None,
    newest_first: bool,
) -> Page:
    """A page of full items in the index's order: 1 Query for the keys + 1 BatchGetItem (up to 100)."""
    expr = Expression()
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
    keys = [{key_name: item[key_name]} for item in response.get("Items", [])]
    by_key = {item[key_name]: item for item in batch_get(table, keys)} if keys else {}
    ordered = [by_key.get(key[key_name]["S"]) for key in keys]
    return Page([item for item in ordered if item is not None], response.get("LastEvaluatedKey"))
