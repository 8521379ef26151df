"""What every aggregate shares: the client, the table names, (de)serialisation and the expression builder.
The requests themselves are in operations.py."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
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
def _hooked(*registrations: tuple[str, str, Callable[..., None]]) -> Iterator[None]:
    """The client's event hooks, each (how: register, register_first or register_last; event; handler),
    registered while inside."""
    hooks = client().meta.events
    for how, event, handler in registrations:
        getattr(hooks, how)(event, handler)
    try:
        yield
    finally:
        for _, event, handler in registrations:
            hooks.unregister(event, handler)


@contextmanager
def counting_requests() -> Iterator[Counter]:
    """Count the DynamoDB requests made while inside, by operation name, at the client (before each
    call is sent): how tests/test_request_budget.py and scripts/benchmark.py hold the counts above."""
    counts: Counter = Counter()

    def count(model: Any, **_: Any) -> None:
        counts[model.name] += 1

    with _hooked(("register", "before-call.dynamodb", count)):
        yield counts


# The operations whose consumed capacity is read units; every other operation's are write units.
READ_OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@contextmanager
def counting_capacity() -> Iterator[Counter]:
    """The capacity units DynamoDB reports for the requests made while inside, by operation name (each
    request asks for ReturnConsumedCapacity=TOTAL): the write units per message in docs/performance.md.
    A request DynamoDB refuses (a failed condition) reports nothing here, though DynamoDB bills it."""
    units: Counter = Counter()

    def ask(params: dict, model: Any, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def add(parsed: dict, model: Any, **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") or []
        for entry in consumed if isinstance(consumed, list) else [consumed]:
            units[model.name] += entry.get("CapacityUnits", 0.0)

    with _hooked(("register", "before-parameter-build.dynamodb", ask), ("register", "after-call.dynamodb", add)):
        yield units


@contextmanager
def timing_requests() -> Iterator[list[float]]:
    """Seconds spent inside DynamoDB client calls while inside (parameters checked and serialised, signed,
    sent, answered, parsed; retries included), as a one-element list: what scripts/benchmark.py tells
    apart from the handler's own Python."""
    spent = [0.0]
    started: list[float] = []

    def start(**_: Any) -> None:
        started.append(time.perf_counter())

    def stop(**_: Any) -> None:
        if started:
            spent[0] += time.perf_counter() - started.pop()

    with _hooked(
        ("register_first", "provide-client-params.dynamodb", start), ("register_last", "after-call.dynamodb", stop)
    ):
        yield spent


# --- table names ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tables:
    charge_points: str
    sessions: str
    simulator: str
    stats: str
    commands: str
    reservations: str
    id_tags: str
    history: str
    sites: str


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
            current.reservations_table,
            current.id_tags_table,
            current.history_table,
            current.sites_table,
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


def item_bytes(item: dict) -> int:
    """An item's size as DynamoDB bills it (names and values; numbers rounded up), from its Python form:
    writes are billed per started KB of the larger of the item before and after."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in item.items())


def _value_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return len(str(value)) // 2 + 2
    if isinstance(value, dict):
        return 3 + sum(len(name.encode()) + _value_bytes(inner) + 1 for name, inner in value.items())
    if isinstance(value, bytes | bytearray):
        return len(value)
    return 3 + sum(_value_bytes(inner) + 1 for inner in value)


class Expression:
    """Builds expression attribute names and values, so callers never juggle placeholders."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict] = {}

    def name(self, path: str) -> str:
        return ".".join(self.segment(segment) for segment in path.split("."))

    def segment(self, name: str) -> str:
        """One attribute or map key, dots and all (a charger's configuration key may have them)."""
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = name
        return placeholder

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
