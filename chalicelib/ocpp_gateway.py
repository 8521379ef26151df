"""The OCPP 1.6J WebSocket endpoint, ws://HOST:PORT/ocpp/{chargePointId}: the transport real chargers use.

Transport only: frames in and out, which charger is on which socket, and the one CALL outstanding in
each direction. Every CALL from a charger is answered by central_system.handle, the same function
behind the HTTP and event-bus transports (in a thread pool: it makes blocking DynamoDB calls). Remote
commands come from the REST API through the Commands table (see chalicelib/commands.py): the gateway
polls its own outbox there, so the API may run in another process or machine than the socket.

Nothing slow runs on the event loop, which every charger's frames share: storage calls and frame
handling run in one thread pool, password checks (a read and a deliberately slow hash) in a small one of
their own, behind a back-off for failed logins (chalicelib/login_throttle.py). `GET /health` on the same
port tells a load balancer whether the gateway can serve. Its imports are ocpp, websockets and boto3 only.

    python -m chalicelib.ocpp_gateway --port 9000        # on its own, against AWS_ENDPOINT_URL_DYNAMODB or AWS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chalicelib import auth, central_system, commands, login_throttle, ocpp_frames, storage
from chalicelib import settings as settings_module

PATH_PREFIX = "/ocpp/"
HEALTH_PATH = "/health"
SUBPROTOCOL = "ocpp1.6"
# botocore keeps 10 pooled connections per client: more threads than that would only queue for them.
WORKERS = 10
# Password checks get threads of their own, so that a flood of logins never delays a charger's frames.
# PBKDF2 releases the GIL; one core is left to the loop and the frame handlers, and the checks run at the
# lowest CPU priority, so that on a busy machine they wait rather than the connected chargers.
AUTH_WORKERS = max(1, (os.cpu_count() or 1) - 1)
# Checks waiting or running: beyond this an upgrade is asked to come back (503) rather than queued; so is
# one whose check has not finished in AUTH_WAIT_SECONDS (well within websockets' 10 s opening handshake).
AUTH_QUEUE, AUTH_WAIT_SECONDS = 32, 5.0
# A load balancer's checks every few seconds cost at most one DynamoDB read per this many seconds.
HEALTH_CACHE_SECONDS, HEALTH_TIMEOUT_SECONDS = 5.0, 2.0
# A frame up to this many times OCPP_MAX_FRAME_BYTES is read and refused with a CALLERROR; a larger one
# closes the socket (1009), as reading it would let one charger hold any amount of memory.
READABLE_FRAME_FACTOR = 2
log = logging.getLogger("ev.ocpp_gateway")


@dataclass
class Link:
    """One charger's open socket, and the uniqueId of the central system's CALL it has not answered yet."""

    charge_point_id: str
    connection_id: str
    websocket: ServerConnection
    awaiting: str | None = None
    online_recorded: bool = False


def charge_point_id_of(path: str) -> str | None:
    """The charge point id of /ocpp/{id} (percent-decoded, one trailing slash tolerated), or None for
    any other path: /ocpp/ alone, or a deeper one."""
    path = path.partition("?")[0]
    if not path.startswith(PATH_PREFIX):
        return None
    segment = path[len(PATH_PREFIX) :].removesuffix("/")
    return unquote(segment) if segment and "/" not in segment else None


def _select_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
    """ocpp1.6 when offered. Otherwise no subprotocol: OCPP-J 3.1.2 wants the handshake completed
    without one and the socket then closed (see _session), not an HTTP error."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class Gateway:
    def __init__(
        self,
        handle: Callable[..., list] = central_system.handle,
        gateway_id: str | None = None,
        throttle: login_throttle.LoginThrottle | None = None,
    ) -> None:
        self.handle = handle
        self.gateway_id = gateway_id or f"gw-{uuid.uuid4().hex[:12]}"
        self.links: dict[str, Link] = {}
        self.counts: Counter[str] = Counter()
        self.throttle = throttle or login_throttle.LoginThrottle()
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ocpp-gateway")
        self._auth_executor = ThreadPoolExecutor(
            max_workers=AUTH_WORKERS, thread_name_prefix="ocpp-auth", initializer=_lowest_cpu_priority
        )
        self._auth_pending = 0
        self._health: asyncio.Future | None = None
        self._health_at = 0.0
        self._server: Server | None = None
        self._poller: asyncio.Task | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> Server:
        settings = settings_module.get()
        self._server = await serve(
            self._session,
            host,
            port,
            select_subprotocol=_select_subprotocol,
            process_request=self._check_request,
            max_size=settings.ocpp_max_frame_bytes * READABLE_FRAME_FACTOR,
            ping_interval=30,
            ping_timeout=30,
        )
        if settings.ocpp_auth == "basic":
            self._auth_executor.submit(auth.hash_of_nobody)  # its first use would be slower than a wrong password
        self._poller = asyncio.get_running_loop().create_task(self._poll_outbox())
        return self._server

    async def close(self) -> None:
        """Stop listening, close every charger's socket (each is recorded offline) and stop polling."""
        self._server.close()
        await self._server.wait_closed()
        self._poller.cancel()

    def url(self) -> str:
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}{PATH_PREFIX}"

    async def _blocking(self, function: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # -- the upgrade request ----------------------------------------------------------------------

    async def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer GET /health, and refuse before the upgrade: a path that is not /ocpp/{id}, an invalid
        id, or (security profile 1) missing or wrong HTTP Basic credentials."""
        if request.path.partition("?")[0] == HEALTH_PATH:
            return await self._health_response(connection)
        charge_point_id = charge_point_id_of(request.path)
        if charge_point_id is None:
            return connection.respond(404, f"Connect to {PATH_PREFIX}{{chargePointId}}\n")
        if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
            return connection.respond(400, f"The charge point id must be {ocpp_frames.CHARGE_POINT_ID_RULE}\n")
        if settings_module.get().ocpp_auth == "basic":
            headers = request.headers.get_all("Authorization")
            return await self._authenticate(connection, charge_point_id, headers[0] if len(headers) == 1 else None)
        return None

    async def _authenticate(
        self, connection: ServerConnection, charge_point_id: str, authorization: str | None
    ) -> Response | None:
        """None when the credentials are this charger's; otherwise the refusal, at once while this charger
        or this address is backed off. Unknown charger and wrong password take the same time (auth)."""
        address = str((connection.remote_address or ("unknown",))[0])
        wait = self.throttle.wait(charge_point_id, address)
        if wait:
            return self._deferred(connection, 429, wait)
        if self._auth_pending >= AUTH_QUEUE:
            return self._deferred(connection, 503, 1)
        self._auth_pending += 1
        self.throttle.checking(address, True)
        try:
            accepted = await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(
                    self._auth_executor, auth.check_basic_auth, charge_point_id, authorization
                ),
                AUTH_WAIT_SECONDS,
            )
        except TimeoutError:  # a check still queued is dropped with its request
            return self._deferred(connection, 503, 1)
        except Exception:  # the password could not be read: the charger is not at fault
            log.exception(json.dumps({"event": "login-check-failed", "chargePointId": charge_point_id}))
            return _refusal(connection, 503, "credentials cannot be checked now: retry later\n", {"Retry-After": "5"})
        finally:
            self._auth_pending -= 1
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

    # -- health, for a load balancer ---------------------------------------------------------------

    async def _health_response(self, connection: ServerConnection) -> Response:
        problem = await self._health_problem()
        body = {"status": "unavailable", "problem": problem} if problem else {"status": "ok"}
        response = connection.respond(
            503 if problem else 200,
            json.dumps({**body, "gatewayId": self.gateway_id, "chargers": len(self.links)}) + "\n",
        )
        del response.headers["Content-Type"]  # respond() made it text/plain
        response.headers["Content-Type"] = "application/json"
        return response

    async def _health_problem(self) -> str | None:
        """What stops the gateway from serving (None: nothing), found at most every HEALTH_CACHE_SECONDS
        by one check that concurrent health requests share."""
        if self._health is None or (self._health.done() and time.monotonic() - self._health_at >= HEALTH_CACHE_SECONDS):
            self._health_at = time.monotonic()
            self._health = asyncio.ensure_future(self._check_health())
        return await asyncio.shield(self._health)

    async def _check_health(self) -> str | None:
        try:
            return await asyncio.wait_for(self._blocking(_serving_problem), HEALTH_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning(json.dumps({"event": "health-timeout", "seconds": HEALTH_TIMEOUT_SECONDS}))
            return "storage does not answer"

    # -- one charger's session --------------------------------------------------------------------

    async def _session(self, websocket: ServerConnection) -> None:
        if websocket.subprotocol != SUBPROTOCOL:
            self.counts["noSubprotocol"] += 1
            await websocket.close(1002, f"subprotocol {SUBPROTOCOL} required")
            return
        link = Link(charge_point_id_of(websocket.request.path), uuid.uuid4().hex, websocket)
        previous = self.links.get(link.charge_point_id)
        self.links[link.charge_point_id] = link
        if previous is not None:
            # A charger that reconnects has lost the old socket, whatever the server thinks of it.
            await previous.websocket.close(1000, "replaced by a newer connection")
        self.counts["connections"] += 1
        link.online_recorded = await self._blocking(self._record_online, link, True)
        try:
            async for message in websocket:
                await self._receive(link, message)
        except ConnectionClosed:
            pass
        finally:
            if self.links.get(link.charge_point_id) is link:
                del self.links[link.charge_point_id]
            await self._blocking(self._closed, link)

    def _record_online(self, link: Link, online: bool) -> bool:
        seen = ocpp_frames.format_timestamp(ocpp_frames.now())
        return storage.set_online(link.charge_point_id, online, seen, link.connection_id, self.gateway_id)

    def _closed(self, link: Link) -> None:
        self._record_online(link, False)
        if link.awaiting is not None:
            commands.fail(
                link.charge_point_id, link.awaiting, "GenericError", "the charger disconnected before answering"
            )

    async def _receive(self, link: Link, message: str | bytes) -> None:
        received_at = ocpp_frames.now()
        # Only the head is read here: parsing a frame of megabytes would hold up every other charger.
        head = ocpp_frames.peek(message)
        if head.message_type in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR):
            await self._answer_to_command(link, head.unique_id, message)
            return
        try:
            answer = await self._blocking(self.handle, link.charge_point_id, message, received_at)
        except Exception:  # a bug must not cost the charger its connection: it gets a CALLERROR
            self.counts["internalErrors"] += 1
            log.exception(json.dumps({"event": "handler-failed", "chargePointId": link.charge_point_id}))
            answer = ocpp_frames.call_error(
                ocpp_frames.NO_ID if head.unique_id is None else head.unique_id,
                "InternalError",
                "the central system failed to process this message",
            )
        if answer[1] == ocpp_frames.NO_ID:
            # Nothing identifies the frame, so no CALLERROR can refer to it (OCPP-J 4.2.3).
            self.counts["unanswerable"] += 1
            log.warning(
                json.dumps({"event": "unanswerable-frame", "chargePointId": link.charge_point_id, "error": answer[3]})
            )
            return
        if (
            not link.online_recorded
            and head.action == "BootNotification"
            and answer[0] == ocpp_frames.CALLRESULT
            and answer[2].get("status") in ("Accepted", "Pending")
        ):
            # Its first accepted (or pending: OCPP 1.6 4.2 lets the central system configure it) boot created
            # the charge point: the connection can now be recorded, before the answer, so that the charger is
            # online (and takes commands) once it knows its registration.
            link.online_recorded = await self._blocking(self._record_online, link, True)
        await link.websocket.send(json.dumps(answer, separators=(",", ":")))
        self.counts["answered" if answer[0] == ocpp_frames.CALLRESULT else "callErrors"] += 1

    async def _answer_to_command(
        self, link: Link, unique_id: ocpp_frames.UniqueId | None, message: str | bytes
    ) -> None:
        """A CALLRESULT or CALLERROR: recorded when it answers the command outstanding (and frees its slot,
        whatever its shape); otherwise only counted, as nothing may answer an answer."""
        if unique_id is None or unique_id != link.awaiting:
            self.counts["unexpectedAnswers"] += 1
            log.warning(
                json.dumps(
                    {
                        "event": "unexpected-answer",
                        "chargePointId": link.charge_point_id,
                        "messageId": str(unique_id)[:40],
                    }
                )
            )
            return
        link.awaiting = None
        self.counts["commandAnswers"] += 1
        try:
            await self._blocking(commands.record_answer, link.charge_point_id, unique_id, message)
        except Exception:  # not recorded: the command times out, the socket stays
            self.counts["internalErrors"] += 1
            log.exception(
                json.dumps(
                    {"event": "answer-not-recorded", "chargePointId": link.charge_point_id, "commandId": unique_id}
                )
            )

    # -- commands from the central system ---------------------------------------------------------

    async def _poll_outbox(self) -> None:
        interval = settings_module.get().outbox_poll_seconds
        while True:
            await asyncio.sleep(interval)
            if not self.links:
                continue
            try:
                for command in await self._blocking(commands.queued_for, self.gateway_id):
                    await self._send_command(command)
            except Exception as error:  # a failed poll is reported and the next one tries again
                log.warning(json.dumps({"event": "outbox-poll-failed", "error": repr(error)}))

    async def _send_command(self, command: dict) -> None:
        charge_point_id, command_id = command["chargePointId"], command["commandId"]
        link = self.links.get(charge_point_id)
        if link is None:
            await self._blocking(
                commands.fail,
                charge_point_id,
                command_id,
                "GenericError",
                "the charger disconnected before the command was sent",
            )
            return
        if link.awaiting is not None or not await self._blocking(commands.mark_sent, command):
            return  # still waiting for the previous answer (it times out), or sent by an earlier poll
        link.awaiting = command_id
        asyncio.get_running_loop().call_later(commands.deadline(command), self._expire, link, command_id)
        try:
            await link.websocket.send(json.dumps(commands.call_frame(command), separators=(",", ":")))
            self.counts["commandsSent"] += 1
        except ConnectionClosed:
            pass  # the session's end fails the command

    def _expire(self, link: Link, command_id: str) -> None:
        if link.awaiting == command_id:
            link.awaiting = None
            asyncio.get_running_loop().run_in_executor(
                self._executor, commands.time_out, link.charge_point_id, command_id
            )


def _lowest_cpu_priority() -> None:
    """Nice 19 for the calling thread: on Linux a thread's priority is its own."""
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _refusal(connection: ServerConnection, status: int, text: str, headers: dict[str, str]) -> Response:
    response = connection.respond(status, text)
    response.headers.update(headers)
    return response


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


class GatewayThread:
    """A gateway on its own asyncio loop in a daemon thread: how `chalice local` and the tests run it
    beside a synchronous process."""

    def __init__(self, host: str, port: int, gateway: Gateway | None = None) -> None:
        self.gateway = gateway or Gateway()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, args=(host, port), daemon=True, name="ocpp-gateway")
        self.thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self.gateway.start(host, port))
        except BaseException as error:  # e.g. the port is taken: reported to the starting thread
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    @property
    def url(self) -> str:
        return self.gateway.url()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.close(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(15)


async def _serve_forever(host: str, port: int) -> None:
    gateway = Gateway()
    await gateway.start(host, port)
    print(f"OCPP 1.6J gateway {gateway.gateway_id} listening on {gateway.url()}{{chargePointId}}", flush=True)  # noqa: T201 (console banner)
    await asyncio.Future()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The OCPP 1.6J WebSocket gateway on its own.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=None, help="port (default OCPP_PORT, 9000)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        asyncio.run(_serve_forever(args.host, args.port or settings_module.get().ocpp_port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
