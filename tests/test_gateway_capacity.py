"""The gateway under a storm: new sockets admitted as far as the measured capacity leaves room for what the
chargers already let in will still send, each refused charger told a Retry-After after which it is admitted
(gateway_admission.py); a lost socket's charger kept online
for a grace, so that its reconnect costs no presence write (gateway_presence.py)."""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from chalicelib import gateway_admission, gateway_presence
from chalicelib.gateway_admission import Admission
from chalicelib.gateway_commands import Link
from chalicelib.gateway_presence import Presence


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def admission(clock: Clock, capacity: float, cost: float = 10, burst: int = 0) -> Admission:
    admitting = Admission(rate=50, burst=burst, workers=10, clock=clock)
    admitting.capacity, admitting.cost, admitting.debt_seconds = capacity, cost, 25
    return admitting


def send(admitting: Admission, charge_point_id: str | None, frames: int) -> None:
    for _ in range(frames):
        admitting.started(charge_point_id)
        admitting.finished()


def test_what_admitted_chargers_will_still_send_holds_back_the_next_until_they_send_it():
    clock = Clock()
    # Spare 10 tasks/s, 10 a charger: one slot a second, and room for 25 s of it in debt (25 chargers).
    admitting = admission(clock, capacity=10, cost=10)
    waits = [admitting.wait(f"CP-{n}") for n in range(30)]
    # Slots within the 10 s horizon; the rest told to come back much later, with no slot kept.
    assert waits[:11] == list(range(11))
    assert all(wait >= gateway_admission.HORIZON_SECONDS for wait in waits[11:])
    assert admitting.debt == 11 * 10
    clock.now += 10
    assert [admitting.wait(f"CP-{n}") for n in range(1, 11)] == [0] * 10
    assert [admitting.wait(f"NEW-{n}") for n in range(10)] == list(range(1, 11))
    clock.now += 10
    assert [admitting.wait(f"NEW-{n}") for n in range(10)] == [0] * 10
    # Slots are free, but the debt is not: four more chargers, then none.
    assert [admitting.wait(f"NEW-{n}") for n in range(10, 15)][:4] == [1, 2, 3, 4]
    assert admitting.wait("NEW-15") >= gateway_admission.HORIZON_SECONDS
    send(admitting, "CP-0", 3)
    send(admitting, "CP-1", 12)  # it has sent what it owed, and 2 more (settled load)
    assert admitting.debt == 250 - 13
    assert admitting.wait("NEW-16") == 5


def test_no_new_charger_while_the_backlog_is_over_a_few_seconds_of_work():
    clock = Clock()
    admitting = admission(clock, capacity=10, cost=1)
    for _ in range(int(10 * gateway_admission.BACKLOG_SECONDS) + 1):
        admitting.started()
    assert admitting.wait("CP-1") >= gateway_admission.HORIZON_SECONDS
    admitting.finished()
    assert admitting.wait("CP-1") == 0


def test_a_young_charger_is_written_off_after_its_first_minute_and_its_frames_teach_the_cost():
    clock = Clock()
    admitting = admission(clock, capacity=1000, cost=10)
    assert admitting.wait("CP-1") == 0
    send(admitting, "CP-1", 4)
    clock.now += 10
    send(admitting, "CP-1", 4)
    clock.now += gateway_admission.YOUNG_SECONDS
    send(admitting, None, 1)  # any task moves the clock on
    assert admitting.debt == 0
    weight = gateway_admission.COST_WEIGHT
    assert admitting.cost == 10 + weight * (8 - 10)
    # 4 tasks owed 0 s, 4 owed 10 s, 2 never sent (owed the whole minute): 16 s a task.
    owed = (4 * 10 + 2 * gateway_admission.YOUNG_SECONDS) / 10
    assert admitting.debt_seconds == pytest.approx(25 + weight * (owed - 25))


def test_capacity_is_what_the_pool_completes_while_every_worker_is_busy():
    clock = Clock()
    admitting = admission(clock, capacity=60)
    for _ in range(10):
        admitting.started()
    for second in range(10):
        for _ in range(200):  # 200 tasks a second with the pool full
            clock.now += 0.005
            admitting.finished()
            admitting.started()
        if second == 1:  # an EWMA: a second's measurement moves it part of the way
            assert 60 < admitting.capacity < 200
    assert admitting.capacity == pytest.approx(200, rel=0.05)
    # Less than a full pool says nothing of its speed: the estimate stays.
    for _ in range(9):
        admitting.finished()
    clock.now += 2
    send(admitting, None, 1)
    assert admitting.capacity == pytest.approx(200, rel=0.05)


def test_never_full_the_capacity_grows_while_the_pool_serves_most_of_it_so_the_storm_can_speed_up():
    clock = Clock()
    admitting = admission(clock, capacity=60)
    for _ in range(3):  # 50 tasks a second, one at a time
        for _ in range(50):
            clock.now += 0.02
            send(admitting, None, 1)
    assert admitting.capacity > 60 * gateway_admission.GROWTH
    capacities = []
    for _ in range(3):  # 10 tasks a second: too few to tell
        for _ in range(10):
            clock.now += 0.1
            send(admitting, None, 1)
        capacities.append(admitting.capacity)
    assert capacities[1] == capacities[2] > 60
    # The settled load (chargers not let in by this admission) is what the spare capacity leaves out.
    assert admitting.spare < admitting.capacity


def test_a_promised_slot_is_honoured_whatever_came_meanwhile_and_an_early_charger_keeps_it():
    clock = Clock()
    admitting = admission(clock, capacity=40, cost=10, burst=2)  # 4 a second
    waits = {f"CP-{n}": admitting.wait(f"CP-{n}") for n in range(20)}
    assert list(waits.values())[:3] == [0, 0, 0]
    refused = {cp: wait for cp, wait in waits.items() if 0 < wait <= gateway_admission.HORIZON_SECONDS}
    assert refused and all(wait > 0 for wait in list(waits.values())[3:])
    last = max(refused, key=refused.__getitem__)
    clock.now += 1
    assert admitting.wait(last) == refused[last] - 1  # early: told again, the slot stays
    admitting.capacity = 1  # the backend slows down: no new charger, but the promises stand
    assert admitting.wait("LATE") >= gateway_admission.HORIZON_SECONDS
    clock.now = 100.0 + max(refused.values())
    assert all(admitting.wait(cp) == 0 for cp in refused)


def test_slots_are_promised_only_a_short_horizon_ahead():
    clock = Clock()
    admitting = admission(clock, capacity=1000, cost=100)  # 10 a second, room for 150 chargers
    waits = [admitting.wait(f"CP-{n}") for n in range(200)]
    promised = int(gateway_admission.HORIZON_SECONDS * 10) + 1
    assert waits[:promised] == [math.ceil(n / 10) for n in range(promised)]
    # The others come back about when those told before them will have been let in, at 10 a second.
    later = waits[promised:]
    assert all(gateway_admission.HORIZON_SECONDS <= wait <= 2 * gateway_admission.HORIZON_SECONDS for wait in later)


def test_a_charger_told_to_come_back_later_waits_for_those_told_before_it_and_no_longer_than_the_back_off():
    clock = Clock()
    admitting = admission(clock, capacity=100, cost=10)  # 10 chargers a second
    waits = [admitting.wait(f"CP-{n}") for n in range(2000)]
    later = [wait for wait in waits if wait > gateway_admission.HORIZON_SECONDS]
    # The 500th told to come back has 500 before it: 50 s at 10 a second, spread over twice that.
    assert 50 <= waits[600] <= 100
    assert max(later) <= 2 * gateway_admission.BACK_OFF_SECONDS
    assert admitting.wait("CP-1999") >= gateway_admission.BACK_OFF_SECONDS  # told again: still at the back


class FakeSocket:
    pass


async def nothing_recorded(charge_point_ids: list[str]) -> dict[str, str | None]:
    return {}


@pytest.mark.parametrize("lost", [True, False])
def test_a_lost_socket_is_kept_online_for_its_grace_and_a_closed_one_is_recorded_offline_at_once(lost):
    async def scenario():
        writes: list[tuple[str, str, bool]] = []

        async def record(link: Link, online: bool) -> bool:
            writes.append((link.charge_point_id, link.connection_id, online))
            return True

        counts: Counter[str] = Counter()
        presence = Presence(record, nothing_recorded, counts, grace=0.2)
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


def test_a_charger_that_moved_is_written_back_before_its_socket_closing_is_written(monkeypatch):
    """Another gateway recorded the charger while it was away: the write taking it back is in flight when
    its socket closes, and the offline write (conditional on this connection) must not land first."""
    monkeypatch.setattr(gateway_presence, "CHECK_DELAY_SECONDS", 0.01)

    async def scenario():
        writes: list[tuple[str, bool]] = []

        async def record(link: Link, online: bool) -> bool:
            writes.append(("start", online))
            await asyncio.sleep(0.05)
            writes.append(("end", online))
            return True

        async def elsewhere(charge_point_ids: list[str]) -> dict[str, str | None]:
            return dict.fromkeys(charge_point_ids, "conn-on-another-gateway")

        counts: Counter[str] = Counter()
        presence = Presence(record, elsewhere, counts, grace=60)
        first = Link("CP-1", "conn-1", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(first)
        await presence.closed(first, lost=True)
        again = Link("CP-1", "conn-2", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(again)
        while len(writes) < 3:  # the read-back found it moved: the write taking it back has started
            await asyncio.sleep(0.005)
        await presence.closed(again, lost=False)
        assert writes == [("start", True), ("end", True)] * 2 + [("start", False), ("end", False)]
        assert (counts["presenceChecked"], counts["reclaimed"], again.connection_id) == (1, 1, "conn-1")

    asyncio.run(scenario())


def test_a_stopping_gateway_records_every_lost_socket_offline_at_once():
    async def scenario():
        writes: list[bool] = []

        async def record(link: Link, online: bool) -> bool:
            writes.append(online)
            return True

        presence = Presence(record, nothing_recorded, Counter(), grace=3600)
        link = Link("CP-1", "conn-1", FakeSocket())  # type: ignore[arg-type]
        await presence.opened(link)
        await presence.closed(link, lost=True)
        await presence.flush()
        assert writes == [True, False]

    asyncio.run(scenario())


def test_the_debt_goes_back_to_nothing_when_every_charger_let_in_has_sent_more_than_its_fractional_cost():
    clock = Clock()
    admitting = admission(clock, capacity=1000, cost=12.4, burst=50)
    assert [admitting.wait(f"CP-{n}") for n in range(50)] == [0] * 50
    assert admitting.debt == pytest.approx(50 * 12.4)
    for n in range(50):
        send(admitting, f"CP-{n}", 13)  # one task more than the cost's whole part: paid in full
    assert admitting.debt == pytest.approx(0)
