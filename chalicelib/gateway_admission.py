"""How fast the gateway takes new chargers: a boot storm (a power cut ends, a gateway restarts and every
charger comes at once) is taken as fast as the backend answers, and no faster.

A new socket costs far more than a connected charger's frames: its presence write, then BootNotification,
its statuses, a DataTransfer and, some 40 s later, Authorize and StartTransaction: about a dozen tasks for
the gateway's workers over its first minute. The backlog alone shows that work a minute too late: by then
a controller that watches it has let in far more chargers than the workers can answer within a charger's
30 s timeout. So the admission counts what it has already let in:

- capacity: the tasks the worker pool completes per second while every worker is busy (an EWMA). Never
  saturated yet, it grows while the pool serves most of it, so the admission can find out how fast the
  pool is; it starts at START_CAPACITY, slow, as the backend's speed is not known.
- cost: the tasks a new charger brings in its first YOUNG_SECONDS (an EWMA over the chargers let in),
  seeded above the measured dozen so that the first minute, before any charger is old enough to measure,
  errs on the slow side.
- debt: what the chargers let in less than YOUNG_SECONDS ago (and those promised a slot) will still send,
  and debt_seconds: how long a task of it stays owed (an EWMA).
- the settled load: tasks per second brought by every other charger.

A new charger is let in (or promised a slot) only while the debt stays below debt_seconds of spare
capacity (capacity - settled load: what chargers let in at the sustainable rate leave owed), and never
while the backlog is over BACKLOG_SECONDS of work. Slots are spaced at that rate, spare capacity / cost,
and promised only HORIZON_SECONDS ahead, so that a promise never outlives the measurement it came from.
A charger refused is told its slot (503 and a Retry-After) and is let in when it comes back then,
whatever came meanwhile; one beyond the horizon, or while the debt is full, is told to come back later,
with no slot kept: about when the chargers told so before it will have been let in at the current rate (at
least a horizon, at most BACK_OFF_SECONDS, spread over twice that), so that a small storm is taken in
seconds and a big one's chargers do not knock every few seconds: refusals stay cheap.
Chargers whose socket was lost moments ago (gateway_presence) are let in at once by the gateway, without
asking here: they are online already and cost no write; their tasks count as settled load.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("ev.gateway_admission")

YOUNG_SECONDS = 60.0
# Measured: about 11 CALLs and a presence write in a charger's first minute (docs/capacity.md); seeded
# above, as a charger let in cannot be taken back.
START_COST = 14.0
COST_WEIGHT = 0.02  # an EWMA over about 50 chargers
# A 2-core machine's gateway completes 150-200 tasks a second; unknown at first, so a third of that.
START_CAPACITY = 60.0
# Per second of saturated measurement, up and down: a full pool also stalls (DynamoDB Local's pauses, a
# machine shared with other work), and those seconds would hold the estimate, and the storm, far below what
# the pool serves when it runs; measured low, the brake and the debt still bound the queue.
CAPACITY_UP, CAPACITY_DOWN = 0.3, 0.05
REPORT_SECONDS = 10.0
# Never full but serving most of the estimate, the pool may be faster than it was asked to be: the estimate
# grows this much a second (from 60 tasks/s, 200 in 25 s). Serving under USED of it, the estimate is not
# being tested and stays: the estimate never runs past 1/USED of what the pool was seen to serve.
GROWTH, USED = 1.05, 0.6
# How long a task of a new charger's debt stays owed, on average (an EWMA over the chargers let in, like the
# cost): chargers let in at spare / cost a second leave this many seconds of spare capacity in debt behind
# them, so the debt is held to that. Half its tasks come in its first seconds (boot, statuses, DataTransfer),
# most of the rest up to 40 s later (Authorize, StartTransaction): 9-17 s measured in a 3,000-charger storm
# (docs/capacity.md). Seeded above, so that the first minute errs slow.
START_DEBT_SECONDS = 30.0
# The brake: with this many seconds of work waiting for the pool, no new charger, whatever the estimates say.
BACKLOG_SECONDS = 5.0
HORIZON_SECONDS = 10.0
# The back-off of a charger told to come back later, before its spread (up to twice this).
BACK_OFF_SECONDS = 60.0
# A slot not taken this long after its time is forgotten (the charger went elsewhere).
PROMISE_SECONDS = 60.0
MIN_RATE = 1.0
LOAD_WEIGHT = 0.3  # per second: the settled load of the last few seconds


@dataclass
class _Young:
    admitted_at: float
    expected: float  # the cost when it was let in
    sent: int = 0
    owed_seconds: float = 0.0  # over the tasks it has sent: how long after its admission each came


class Admission:
    """The gateway tells it each task given to its workers (`started`, with the charger it serves) and
    finished (`finished`); `wait` answers a new charger. `rate` is the most chargers let in per second,
    `burst` the slots taken at once, `workers` the pool's threads (all of them busy: its full speed)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        workers: int,
        clock: Callable[[], float] = time.monotonic,
        capacity: float = START_CAPACITY,
    ) -> None:
        self.max_rate, self.burst, self.workers, self._clock = rate, burst, workers, clock
        self.capacity, self.cost, self.debt_seconds = capacity, START_COST, START_DEBT_SECONDS
        self.settled_load = 0.0
        self.working = 0
        self.debt = 0.0
        self._young: OrderedDict[str, _Young] = OrderedDict()
        self._promised: OrderedDict[str, tuple[float, float]] = OrderedDict()  # slot, cost; in slot order
        self._waiting: OrderedDict[str, float] = OrderedDict()  # told to come back later: when, oldest first
        self._next = 0.0  # the next free slot
        now = clock()
        self._changed = self._window = now
        self._reported = now
        # The current window: completions (those while saturated apart), its saturated time, settled arrivals.
        self._done = self._done_saturated = self._settled = 0
        self._saturated_time = 0.0
        self._random = random.Random()

    # -- measuring --------------------------------------------------------------------------------

    def started(self, charge_point_id: str | None = None) -> None:
        now = self._advance()
        self.working += 1
        young = self._young.get(charge_point_id) if charge_point_id is not None else None
        if young is not None:
            young.sent += 1
        owed = young.expected - (young.sent - 1) if young is not None else 0.0
        if young is not None and owed > 0:
            # The cost is a fraction (an average): the task that passes it pays only what was left, or
            # every charger would leave that fraction in the debt for good (8,300 of them held 2,400
            # tasks of debt with none owed, and the storm stopped).
            self.debt -= min(1.0, owed)
            young.owed_seconds += now - young.admitted_at
        else:  # an older charger's, or more than a young one was expected to send
            self._settled += 1

    def finished(self) -> None:
        self._advance()
        self._done += 1
        if self.working >= self.workers:
            self._done_saturated += 1
        self.working -= 1

    def _advance(self) -> float:
        now = self._clock()
        if self.working >= self.workers:
            self._saturated_time += now - self._changed
        self._changed = now
        if now - self._window >= 1:
            self._measure(now)
        return now

    def _measure(self, now: float) -> None:
        elapsed, self._window = now - self._window, now
        self.settled_load += LOAD_WEIGHT * (self._settled / elapsed - self.settled_load)
        if self._saturated_time >= 0.5:
            sample = self._done_saturated / self._saturated_time
            weight = CAPACITY_UP if sample > self.capacity else CAPACITY_DOWN
            self.capacity += min(1.0, weight * self._saturated_time) * (sample - self.capacity)
        elif self._done / elapsed >= USED * self.capacity:
            self.capacity *= GROWTH ** min(elapsed, 5.0)
        if (self._young or self._promised) and now - self._reported >= REPORT_SECONDS:
            self._reported = now
            log.info(json.dumps({"event": "admission", **self.figures()}))
        self._done = self._done_saturated = self._settled = 0
        self._saturated_time = 0.0
        self._write_off(now)

    def _write_off(self, now: float) -> None:
        while self._young:
            charge_point_id, young = next(iter(self._young.items()))
            if now - young.admitted_at < YOUNG_SECONDS:
                break
            del self._young[charge_point_id]
            unpaid = max(0.0, young.expected - young.sent)
            self.debt -= unpaid
            self.cost += COST_WEIGHT * (young.sent - self.cost)
            owed = (young.owed_seconds + unpaid * YOUNG_SECONDS) / young.expected
            self.debt_seconds += COST_WEIGHT * (owed - self.debt_seconds)
        while self._promised:
            charge_point_id, (slot, expected) = next(iter(self._promised.items()))
            if slot > now - PROMISE_SECONDS:
                break
            del self._promised[charge_point_id]
            self.debt -= expected
        while self._waiting and next(iter(self._waiting.values())) < now - 2 * BACK_OFF_SECONDS:
            self._waiting.popitem(last=False)  # told long ago: gone elsewhere, or back and told again

    # -- deciding ---------------------------------------------------------------------------------

    def figures(self) -> dict[str, float]:
        return {
            "capacity": round(self.capacity, 1),
            "settledLoad": round(self.settled_load, 1),
            "cost": round(self.cost, 2),
            "debt": round(self.debt),
            "debtSeconds": round(self.debt_seconds, 1),
            "working": self.working,
            "young": len(self._young),
            "promised": len(self._promised),
            "waiting": len(self._waiting),
            "rate": round(self.rate, 2),
        }

    @property
    def spare(self) -> float:
        return max(0.0, self.capacity - self.settled_load)

    @property
    def rate(self) -> float:
        return min(self.max_rate, max(MIN_RATE, self.spare / self.cost))

    def _room(self) -> bool:
        return (
            self.working <= self.capacity * BACKLOG_SECONDS and self.debt + self.cost <= self.spare * self.debt_seconds
        )

    def holds_slot(self, charge_point_id: str) -> bool:
        """Whether this charger, just told to wait, was promised a slot (kept for it) rather than told to
        come back later."""
        return charge_point_id in self._promised

    def _back_off(self, charge_point_id: str, now: float) -> int:
        self._waiting.pop(charge_point_id, None)
        ahead = min(BACK_OFF_SECONDS, max(HORIZON_SECONDS, len(self._waiting) / self.rate))
        self._waiting[charge_point_id] = now
        return math.ceil(self._random.uniform(ahead, 2 * ahead))

    def _admit(self, charge_point_id: str, now: float, expected: float) -> None:
        again = self._young.pop(charge_point_id, None)
        if again is not None:  # back within its first minute: what it did not send is written off
            self.debt -= max(0.0, again.expected - again.sent)
        self._young[charge_point_id] = _Young(now, expected)

    def wait(self, charge_point_id: str) -> int:
        """0: admit this charger now; otherwise the seconds after which it will be admitted."""
        now = self._advance()
        promise = self._promised.get(charge_point_id)
        if promise is not None:
            slot, expected = promise
            if slot > now + 0.5:
                return math.ceil(slot - now)  # early: its slot stays
            del self._promised[charge_point_id]
            self._admit(charge_point_id, now, expected)  # its cost is in the debt since the promise
            return 0
        slot = max(now, self._next)
        if slot - now > HORIZON_SECONDS or not self._room():
            return self._back_off(charge_point_id, now)
        self._waiting.pop(charge_point_id, None)
        rate, expected = self.rate, self.cost
        self._next = slot + 1 / rate
        self.debt += expected
        if slot - now <= self.burst / rate:
            self._admit(charge_point_id, now, expected)
            return 0
        self._promised[charge_point_id] = (slot, expected)
        return math.ceil(slot - now)
