"""The OCPP 1.6J WebSocket endpoint, ws://HOST:PORT/ocpp/{chargePointId}: the transport real chargers use.

Transport only: frames in and out, which charger is on which socket, and the one CALL outstanding in
each direction. Every CALL from a charger is answered by central_system.handle, the same function
behind the HTTP and event-bus transports (in a thread pool: it makes blocking DynamoDB calls). Remote
commands come from the REST API through the Commands table (see chalicelib/commands.py): the gateway
polls its own outbox there (gateway_commands.py), so the API may run in another process or machine.

Nothing slow runs on the event loop, which every charger's frames share: storage calls and frame
handling run in one thread pool, password checks (a read and a deliberately slow hash) in a small one of
their own, behind a back-off for failed logins (gateway_login.py). `GET /health` on the same port tells a
load balancer whether the gateway can serve (gateway_health.py). Its imports are ocpp, websockets and boto3 only.

    python -m chalicelib.ocpp_gateway --port 9000        # on its own, against AWS_ENDPOINT_URL_DYNAMODB or AWS
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from chalicelib import central_system, gateway_admission, login_throttle, ocpp_frames, storage
from chalicelib import settings as settings_module
from chalicelib.gateway_admission import Admission
from chalicelib.gateway_commands import CommandOutbox, Link
from chalicelib.gateway_health import Health
from chalicelib.gateway_login import LoginGate
from chalicelib.gateway_presence import DEFAULT_GRACE_SECONDS, Presence

PATH_PREFIX = "/ocpp/"
HEALTH_PATH = "/health"
SUBPROTOCOL = Subprotocol("ocpp1.6")
# botocore keeps 10 pooled connections per client: more threads than that would only queue for them.
WORKERS = 10
# A frame up to this many times OCPP_MAX_FRAME_BYTES is read and refused with a CALLERROR; a larger one
# closes the socket (1009), as reading it would let one charger hold any amount of memory.
READABLE_FRAME_FACTOR = 2
# New sockets admitted per second at most, and at once (gateway_admission.py: the rate follows the measured
# capacity and what the chargers let in still cost).
ADMIT_PER_SECOND, ADMIT_BURST = 50.0, 10
log = logging.getLogger("ev.ocpp_gateway")


def charge_point_id_of(path: str) -> str | None:
    """The charge point id of /ocpp/{id} (percent-decoded, one trailing slash tolerated), or None for
    any other path: /ocpp/ alone, or a deeper one."""
    path = path.partition("?")[0]
    if not path.startswith(PATH_PREFIX):
        return None
    segment = path[len(PATH_PREFIX) :].removesuffix("/")
    return unquote(segment) if segment and "/" not in segment else None


def _select_subprotocol(connection: ServerConnection, offered: Sequence[Subprotocol]) -> Subprotocol | None:
    """ocpp1.6 when offered. Otherwise no subprotocol: OCPP-J 3.1.2 wants the handshake completed
    without one and the socket then closed (see _session), not an HTTP error."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class Gateway:
    def __init__(
        self,
        handle: Callable[..., list] = central_system.handle,
        gateway_id: str | None = None,
        throttle: login_throttle.LoginThrottle | None = None,
        admit_per_second: float = ADMIT_PER_SECOND,
        offline_grace: float = DEFAULT_GRACE_SECONDS,
        capacity: float = gateway_admission.START_CAPACITY,
    ) -> None:
        self.handle = handle
        self.gateway_id = gateway_id or f"gw-{uuid.uuid4().hex[:12]}"
        self.links: dict[str, Link] = {}
        self.counts: Counter[str] = Counter()
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ocpp-gateway")
        self._login = LoginGate(self.counts, throttle)
        self._health = Health(self._blocking)
        self._outbox = CommandOutbox(self.gateway_id, self.links, self.counts, self._blocking)
        self._admission = Admission(admit_per_second, ADMIT_BURST, WORKERS, capacity=capacity)
        self._presence = Presence(self._record_presence, self._recorded_connections, self.counts, offline_grace)
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
            # No permessage-deflate: its zlib state is about 40 KB per socket for frames of a few hundred
            # bytes every few minutes, and OCPP 1.6J chargers do not need it (docs/capacity.md).
            compression=None,
            # A boot storm's connections wait in the kernel's queue until accepted (and answered, perhaps
            # with a Retry-After): asyncio's default of 100 would drop the rest and leave them to SYN retries.
            backlog=4096,
            ping_interval=30,
            ping_timeout=30,
        )
        if settings.ocpp_auth == "basic":
            self._login.warm_up()
        self._poller = asyncio.get_running_loop().create_task(self._outbox.poll())
        return self._server

    async def close(self) -> None:
        """Stop listening, close every charger's socket (each is recorded offline) and stop polling."""
        if self._server is None or self._poller is None:
            return  # never started
        self._server.close()
        await self._server.wait_closed()
        await self._presence.flush()
        self._poller.cancel()

    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the gateway is not started")
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}{PATH_PREFIX}"

    async def _blocking(self, function: Callable, *args: Any, charger: str | None = None) -> Any:
        """Run `function` on a worker; `charger` is the charge point whose work it is (the admission counts
        what a new charger costs)."""
        self._admission.started(charger)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
        finally:
            self._admission.finished()

    # -- the upgrade request ----------------------------------------------------------------------

    async def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer GET /health, and refuse before the upgrade: a path that is not /ocpp/{id}, an invalid
        id, or (security profile 1) missing or wrong HTTP Basic credentials."""
        if request.path.partition("?")[0] == HEALTH_PATH:
            return await self._health.response(connection, self.gateway_id, len(self.links))
        charge_point_id = charge_point_id_of(request.path)
        if charge_point_id is None:
            return connection.respond(404, f"Connect to {PATH_PREFIX}{{chargePointId}}\n")
        if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
            return connection.respond(400, f"The charge point id must be {ocpp_frames.CHARGE_POINT_ID_RULE}\n")
        if not self._presence.returning(charge_point_id) and (wait := self._admission.wait(charge_point_id)):
            self.counts["admissionsDeferred"] += 1
            # Said in words for people and for the load generator, which counts a kept slot refused again.
            kept = "your slot is kept" if self._admission.holds_slot(charge_point_id) else "no slot is kept"
            response = connection.respond(503, f"too many chargers connecting: retry in {wait} s ({kept})\n")
            response.headers["Retry-After"] = str(wait)
            return response
        if settings_module.get().ocpp_auth == "basic":
            headers = request.headers.get_all("Authorization")
            return await self._login.admit(connection, charge_point_id, headers[0] if len(headers) == 1 else None)
        return None

    # -- one charger's session --------------------------------------------------------------------

    async def _session(self, websocket: ServerConnection) -> None:
        if websocket.subprotocol != SUBPROTOCOL:
            self.counts["noSubprotocol"] += 1
            await websocket.close(1002, f"subprotocol {SUBPROTOCOL} required")
            return
        # _check_request let only /ocpp/{valid id} through to here.
        charge_point_id = charge_point_id_of(websocket.request.path if websocket.request else "")
        if charge_point_id is None:
            raise RuntimeError("a session without a charge point id")
        link = Link(charge_point_id, uuid.uuid4().hex, websocket)
        previous = self.links.get(link.charge_point_id)
        self.links[link.charge_point_id] = link
        if previous is not None:
            # A charger that reconnects has lost the old socket, whatever the server thinks of it.
            await previous.websocket.close(1000, "replaced by a newer connection")
        self.counts["connections"] += 1
        await self._presence.opened(link)
        try:
            async for message in websocket:
                await self._receive(link, message)
        except ConnectionClosed:
            pass
        finally:
            if self.links.get(link.charge_point_id) is link:
                del self.links[link.charge_point_id]
            if link.awaiting is not None:
                await self._blocking(self._outbox.closed, link)
            await self._presence.closed(link, lost=websocket.protocol.close_rcvd is None)

    def _record_online(self, link: Link, online: bool) -> bool:
        seen = ocpp_frames.format_timestamp(ocpp_frames.now())
        return storage.set_online(link.charge_point_id, online, seen, link.connection_id, self.gateway_id)

    async def _record_presence(self, link: Link, online: bool) -> bool:
        return await self._blocking(self._record_online, link, online, charger=link.charge_point_id)

    async def _recorded_connections(self, charge_point_ids: list[str]) -> dict[str, str | None]:
        return await self._blocking(storage.online_connections, charge_point_ids)

    async def _receive(self, link: Link, message: str | bytes) -> None:
        received_at = ocpp_frames.now()
        # Only the head is read here: parsing a frame of megabytes would hold up every other charger.
        head = ocpp_frames.peek(message)
        if head.message_type in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR):
            await self._outbox.record_answer(link, head.unique_id, message)
            return
        try:
            answer = await self._blocking(
                self.handle, link.charge_point_id, message, received_at, charger=link.charge_point_id
            )
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
            link.online_recorded = await self._blocking(self._record_online, link, True, charger=link.charge_point_id)
        try:
            await link.websocket.send(json.dumps(answer, separators=(",", ":")))
        except ConnectionClosed:
            # The charger closed before this answer (a reset sends its stops and hangs up): the frames it
            # sent before closing are still read and applied by _session's loop; only answers are lost.
            self.counts["answersLost"] += 1
            return
        self.counts["answered" if answer[0] == ocpp_frames.CALLRESULT else "callErrors"] += 1


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


async def _serve_forever(host: str, port: int, admit_per_second: float, offline_grace: float, capacity: float) -> None:
    gateway = Gateway(admit_per_second=admit_per_second, offline_grace=offline_grace, capacity=capacity)
    await gateway.start(host, port)
    print(f"OCPP 1.6J gateway {gateway.gateway_id} listening on {gateway.url()}{{chargePointId}}", flush=True)  # noqa: T201 (console banner)
    await asyncio.Future()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The OCPP 1.6J WebSocket gateway on its own.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    parser.add_argument("--port", type=int, default=None, help="port (default OCPP_PORT, 9000)")
    parser.add_argument(
        "--admit-per-second",
        type=float,
        default=ADMIT_PER_SECOND,
        help="new chargers' sockets taken per second, at most",
    )
    parser.add_argument(
        "--offline-grace",
        type=float,
        default=DEFAULT_GRACE_SECONDS,
        help="seconds a lost socket's charger stays online, waiting for it to reconnect (0: none)",
    )
    parser.add_argument(
        "--capacity",
        type=float,
        default=gateway_admission.START_CAPACITY,
        help="the tasks a second this gateway answers, when known (the `capacity` of its admission log lines): "
        "a boot storm then starts at that pace instead of measuring it from a slow start",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("ev.gateway_admission").setLevel(logging.INFO)  # a storm's figures, every 10 s
    try:
        asyncio.run(
            _serve_forever(
                args.host,
                args.port or settings_module.get().ocpp_port,
                args.admit_per_second,
                args.offline_grace,
                args.capacity,
            )
        )
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
