"""Back-off for failed charger logins at the WebSocket gateway (OCPP security profile 1).

Each password check costs a DynamoDB read and a deliberately slow hash, so a client guessing passwords
(or just flooding the upgrade) must be turned away before it costs anything. Failures are counted per
charge point id (someone guessing one charger's password from many addresses) and per client address
(one client trying many chargers) in a leaky bucket: each failure adds 1, each LEAK_SECONDS forgive 1.
Past a key's free failures, logins for it are refused at once (HTTP 429) for a back-off that doubles with
each further failure up to CAP_SECONDS. A charger that keeps failing from behind a shared address (NAT)
therefore settles at about one try per LEAK_SECONDS and does not lock its neighbours out.

State is in the gateway's memory (one event loop, no lock): a restart forgets it, which only gives an
attacker back the free failures.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

FREE_PER_CHARGER = 5
FREE_PER_ADDRESS = 20
# Password checks one address may have running at once: a burst cannot queue up before its failures count.
IN_FLIGHT_PER_ADDRESS = 4
BASE_SECONDS, CAP_SECONDS, LEAK_SECONDS = 1.0, 60.0, 30.0
MAX_KEYS = 50_000  # about 10 MB at most: the least recently failed keys are forgotten first


@dataclass
class _Bucket:
    level: float
    updated: float
    blocked_until: float = 0.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._in_flight: dict[str, int] = {}

    def wait(self, charge_point_id: str, address: str) -> int:
        """Whole seconds until this charger, from this address, may try a password again (0: now)."""
        if self._in_flight.get(address, 0) >= IN_FLIGHT_PER_ADDRESS:
            return 1
        now = self.clock()
        until = max(
            (
                bucket.blocked_until
                for bucket in map(self._buckets.get, self._keys(charge_point_id, address))
                if bucket is not None
            ),
            default=now,
        )
        return max(0, math.ceil(until - now))

    def checking(self, address: str, running: bool) -> None:
        """A password check from this address starts (True) or ends (False)."""
        count = self._in_flight.get(address, 0) + (1 if running else -1)
        if count > 0:
            self._in_flight[address] = count
        else:
            self._in_flight.pop(address, None)

    def failed(self, charge_point_id: str, address: str) -> None:
        now = self.clock()
        for key, free in zip(self._keys(charge_point_id, address), (FREE_PER_CHARGER, FREE_PER_ADDRESS), strict=True):
            bucket = self._buckets.pop(key, None) or _Bucket(0.0, now)
            bucket.level = max(0.0, bucket.level - (now - bucket.updated) / LEAK_SECONDS) + 1
            bucket.updated = now
            if bucket.level > free:
                bucket.blocked_until = now + min(CAP_SECONDS, BASE_SECONDS * 2 ** (bucket.level - free - 1))
            self._buckets[key] = bucket  # most recent last
        while len(self._buckets) > MAX_KEYS:
            self._buckets.popitem(last=False)

    def succeeded(self, charge_point_id: str) -> None:
        """The charger proved itself: its own failures are forgotten (its address's are not)."""
        self._buckets.pop(("charger", charge_point_id), None)

    @staticmethod
    def _keys(charge_point_id: str, address: str) -> tuple[tuple[str, str], tuple[str, str]]:
        return ("charger", charge_point_id), ("address", address)
