"""Who may open an OCPP socket on the gateway (security profile 1): the HTTP Basic check before the
WebSocket upgrade. Password checks (a read and a deliberately slow hash) run in a small thread pool of
their own, behind a back-off for failed logins (login_throttle.py), so that a flood of logins never
delays a connected charger's frames."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from chalicelib import auth, login_throttle

# PBKDF2 releases the GIL; one core is left to the loop and the frame handlers, and the checks run at the
# lowest CPU priority, so that on a busy machine they wait rather than the connected chargers.
AUTH_WORKERS = max(1, (os.cpu_count() or 1) - 1)
# Checks waiting or running: beyond this an upgrade is asked to come back (503) rather than queued; so is
# one whose check has not finished in AUTH_WAIT_SECONDS (well within websockets' 10 s opening handshake).
AUTH_QUEUE, AUTH_WAIT_SECONDS = 32, 5.0
log = logging.getLogger("ev.ocpp_gateway")


class LoginGate:
    """The HTTP Basic check of one gateway; its refusals are counted in the gateway's counts."""

    def __init__(self, counts: Counter[str], throttle: login_throttle.LoginThrottle | None = None) -> None:
        self.counts = counts
        self.throttle = throttle or login_throttle.LoginThrottle()
        self._executor = ThreadPoolExecutor(
            max_workers=AUTH_WORKERS, thread_name_prefix="ocpp-auth", initializer=_lowest_cpu_priority
        )
        self._pending = 0

    def warm_up(self) -> None:
        """Its first use would be slower than a wrong password: that would tell an unknown charger apart."""
        self._executor.submit(auth.hash_of_nobody)

    async def admit(
        self, connection: ServerConnection, charge_point_id: str, authorization: str | None
    ) -> Response | None:
        """None when the credentials are this charger's; otherwise the refusal, at once while this charger
        or this address is backed off. Unknown charger and wrong password take the same time (auth)."""
        address = str((connection.remote_address or ("unknown",))[0])
        wait = self.throttle.wait(charge_point_id, address)
        if wait:
            return self._deferred(connection, 429, wait)
        if self._pending >= AUTH_QUEUE:
            return self._deferred(connection, 503, 1)
        self._pending += 1
        self.throttle.checking(address, True)
        try:
            accepted = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(
                    self._executor, auth.check_basic_auth, charge_point_id, authorization
                ),
                AUTH_WAIT_SECONDS,
            )
        except TimeoutError:  # a check still queued is dropped with its request
            return self._deferred(connection, 503, 1)
        except Exception:  # the password could not be read: the charger is not at fault
            log.exception(json.dumps({"event": "login-check-failed", "chargePointId": charge_point_id}))
            return _refusal(connection, 503, "credentials cannot be checked now: retry later\n", {"Retry-After": "5"})
        finally:
            self._pending -= 1
            self.throttle.checking(address, False)
        if accepted:
            self.throttle.succeeded(charge_point_id)
            return None
        self.throttle.failed(charge_point_id, address)
        self.counts["loginsFailed"] += 1
        return _refusal(
            connection,
            401,
            "HTTP Basic credentials of this charge point required\n",
            {"WWW-Authenticate": 'Basic realm="OCPP", charset="UTF-8"'},
        )

    def _deferred(self, connection: ServerConnection, status: int, seconds: int) -> Response:
        """Come back later: 429 while this charger or address is backed off, 503 when the gateway has too
        many logins to check."""
        self.counts["loginsDeferred"] += 1
        return _refusal(connection, status, f"too many logins: retry in {seconds} s\n", {"Retry-After": str(seconds)})


def _lowest_cpu_priority() -> None:
    """Nice 19 for the calling thread: on Linux a thread's priority is its own."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _refusal(connection: ServerConnection, status: int, text: str, headers: dict[str, str]) -> Response:
    response = connection.respond(status, text)
    response.headers.update(headers)
    return response
