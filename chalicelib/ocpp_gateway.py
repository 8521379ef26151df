"""The OCPP 1.6J WebSocket endpoint, ws://HOST:PORT/ocpp/{chargePointId}: the transport real chargers use.

Transport only: frames in and out, which charger is on which socket, and the one CALL outstanding in
each direction. Every CALL from a charger is answered by central_system.handle, the same function
behind the HTTP and event-bus transports (in a thread pool: it makes blocking DynamoDB calls). Remote
commands come from the REST API through the Commands table (see chalicelib/commands.py): the gateway
polls its own outbox there, so the API may run in another process or machine than the socket.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from chalicelib import central_system, commands, ocpp_frames, storage
from chalicelib import settings as settings_module

PATH_PREFIX = "/ocpp/"
SUBPROTOCOL = "ocpp1.6"
# botocore keeps 10 pooled connections per client: more threads than that would only queue for them.
WORKERS = 10
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
    """The charge point id: the last segment of /ocpp/.../{id} (percent-decoded), or None."""
    path = urlsplit(path).path
    if not path.startswith(PATH_PREFIX):
        return None
    return unquote(path.rstrip("/").rsplit("/", 1)[-1])


class Gateway:
    def __init__(self, handle: Callable[..., list] = central_system.handle, gateway_id: str | None = None) -> None:
        self.handle = handle
        self.gateway_id = gateway_id or f"gw-{uuid.uuid4().hex[:12]}"
        self.links: dict[str, Link] = {}
        self.counts: Counter[str] = Counter()
        self._executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ocpp-gateway")
        self._server: Server | None = None
        self._poller: asyncio.Task | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> Server:
        self._server = await serve(self._session, host, port, subprotocols=[SUBPROTOCOL],
                                   process_request=self._check_request, max_size=ocpp_frames.MAX_FRAME_BYTES,
                                   ping_interval=30, ping_timeout=30)
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

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Refuse before the upgrade: a path that is not /ocpp/{id}, an invalid id, or (security
        profile 1) missing or wrong HTTP Basic credentials. Subprotocol negotiation follows: a client
        offering no `ocpp1.6` gets 400 from websockets itself."""
        charge_point_id = charge_point_id_of(request.path)
        if charge_point_id is None:
            return connection.respond(404, f"Connect to {PATH_PREFIX}{{chargePointId}}\n")
        if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
            return connection.respond(400, "The charge point id must be 1-48 letters, digits or ._:@-\n")
        if settings_module.get().ocpp_auth == "basic":
            from chalicelib import auth

            if not auth.check_basic_auth(charge_point_id, request.headers.get("Authorization")):
                response = connection.respond(401, "HTTP Basic credentials of this charge point required\n")
                response.headers["WWW-Authenticate"] = 'Basic realm="OCPP", charset="UTF-8"'
                return response
        return None

    # -- one charger's session --------------------------------------------------------------------

    async def _session(self, websocket: ServerConnection) -> None:
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
            commands.fail(link.charge_point_id, link.awaiting, "GenericError", "the charger disconnected before answering")

    async def _receive(self, link: Link, message: str | bytes) -> None:
        received_at = ocpp_frames.now()
        try:
            frame = ocpp_frames.decode(message)
        except ocpp_frames.FrameError:
            frame = None  # central_system.handle answers (and counts) it like any malformed frame
        if frame is not None and frame[0] in (ocpp_frames.CALLRESULT, ocpp_frames.CALLERROR) and len(frame) >= 3:
            await self._answer_to_command(link, frame)
            return
        answer = await self._blocking(self.handle, link.charge_point_id, message, received_at)
        if answer[1] == ocpp_frames.NO_ID:
            # Nothing identifies the frame, so no CALLERROR can refer to it (OCPP-J 4.2.3).
            self.counts["unanswerable"] += 1
            log.warning(json.dumps({"event": "unanswerable-frame", "chargePointId": link.charge_point_id,
                                    "error": answer[3]}))
            return
        if (not link.online_recorded and frame and len(frame) > 2 and frame[2] == "BootNotification"
                and answer[0] == ocpp_frames.CALLRESULT and answer[2].get("status") in ("Accepted", "Pending")):
            # Its first accepted (or pending: OCPP 1.6 4.2 lets the central system configure it) boot created the
            # charge point: the connection can now be recorded, before the answer, so that the charger is online
            # (and takes commands) once it knows its registration.
            link.online_recorded = await self._blocking(self._record_online, link, True)
        await link.websocket.send(json.dumps(answer, separators=(",", ":")))
        self.counts["answered" if answer[0] == ocpp_frames.CALLRESULT else "callErrors"] += 1

    async def _answer_to_command(self, link: Link, frame: list) -> None:
        if frame[1] != link.awaiting:
            self.counts["unexpectedAnswers"] += 1
            log.warning(json.dumps({"event": "unexpected-answer", "chargePointId": link.charge_point_id,
                                    "messageId": str(frame[1])[:40]}))
            return
        link.awaiting = None
        self.counts["commandAnswers"] += 1
        await self._blocking(commands.record_answer, link.charge_point_id, frame)

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
            await self._blocking(commands.fail, charge_point_id, command_id, "GenericError",
                                 "the charger disconnected before the command was sent")
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
            asyncio.get_running_loop().run_in_executor(self._executor, commands.time_out, link.charge_point_id, command_id)


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
    print(f"OCPP 1.6J gateway {gateway.gateway_id} listening on {gateway.url()}{{chargePointId}}", flush=True)
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
