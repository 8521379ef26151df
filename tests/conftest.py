"""Shared fixtures. The test stage's environment is set before `app` is imported.

- `aws`: moto's in-memory AWS with the declared tables and an in-process bus wired to app's handlers.
- `backend`: the same, parametrised over moto and DynamoDB Local (AWS's engine on Java 17), for the
  storage-level tests whose conditions, transactions and indexes must behave as in AWS.
- `client`: Chalice's test client over the app.
- `gateway`: the WebSocket gateway on a free port over the test's backend.
- `fleet`: the demo fleet booted on the in-process bus, its clock and a `Wire` listening (to `watched`).
- `local_files`: diagnostics uploads kept in a temporary directory (local mode).
- `packaged`: deploy/package.sh per stage (slow: once per session, only for the tests that ask).

Markers (registered in pytest.ini) are set here by directory and file, see `pytest_collection_modifyitems`;
builders live in tests/ocpp_builders.py and tests/support.py, never in a test module.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT, TEST_ENV

os.environ.update(TEST_ENV)
for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(name, None)

from chalicelib import events, local_runtime, ocpp_frames, ocpp_gateway, settings, simulator, storage  # noqa: E402
from tests import backends  # noqa: E402
from tests.backends import fast_attribute_values, fresh_tables  # noqa: E402
from tests.ocpp_builders import Clock, Wire  # noqa: E402

fast_attribute_values()

TESTS = ROOT / "tests"
# The tier marks (pytest.ini says what each means) of whole directories and files under tests/ ...
PATH_MARKS = {
    "browser": ("browser", "server"),
    "test_local_server.py": ("server",),
    "test_make_run.py": ("server", "slow"),
    "test_ws_load.py": ("server", "slow"),
    "test_gateway_image.py": ("server", "slow"),
    "test_deploy_rehearsal.py": ("deploy", "slow"),
    "test_deployment.py": ("deploy",),
    "test_fuzz_api.py": ("slow",),
}
# Single slow tests in files another helper owns (elsewhere a decorator says it where the test is).
SLOW_TESTS = {
    "test_api_routes_cost_the_same_requests_with_5_and_with_200_sessions",
    "test_a_simulator_tick_batches_state_reads_writes_and_events",
}
# ... and of the tests that use these fixtures, wherever they are.
FIXTURE_MARKS = {"packaged": ("deploy",), "dynamodb_local": ("dynamodb_local",)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        marks = set(PATH_MARKS.get(item.path.relative_to(TESTS).parts[0], ()))
        for fixture, fixture_marks in FIXTURE_MARKS.items():
            if fixture in getattr(item, "fixturenames", ()):
                marks.update(fixture_marks)
        if getattr(item, "originalname", None) in SLOW_TESTS:
            marks.add("slow")
        callspec = getattr(item, "callspec", None)
        if callspec and callspec.params.get("backend") == "dynamodb-local":
            marks.add("dynamodb_local")
        for mark in sorted(marks):
            item.add_marker(mark)


@pytest.fixture(scope="session")
def app_module():
    import app

    return app


@pytest.fixture(scope="session")
def botocore_session():
    return backends.botocore_session()


@pytest.fixture
def aws(monkeypatch, app_module, botocore_session):
    """moto, fresh tables, and a LocalBus delivering to app's handlers (immediately)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.setup_default_session(botocore_session=botocore_session)
        fresh_tables(monkeypatch)
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
def backend(request, monkeypatch, app_module, botocore_session):
    """Fresh tables on moto or on DynamoDB Local, with the in-process bus."""
    if request.param == "moto":
        import boto3
        from moto import mock_aws

        with mock_aws():
            boto3.setup_default_session(botocore_session=botocore_session)
            fresh_tables(monkeypatch)
            events.use(local_runtime.local_bus(app_module.app))
            yield request.param
    else:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", request.getfixturevalue("dynamodb_local"))
        fresh_tables(monkeypatch)
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


@pytest.fixture
def gateway(client, monkeypatch):
    """A gateway on a free port, on the test's moto backend, polling its outbox every 50 ms."""
    monkeypatch.setenv("OUTBOX_POLL_SECONDS", "0.05")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    running = ocpp_gateway.GatewayThread("127.0.0.1", 0)
    yield running
    running.stop()


@pytest.fixture
def watched() -> str | None:
    """The charger whose frames the fleet's Wire keeps; None: every charger's (a module may override)."""
    return None


@pytest.fixture
def fleet(client, aws, monkeypatch, watched):
    """The demo fleet, booted on the in-process bus (each accepted boot makes its charger reachable), the
    clock it shares with the central system, and what travels on the bus; every frame checked at the end."""
    clock = Clock()
    monkeypatch.setattr(ocpp_frames, "now", clock)
    wire = Wire(aws, watched)
    simulator.run_tick(now=clock.now)
    yield clock, wire
    wire.check_schemas()


@pytest.fixture
def local_files(tmp_path, monkeypatch):
    monkeypatch.setenv("DIAGNOSTICS_DIR", str(tmp_path))
    monkeypatch.setenv("DIAGNOSTICS_MAX_BYTES", "2048")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    return tmp_path


@pytest.fixture(scope="session")
def packaged(tmp_path_factory) -> dict[str, Path]:
    """deploy/package.sh for each deployed stage, plus the SAM transform CloudFormation would apply."""
    from deploy import templates

    out = {}
    for stage in ("dev", "prod"):
        directory = tmp_path_factory.mktemp(f"package-{stage}")
        subprocess.run(
            ["bash", "deploy/package.sh", stage, str(directory)],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHON": sys.executable},
        )
        transformed = templates.sam_transform(json.loads((directory / "sam.json").read_text()))
        (directory / "cfn.json").write_text(json.dumps(transformed))
        out[stage] = directory
    return out
