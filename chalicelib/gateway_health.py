"""`GET /health` on the gateway's port, for a load balancer: whether this gateway can serve chargers now
(its settings load, its table answers), found at most every few seconds by one shared check."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from chalicelib import settings as settings_module
from chalicelib import storage

# A load balancer's checks every few seconds cost at most one DynamoDB read per this many seconds.
HEALTH_CACHE_SECONDS, HEALTH_TIMEOUT_SECONDS = 5.0, 2.0
log = logging.getLogger("ev.ocpp_gateway")


class Health:
    """One gateway's health answer; `blocking` runs a function in the gateway's thread pool."""

    def __init__(self, blocking: Callable[..., Awaitable[Any]]) -> None:
        self._blocking = blocking
        self._check: asyncio.Future | None = None
        self._checked_at = 0.0

    async def response(self, connection: ServerConnection, gateway_id: str, chargers: int) -> Response:
        problem = await self._problem()
        body = {"status": "unavailable", "problem": problem} if problem else {"status": "ok"}
        response = connection.respond(
            503 if problem else 200,
            json.dumps({**body, "gatewayId": gateway_id, "chargers": chargers}) + "\n",
        )
        del response.headers["Content-Type"]  # respond() made it text/plain
        response.headers["Content-Type"] = "application/json"
        return response

    async def _problem(self) -> str | None:
        """What stops the gateway from serving (None: nothing), found at most every HEALTH_CACHE_SECONDS
        by one check that concurrent health requests share."""
        if self._check is None or (self._check.done() and time.monotonic() - self._checked_at >= HEALTH_CACHE_SECONDS):
            self._checked_at = time.monotonic()
            self._check = asyncio.ensure_future(self._run_check())
        return await asyncio.shield(self._check)

    async def _run_check(self) -> str | None:
        try:
            return await asyncio.wait_for(self._blocking(_serving_problem), HEALTH_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(json.dumps({"event": "health-timeout", "seconds": HEALTH_TIMEOUT_SECONDS}))
            return "storage does not answer"


def _serving_problem() -> str | None:
    """Why this gateway cannot serve chargers now (None: it can): its settings do not load, or its
    table cannot be read. Details go to the log, not to whoever asks."""
    try:
        settings_module.get()
    except settings_module.SettingsError:
        log.exception(json.dumps({"event": "health-settings"}))
        return "settings"
    try:
        storage.ping()
    except Exception:
        log.exception(json.dumps({"event": "health-storage"}))
        return "storage"
    return None
