"""The central system's commands over the gateway's sockets (the rest of a command's life is commands.py):
the gateway polls its own outbox in the Commands table, sends each command's CALL on its charger's socket,
keeps at most one CALL outstanding per charger, records the charger's answer, and times out a command
nobody answers."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from chalicelib import commands, ocpp_frames
from chalicelib import settings as settings_module

log = logging.getLogger("ev.ocpp_gateway")


@dataclass
class Link:
    """One charger's open socket, and the uniqueId of the central system's CALL it has not answered yet."""

    charge_point_id: str
    connection_id: str
    websocket: ServerConnection
    awaiting: str | None = None
    online_recorded: bool = False


class CommandOutbox:
    """One gateway's commands: `links` are its chargers' open sockets (the gateway's own), `blocking` runs
    a function in the gateway's thread pool."""

    def __init__(
        self, gateway_id: str, links: dict[str, Link], counts: Counter[str], blocking: Callable[..., Awaitable[Any]]
    ) -> None:
        self.gateway_id = gateway_id
        self.links = links
        self.counts = counts
        self._blocking = blocking

    def closed(self, link: Link) -> None:
        """Blocking, after a charger's socket closed: the command it did not answer fails."""
        if link.awaiting is not None:
            commands.fail(
                link.charge_point_id, link.awaiting, "GenericError", "the charger disconnected before answering"
            )

    async def record_answer(self, link: Link, unique_id: ocpp_frames.UniqueId | None, message: str | bytes) -> None:
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

    async def poll(self) -> None:
        """Forever: every OUTBOX_POLL_SECONDS, the commands in this gateway's outbox go to their chargers."""
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
            asyncio.ensure_future(self._blocking(commands.time_out, link.charge_point_id, command_id))
