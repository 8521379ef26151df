"""The benchmark's stage: settings changed at once, fresh tables for each measurement, a backend
(moto in process, or DynamoDB Local started for the run), and its progress log on stderr.
Imported by scripts/benchmark.py after it has set the stage's environment."""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from chalicelib import local_runtime, settings, storage


def configure(**values: object) -> None:
    """Change settings. They are read at once: chalice's test client lays its stage's variables over
    the environment during each request."""
    for name, value in values.items():
        os.environ[name] = str(value)
    settings.get.cache_clear()
    settings.get()


def fresh_tables() -> dict[str, str]:
    """New, empty tables for the next measurement (names from the environment, as in every stage)."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "CHARGE_POINTS_TABLE": f"bench-cp-{suffix}",
        "SESSIONS_TABLE": f"bench-sessions-{suffix}",
        "SIMULATOR_TABLE": f"bench-sim-{suffix}",
        "STATS_TABLE": f"bench-stats-{suffix}",
    }
    configure(**names)
    storage.ensure_tables()
    return names


@contextmanager
def backend(name: str) -> Iterator[None]:
    if name == "moto":
        from moto import mock_aws

        with mock_aws():
            storage.reset_client()
            yield
    else:
        process, endpoint = local_runtime.start_dynamodb_local(None)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        storage.reset_client()
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)
            del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    storage.reset_client()


def log(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
