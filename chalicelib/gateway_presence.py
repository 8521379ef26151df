"""Which chargers this gateway has recorded online, and when a closed socket is recorded offline.

A charger that closes its socket properly (a close frame) is recorded offline at once. One whose socket is
lost (no close frame: a network failure, a restarted router, a load balancer's idle timeout) usually comes
back within seconds: its offline write waits `grace` seconds, and a new socket of the same charger on this
gateway within them takes over the recorded connection with no write at all. So a reconnect storm of N
chargers costs no presence writes instead of 2N, which the table would otherwise take while every other
frame waits. A charger that does not come back is recorded offline `grace` seconds late (commands sent to
it meanwhile fail as for any lost socket).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from chalicelib.gateway_commands import Link

# Long enough for a charger's reconnect back-off after a lost socket (OCPP 2.0.1's default RetryBackOff
# wait is 30 s + up to 10 s random, and 1.6 chargers are alike) and a 60 s reconnect storm.
DEFAULT_GRACE_SECONDS = 90.0


class Presence:
    """`record(link, online)` writes a charger's presence (in the gateway's thread pool) and says whether
    the charge point is registered."""

    def __init__(self, record: Callable[[Link, bool], Awaitable[bool]], counts: Counter[str], grace: float) -> None:
        self._record, self.counts, self.grace = record, counts, grace
        self._lost: dict[str, tuple[Link, asyncio.TimerHandle]] = {}

    def returning(self, charge_point_id: str) -> bool:
        """Whether this charger's socket was lost here within the grace: it is online already."""
        return charge_point_id in self._lost

    async def opened(self, link: Link) -> None:
        lost = self._lost.pop(link.charge_point_id, None)
        if lost is None:
            link.online_recorded = await self._record(link, True)
            return
        previous, timer = lost
        timer.cancel()
        link.connection_id, link.online_recorded = previous.connection_id, previous.online_recorded
        self.counts["resumed"] += 1

    async def closed(self, link: Link, lost: bool) -> None:
        """A socket of this gateway closed (`lost`: without a close frame)."""
        if not lost or self.grace <= 0:
            await self._record(link, False)
            return
        timer = asyncio.get_running_loop().call_later(self.grace, self._expire, link)
        self._lost[link.charge_point_id] = (link, timer)

    def _expire(self, link: Link) -> None:
        entry = self._lost.get(link.charge_point_id)
        if entry is not None and entry[0] is link:
            del self._lost[link.charge_point_id]
            asyncio.ensure_future(self._record(link, False))

    async def flush(self) -> None:
        """The gateway stops: every lost socket still in its grace is recorded offline now."""
        lost, self._lost = list(self._lost.values()), {}
        for link, timer in lost:
            timer.cancel()
            await self._record(link, False)
