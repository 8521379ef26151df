"""The gateway under a storm: new sockets admitted at a rate that follows its backlog, each refused charger
told a Retry-After after which it is admitted (gateway_admission.py); a lost socket's charger kept online
for a grace, so that its reconnect costs no presence write (gateway_presence.py)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from chalicelib import gateway_admission
from chalicelib.gateway_admission import Admission
from chalicelib.gateway_commands import Link
from chalicelib.gateway_presence import Presence


def test_a_storm_beyond_the_burst_is_told_when_to_come_back_and_is_admitted_then():
    backlog = [0]
    admission = Admission(lambda: backlog[0], rate=4, burst=5)
    waits = {f"CP-{n}": admission.wait(f"CP-{n}", now=100.0) for n in range(30)}
    # The n-th has the slot n/4 s from now; the burst (5 slots beyond the present) is taken at once.
    assert list(waits.values()) == [0 if n <= 5 else math.ceil(n / 4) for n in range(30)]
    refused = {cp: wait for cp, wait in waits.items() if wait}
    # Early: refused again, its slot kept. Back after its Retry-After: admitted, whatever came meanwhile.
    assert admission.wait("CP-29", now=101.0) == 7
    for n in range(100):
        admission.wait(f"LATE-{n}", now=102.0)
    assert all(admission.wait(cp, now=100.0 + wait) == 0 for cp, wait in refused.items())


def test_beyond_the_horizon_a_charger_is_told_to_come_back_later_and_no_slot_is_kept_for_it():
    admission = Admission(lambda: 0, rate=2, burst=0)
    waits = [admission.wait(f"CP-{n}", now=50.0) for n in range(200)]
    horizon = gateway_admission.HORIZON_SECONDS
    promised = int(horizon * 2) + 1  # slots 0, 0.5, ... 30 s
    assert waits[:promised] == [math.ceil(n / 2) for n in range(promised)]
    assert all(horizon <= wait <= 4 * horizon for wait in waits[promised:])
    # Back after its wait, the schedule has moved on: it takes a slot of then.
    assert admission.wait("CP-199", now=50.0 + waits[-1]) <= horizon


def test_the_rate_halves_while_the_backlog_is_high_and_climbs_back_when_it_drains():
    backlog = [gateway_admission.BACKLOG_HIGH + 1]
    admission = Admission(lambda: backlog[0], rate=40, burst=0, start=40)
    for second in range(3):
        admission.wait(f"CP-{second}", now=10.0 + second)
    assert admission.rate == 5
    backlog[0] = 0
    for second in range(3, 8):
        admission.wait(f"CP-{second}", now=10.0 + second)
    assert admission.rate == 5 + 5 * gateway_admission.RATE_STEP


class FakeSocket:
    pass


@pytest.mark.parametrize("lost", [True, False])
def test_a_lost_socket_is_kept_online_for_its_grace_and_a_closed_one_is_recorded_offline_at_once(lost):
    async def scenario():
        writes: list[tuple[str, str, bool]] = []

        async def record(link: Link, online: bool) -> bool:
            writes.append((link.charge_point_id, link.connection_id, online))
            return True

        counts: Counter[str] = Counter()
        presence = Presence(record, counts, grace=0.2)
        first = Link("CP-1", "conn-1", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(first)
        await presence.closed(first, lost=lost)
        assert presence.returning("CP-1") is lost
        again = Link("CP-1", "conn-2", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(again)
        if lost:  # it takes over the recorded connection: no write either way
            assert (again.connection_id, again.online_recorded, counts["resumed"]) == ("conn-1", True, 1)
            assert writes == [("CP-1", "conn-1", True)]
        else:
            assert writes == [("CP-1", "conn-1", True), ("CP-1", "conn-1", False), ("CP-1", "conn-2", True)]
        await presence.closed(again, lost=True)
        await asyncio.sleep(0.3)  # the grace passes: recorded offline
        assert writes[-1] == ("CP-1", again.connection_id, False) and not presence.returning("CP-1")

    asyncio.run(scenario())


def test_a_stopping_gateway_records_every_lost_socket_offline_at_once():
    async def scenario():
        writes: list[bool] = []

        async def record(link: Link, online: bool) -> bool:
            writes.append(online)
            return True

        presence = Presence(record, Counter(), grace=3600)
        link = Link("CP-1", "conn-1", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(link)
        await presence.closed(link, lost=True)
        await presence.flush()
        assert writes == [True, False]

    asyncio.run(scenario())
