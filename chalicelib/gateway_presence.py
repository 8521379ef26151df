"""Which chargers this gateway has recorded online, and when a closed socket is recorded offline.

A charger that closes its socket properly (a close frame) is recorded offline at once. One whose socket is
lost (no close frame: a network failure, a restarted router, a load balancer's idle timeout) usually comes
back within seconds: its offline write waits `grace` seconds, and a new socket of the same charger on this
gateway within them takes over the recorded connection with no write at all. So a reconnect storm of N
chargers costs no presence writes instead of 2N, which the table would otherwise take while every other
frame waits. A charger that does not come back is recorded offline `grace` seconds late (commands sent to
it meanwhile fail as for any lost socket).

With several gateways a charger may have gone to another one in between, which recorded it there, and come
back here within the grace: the table then names the other gateway, whose own grace would record it offline
while it is connected here. So a resumed charger's recorded connection is read back a moment later, with
the others resumed meanwhile (1 BatchGetItem per 100), and written back to this gateway only when it moved:
a storm on one gateway still writes nothing. The offline writes are conditional on the connection they end
(storage.set_online), so the other gateway's late one cannot undo this one's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from chalicelib.gateway_commands import Link

# Long enough for a charger's reconnect back-off after a lost socket (OCPP 2.0.1's default RetryBackOff
# wait is 30 s + up to 10 s random, and 1.6 chargers are alike) and a 60 s reconnect storm.
DEFAULT_GRACE_SECONDS = 90.0
# How long a resumed charger waits for its recorded connection to be read back: the resumes of a storm
# share their reads (100 a request); commands to a charger that moved fail for about this long.
CHECK_DELAY_SECONDS = 1.0
CHECK_BATCH = 100  # BatchGetItem's most keys
log = logging.getLogger("ev.ocpp_gateway")


class Presence:
    """`record(link, online)` writes a charger's presence (in the gateway's thread pool) and says whether
    the charge point is registered; `recorded(ids)` reads the connection each registered one of them is
    recorded online on (None: offline)."""

    def __init__(
        self,
        record: Callable[[Link, bool], Awaitable[bool]],
        recorded: Callable[[list[str]], Awaitable[dict[str, str | None]]],
        counts: Counter[str],
        grace: float,
    ) -> None:
        self._record, self._recorded, self.counts, self.grace = record, recorded, counts, grace
        self._lost: dict[str, tuple[Link, asyncio.TimerHandle]] = {}
        # Resumed sockets whose recorded connection is not read back yet, and the writes taking back a charger
        # that moved (its socket's offline write waits for it, or the two could land in either order).
        self._unchecked: dict[str, Link] = {}
        self._reclaiming: dict[str, tuple[Link, asyncio.Future[bool]]] = {}
        self._checker: asyncio.Task[None] | None = None

    def returning(self, charge_point_id: str) -> bool:
        """Whether this charger's socket was lost here within the grace: it is online already."""
        return charge_point_id in self._lost

    async def opened(self, link: Link) -> None:
        # An older socket of this charger still open here is being replaced: its check is moot, and its
        # write taking the charger back must land before this socket's.
        await self._settle(link.charge_point_id, None)
        lost = self._lost.pop(link.charge_point_id, None)
        if lost is None:
            link.online_recorded = await self._record(link, True)
            return
        previous, timer = lost
        timer.cancel()
        link.connection_id, link.online_recorded = previous.connection_id, previous.online_recorded
        self.counts["resumed"] += 1
        self._unchecked[link.charge_point_id] = link
        if self._checker is None or self._checker.done():
            self._checker = asyncio.get_running_loop().create_task(self._check())

    async def closed(self, link: Link, lost: bool) -> None:
        """A socket of this gateway closed (`lost`: without a close frame)."""
        await self._settle(link.charge_point_id, link)
        if not lost or self.grace <= 0:
            await self._record(link, False)
            return
        timer = asyncio.get_running_loop().call_later(self.grace, self._expire, link)
        self._lost[link.charge_point_id] = (link, timer)

    async def _settle(self, charge_point_id: str, link: Link | None) -> None:
        """No check left for this charger's socket (`link`; None: any of its sockets), and its write taking
        the charger back done."""
        if link is None or self._unchecked.get(charge_point_id) is link:
            self._unchecked.pop(charge_point_id, None)
        reclaiming = self._reclaiming.get(charge_point_id)
        if reclaiming is not None and (link is None or reclaiming[0] is link):
            await asyncio.wait([reclaiming[1]])

    def _expire(self, link: Link) -> None:
        entry = self._lost.get(link.charge_point_id)
        if entry is not None and entry[0] is link:
            del self._lost[link.charge_point_id]
            asyncio.ensure_future(self._record(link, False))

    async def _check(self) -> None:
        """Reads back the connection of every resumed charger, a batch at a time, and records here the ones
        recorded meanwhile on another connection or offline (by another gateway)."""
        await asyncio.sleep(CHECK_DELAY_SECONDS)
        while self._unchecked:
            batch = list(itertools.islice(self._unchecked.values(), CHECK_BATCH))
            try:
                recorded = await self._recorded([link.charge_point_id for link in batch])
            except Exception as error:  # read again after a while; the sockets are served meanwhile
                log.warning(json.dumps({"event": "presence-check-failed", "error": repr(error)}))
                await asyncio.sleep(CHECK_DELAY_SECONDS)
                continue
            moved = []
            for link in batch:
                if self._unchecked.get(link.charge_point_id) is not link:
                    continue  # closed, or replaced by a newer socket (checked in a later batch if it resumed)
                del self._unchecked[link.charge_point_id]
                self.counts["presenceChecked"] += 1
                if link.charge_point_id in recorded and recorded[link.charge_point_id] != link.connection_id:
                    write = asyncio.ensure_future(self._record(link, True))
                    self._reclaiming[link.charge_point_id] = (link, write)
                    moved.append((link, write))
            for link, write in moved:
                await self._reclaimed(link, write)

    async def _reclaimed(self, link: Link, write: asyncio.Future[bool]) -> None:
        try:
            link.online_recorded = await write
            self.counts["reclaimed"] += 1
        except Exception as error:  # it stays recorded where it was, as before this check
            log.warning(
                json.dumps({"event": "reclaim-failed", "chargePointId": link.charge_point_id, "error": repr(error)})
            )
        finally:
            entry = self._reclaiming.get(link.charge_point_id)
            if entry is not None and entry[0] is link:
                del self._reclaiming[link.charge_point_id]

    async def flush(self) -> None:
        """The gateway stops: every lost socket still in its grace is recorded offline now."""
        if self._checker is not None:
            self._checker.cancel()
        lost, self._lost = list(self._lost.values()), {}
        for link, timer in lost:
            timer.cancel()
            await self._record(link, False)
