"""How fast the gateway takes new chargers: a boot storm (a power cut ends, a gateway restarts and every
charger comes at once) is taken at a steady rate instead of all at once.

A new socket costs far more than a connected charger's frames: its presence write, then BootNotification,
its statuses and, soon, a transaction, all within seconds. Taken all at once, ten thousand of them would
queue every frame (the connected chargers' too) far beyond a charger's answer timeout. So new sockets are
admitted at a rate (with a small burst); a charger beyond it is refused before the upgrade with 503 and a
Retry-After that is its own slot in the schedule, kept for it: when it comes back then, it is admitted.
Slots are promised only HORIZON_SECONDS ahead, so that the rate of a storm's first seconds does not fix
the schedule of the ten thousand behind: those are told to come back later (a random 1-4 horizons, no
slot kept) and take a slot at the rate of then. The rate follows the gateway's backlog
(frames and writes waiting for a worker), at most once a second: halved above BACKLOG_HIGH, raised by
RATE_STEP below BACKLOG_LOW, so the storm goes as fast as the backend answers. Chargers whose socket was lost
moments ago (gateway_presence) are let in at once: they are online already and cost no write.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

# Slots not taken this long after their time are forgotten (the charger went elsewhere).
PROMISE_SECONDS = 60.0
PRUNE_AT = 50_000
HORIZON_SECONDS = 30.0
# About half a second of work for the gateway on a 2-core machine (about 100 frames a second), and half that.
BACKLOG_HIGH, BACKLOG_LOW = 50, 25
# It starts slow, as the backend's speed is not known: rates promised cannot be taken back.
START_RATE, MIN_RATE, RATE_STEP = 5.0, 2.0, 2.0


class Admission:
    """`backlog()` is the gateway's work waiting or running; `rate` the highest rate (per second)."""

    def __init__(self, backlog: Callable[[], int], rate: float, burst: int, start: float = START_RATE) -> None:
        self._backlog, self.max_rate, self.burst = backlog, rate, burst
        self.rate = min(start, rate)
        self._next = 0.0  # the next free slot (monotonic)
        self._adjusted = 0.0
        self._promised: dict[str, float] = {}
        self._random = random.Random()

    def _adjust(self, now: float) -> None:
        if now - self._adjusted < 1:
            return
        self._adjusted = now
        backlog = self._backlog()
        if backlog > BACKLOG_HIGH:
            self.rate = max(MIN_RATE, self.rate / 2)
        elif backlog < BACKLOG_LOW:
            self.rate = min(self.max_rate, self.rate + RATE_STEP)

    def wait(self, charge_point_id: str, now: float | None = None) -> int:
        """0: admit this charger now; otherwise the seconds after which it will be admitted."""
        now = time.monotonic() if now is None else now
        self._adjust(now)
        promised = self._promised.pop(charge_point_id, None)
        if promised is not None and promised <= now + 0.5:
            return 0
        if promised is not None:
            self._promised[charge_point_id] = promised  # early: its slot stays
            return math.ceil(promised - now)
        slot = max(now, self._next)
        if slot - now > HORIZON_SECONDS:
            return math.ceil(HORIZON_SECONDS * self._random.uniform(1, 4))
        self._next = slot + 1 / self.rate
        if slot - now <= self.burst / self.rate:
            return 0
        if len(self._promised) >= PRUNE_AT:
            self._promised = {cp: at for cp, at in self._promised.items() if at > now - PROMISE_SECONDS}
        self._promised[charge_point_id] = slot
        return math.ceil(slot - now)
