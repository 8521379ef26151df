"""What several test modules share and that needs nothing from the app: the test stage's environment,
the fixed clock, the routes left open without an API key, and small waiting and wire helpers.

Imports nothing from chalicelib, so conftest.py can read TEST_ENV before the app is imported."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
TEST_ENV = {
    "STAGE": "test",
    "LOCAL_RUNTIME": "off",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "BOOT_POLICY": "accept-all",
    "UNKNOWN_ID_TAGS": "accept",
    "SIMULATOR_SEED": "7",
    "FLEET_SIZE": "3",
    "EVENT_BUS_NAME": "ev-bus-test",
}
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
# The routes app.py serves without the API key (the packaged template must agree: tests/test_stage_access.py).
OPEN = {
    "GET /",
    "GET /assets/{name}",
    "GET /openapi.json",
    "GET /ocpp/schemas/{action}",
    "POST /ocpp/{charge_point_id}",
    "PUT /diagnostics/{charge_point_id}/{file_name}",
    "POST /diagnostics/{charge_point_id}/{file_name}",
    "GET /exports/files/{export_id}/{file_name}",
}


async def wait_for(predicate: Callable[[], Awaitable[Any]], seconds: float = 10) -> Any:
    """Polls an async predicate every 50 ms until it returns something truthy, which it returns."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def exchange(ws: Any, frame: list | str) -> list:
    """Sends one frame on a WebSocket and returns the next frame received (10 s at most)."""
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def raw_upgrade(url: str, path: str, headers: bytes = b"", from_address: str = "127.0.0.1") -> tuple[int, bytes]:
    """An upgrade request written byte by byte (headers as given, from a chosen loopback address) to a
    gateway's URL: the response's status and head."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port, local_addr=(from_address, 0))
    writer.write(
        b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gateway\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n" + headers + b"\r\n"
    )
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    return int(head.split()[1]), head


async def flood(url: str) -> list[int]:
    """40 bad logins from 4 addresses, 4 at a time, half for unknown chargers and half guessing a known
    charger's password: the statuses they got. (Run in a process of its own by tests/test_gateway_edge.py.)"""

    async def attacker(n: int) -> list[int]:
        statuses = []
        for attempt in range(10):
            charge_point_id = "CP-VICTIM" if attempt % 2 else f"CP-NOBODY-{n}-{attempt}"
            header = basic(charge_point_id, f"guess-{n}-{attempt}-xxxxxxxx")["Authorization"].encode()
            status, _ = await raw_upgrade(
                url, f"/ocpp/{charge_point_id}", b"Authorization: " + header + b"\r\n", f"127.0.0.{10 + n}"
            )
            statuses.append(status)
        return statuses

    return [status for statuses in await asyncio.gather(*(attacker(n) for n in range(4))) for status in statuses]
