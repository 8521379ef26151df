"""Fresh, uniquely named tables for one test (or one module's shared run) on whatever DynamoDB the
environment points at (moto inside `mock_aws`, or DynamoDB Local via AWS_ENDPOINT_URL_DYNAMODB)."""

from __future__ import annotations

import functools
import uuid

import pytest

from chalicelib import settings, storage


def table_variables() -> list[str]:
    """The environment variable naming each table storage creates (the Settings attribute, upper-cased)."""
    return [attribute.upper() for attribute in storage.TABLES.values()]


@functools.cache
def botocore_session():
    """One botocore session for every moto test. moto resets boto3's default session, so each test (or
    each state machine) would otherwise load the service models again (two thirds of a test's setup)."""
    import botocore.session
    import moto  # noqa: F401  (first: moto adds its stub to the handlers every new session starts with)

    from chalicelib import local_runtime

    local_runtime.atomic_moto()
    return botocore.session.get_session()


def fresh_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names every table storage declares afresh (so no test sees another's items) and creates them."""
    suffix = uuid.uuid4().hex[:8]
    for variable in table_variables():
        monkeypatch.setenv(variable, f"test-{variable.removesuffix('_TABLE').lower().replace('_', '-')}-{suffix}")
    settings.get.cache_clear()
    storage.reset_client()
    storage.ensure_tables()


def _plain(value: object) -> bool:
    """True when an AttributeValue (as moto holds it: the wire's JSON) has no binary anywhere in it."""
    if not isinstance(value, dict):
        return False
    for kind, inner in value.items():
        if kind in ("B", "BS"):
            return False
        if kind == "M" and not all(_plain(member) for member in inner.values()):
            return False
        if kind == "L" and not all(_plain(member) for member in inner):
            return False
    return True


def fast_attribute_values() -> None:
    """moto 5.2 writes every DynamoDB answer by walking botocore's shapes member by member, trying each
    member's aliases on each of an AttributeValue's ten members: half the time of a moto test that reads
    items. moto already holds an item as its JSON wire form, so an AttributeValue without binary (base64'd
    by that walk) is written as it is: the same bytes, without the walk (tests/test_backends.py checks it)."""
    from moto.core.serialize import BaseJSONSerializer

    walk = BaseJSONSerializer._serialize_type_structure
    if getattr(walk, "fast_attribute_values", False):
        return

    def serialize(self, serialized, value, shape, key) -> None:
        if shape.name == "AttributeValue" and _plain(value):
            self._default_serialize(serialized, value, shape, key)
        else:
            walk(self, serialized, value, shape, key)

    serialize.fast_attribute_values = True  # type: ignore[attr-defined]
    serialize.walk = walk  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = serialize  # type: ignore[method-assign]
