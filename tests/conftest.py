"""Shared fixtures. The test stage's environment is set before `app` is imported.

- `aws`: moto's in-memory AWS with the declared tables and an in-process bus wired to app's handlers.
- `backend`: the same, parametrised over moto and DynamoDB Local (AWS's engine on Java 17), for the
  storage-level tests whose conditions, transactions and indexes must behave as in AWS.
- `client`: Chalice's test client over the app.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_ENV = {
    "STAGE": "test",
    "LOCAL_RUNTIME": "off",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "BOOT_POLICY": "accept-all",
    "SIMULATOR_SEED": "7",
    "FLEET_SIZE": "3",
    "EVENT_BUS_NAME": "ev-bus-test",
}
os.environ.update(TEST_ENV)
for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(name, None)

from chalicelib import events, local_runtime, ocpp_frames, settings, storage  # noqa: E402

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _fresh_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    suffix = uuid.uuid4().hex[:8]
    for variable, stem in (
        ("CHARGE_POINTS_TABLE", "cp"),
        ("SESSIONS_TABLE", "sessions"),
        ("SIMULATOR_TABLE", "sim"),
        ("STATS_TABLE", "stats"),
    ):
        monkeypatch.setenv(variable, f"test-{stem}-{suffix}")
    settings.get.cache_clear()
    storage.reset_client()
    storage.ensure_tables()


@pytest.fixture(scope="session")
def app_module():
    import app

    return app


@pytest.fixture
def aws(monkeypatch, app_module):
    """moto, fresh tables, and a LocalBus delivering to app's handlers (immediately)."""
    from moto import mock_aws

    with mock_aws():
        _fresh_tables(monkeypatch)
        bus = local_runtime.local_bus(app_module.app)
        events.use(bus)
        yield bus
        events.use(None)
        settings.get.cache_clear()
        storage.reset_client()


@pytest.fixture(scope="session")
def dynamodb_local():
    """One in-memory DynamoDB Local for the session; skipped only when Java or the jar is missing and
    we are not in CI (CI installs both, so there it must run)."""
    try:
        process, endpoint = local_runtime.start_dynamodb_local(None)
    except FileNotFoundError as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(error))
    yield endpoint
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["moto", "dynamodb-local"])
def backend(request, monkeypatch, app_module):
    """Fresh tables on moto or on DynamoDB Local, with the in-process bus."""
    if request.param == "moto":
        from moto import mock_aws

        with mock_aws():
            _fresh_tables(monkeypatch)
            events.use(local_runtime.local_bus(app_module.app))
            yield request.param
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", request.getfixturevalue("dynamodb_local"))
        _fresh_tables(monkeypatch)
        events.use(local_runtime.local_bus(app_module.app))
        yield request.param
    events.use(None)
    settings.get.cache_clear()
    storage.reset_client()


@pytest.fixture
def client(aws, app_module):
    from chalice.test import Client

    with Client(app_module.app) as test_client:
        yield test_client


def valid_answer(call: list, answer: list) -> list:
    """Assert the answer is a CALLRESULT to this CALL and validates against the official 1.6 schema."""
    assert answer[0] == ocpp_frames.CALLRESULT, answer
    assert answer[1] == call[1]
    ocpp_frames.validate(ocpp_frames.CALLRESULT, call[2], answer[2])
    return answer
