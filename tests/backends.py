"""Fresh, uniquely named tables for one test (or one module's shared run) on whatever DynamoDB the
environment points at (moto inside `mock_aws`, or DynamoDB Local via AWS_ENDPOINT_URL_DYNAMODB)."""

from __future__ import annotations

import uuid

import pytest

from chalicelib import settings, storage


def table_variables() -> list[str]:
    """The environment variable naming each table storage creates (the Settings attribute, upper-cased)."""
    return [attribute.upper() for attribute in storage.TABLES.values()]


def fresh_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names every table storage declares afresh (so no test sees another's items) and creates them."""
    suffix = uuid.uuid4().hex[:8]
    for variable in table_variables():
        monkeypatch.setenv(variable, f"test-{variable.removesuffix('_TABLE').lower().replace('_', '-')}-{suffix}")
    settings.get.cache_clear()
    storage.reset_client()
    storage.ensure_tables()
