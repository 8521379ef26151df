"""The fleet energy chart's data: one snapshot per 5-minute interval (the fleet's delivered energy so far),
taken by the scheduled function, idempotent per interval; GET /stats/energy answers from the snapshots, and
its intervals add up to what the lists say was delivered."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from chalicelib import fleet_energy, ocpp_frames, rest, settings, storage
from chalicelib.fleet_total import TotalUnsettled
from tests.ocpp_builders import boot, meter, start, stop, ts
from tests.support import T0


@pytest.fixture
def clock(monkeypatch):
    """The central system's clock, in seconds after T0."""
    now = [0.0]
    monkeypatch.setattr(ocpp_frames, "now", lambda: T0 + timedelta(seconds=now[0]))
    return now


def snapshot_at(clock: list[float], seconds: float) -> bool:
    clock[0] = seconds
    return fleet_energy.take_snapshot()


def stored(interval_seconds: int) -> dict:
    [item] = storage.snapshots_between(ts(interval_seconds), ts(interval_seconds))
    return item


@contextmanager
def after_reading(table: str, action: Callable[[], object], times: int | None = 1) -> Iterator[list]:
    """Run `action` right after each BatchGetItem that read `table` (the first `times` of them, or all): a
    concurrent handler's write landing between two of a total's reads, at a point the test chooses."""
    done: list = []

    def hook(parsed: dict, **_: object) -> None:
        if (times is None or len(done) < times) and table in parsed.get("Responses", {}):
            done.append(table)
            action()

    events = storage.client().meta.events
    events.register("after-call.dynamodb.BatchGetItem", hook)
    try:
        yield done
    finally:
        events.unregister("after-call.dynamodb.BatchGetItem", hook)


def delivered_kwh(client) -> float:
    """Completed energy (GET /stats) plus every active session's energy so far (GET /sessions?status=Active)."""
    completed = json.loads(client.http.get("/stats").body)["totalEnergyKwh"]
    active = json.loads(client.http.get("/sessions?status=Active&limit=100").body)["sessions"]
    return completed + sum(session["currentEnergy"] for session in active)


def test_a_snapshot_is_completed_plus_active_energy_and_the_first_of_its_interval_wins(aws, clock):
    for cp in ("CP-1", "CP-2", "CP-3"):
        boot(cp)
    first, second = start("CP-1", meter=1000, at=10), start("CP-2", meter=0, at=20)
    start("CP-3", meter=500, at=30)  # no reading yet: nothing delivered
    meter("CP-1", first, 1900, at=100)
    meter("CP-2", second, 600, at=110)
    stop("CP-2", second, 800, at=200)
    with storage.counting_requests() as requests:
        assert snapshot_at(clock, 310)
    # 2 active sessions: 1 Query, 1 BatchGetItem of them between 2 of the counters, 1 write
    assert dict(requests) == {"Query": 1, "BatchGetItem": 3, "UpdateItem": 1}
    item = stored(300)
    assert (item["completedWh"], item["activeWh"], item["energyWh"], item["activeSessions"]) == (800, 900, 1700, 2)
    assert item["takenAt"] == ts(310)
    meter("CP-1", first, 2500, at=320)
    assert not snapshot_at(clock, 599), "a repeated run in the same interval writes nothing"
    assert stored(300)["energyWh"] == 1700
    assert snapshot_at(clock, 600)
    assert stored(600)["energyWh"] == 2300


def test_the_intervals_add_up_to_the_lists_and_say_what_they_do_not_know(client, clock):
    for cp in ("CP-1", "CP-2"):
        boot(cp)
    snapshot_at(clock, 301)  # nothing delivered yet
    first = start("CP-1", meter=1000, at=310)
    meter("CP-1", first, 1600, at=590)
    snapshot_at(clock, 601)
    second = start("CP-2", meter=0, at=620)
    meter("CP-1", first, 2500, at=890)
    meter("CP-2", second, 300, at=895)
    # no snapshot at 900: the run for that interval failed
    stop("CP-1", first, 3400, at=1150)
    meter("CP-2", second, 900, at=1190)
    snapshot_at(clock, 1201)
    meter("CP-2", second, 1200, at=1260)
    clock[0] = 1290  # now: the interval from 1200 is under way

    body = json.loads(client.http.get(f"/stats/energy?from={ts(0)}&to={ts(1290)}").body)
    assert body["intervalSeconds"] == 300
    points = body["points"]
    assert [p["start"] for p in points] == [ts(300 * n) for n in range(5)]
    assert points[0] == {"start": ts(0), "energyKwh": None, "powerKw": None, "partial": False}, "before any snapshot"
    assert points[1]["energyKwh"] == 0.6 and points[1]["powerKw"] == pytest.approx(7.2, abs=0.05)
    assert points[2]["energyKwh"] == points[3]["energyKwh"] == 1.35, "the gap's 2.7 kWh shared evenly"
    assert points[4]["partial"] and points[4]["energyKwh"] == 0.3, "the interval under way, computed now"
    assert not any(p["partial"] for p in points[:4])
    assert sum(p["energyKwh"] or 0 for p in points) == pytest.approx(delivered_kwh(client), abs=0.001) == 3.6

    past = rest.fleet_energy({"from": ts(600), "to": ts(900)})["points"]
    assert [p["energyKwh"] for p in past] == [1.35, 1.35] and not any(p["partial"] for p in past)
    for query in ("from=yesterday", f"from={ts(0)}&to={ts(-60)}", f"from={ts(0)}&to={ts(25 * 3600)}"):
        assert client.http.get(f"/stats/energy?{query}").status_code == 400


def test_a_session_completed_while_a_snapshot_reads_counts_once(aws, clock):
    """A stop lands between the snapshot's reads: once just after the sessions were read (then a snapshot
    that reads the counters after the sessions counted it twice, as active and as completed), once just
    after the counters were read. Either way the snapshot counts it once: before or after its stop."""
    for cp in ("CP-1", "CP-2"):
        boot(cp)
    first, second = start("CP-1", meter=1000, at=10), start("CP-2", meter=0, at=20)
    meter("CP-1", first, 1900, at=100)
    meter("CP-2", second, 600, at=110)

    names = storage.dynamo.tables()
    cases = [
        # before its stop 900 + 600 active, after it 1200 completed + 600 active (never 1200 + 900 + 600)
        (names.sessions, lambda: stop("CP-1", first, 2200, at=305), 300, (1500, 1800)),
        # before its stop 1200 completed + 600 active, after it 2000 completed (never 1200 alone)
        (names.stats, lambda: stop("CP-2", second, 800, at=605), 600, (1800, 2000)),
    ]
    for table, stop_now, interval, either in cases:
        with after_reading(table, stop_now) as stopped:
            assert snapshot_at(clock, interval + 10)
        item = stored(interval)
        assert stopped and item["energyWh"] == item["completedWh"] + item["activeWh"]
        assert item["energyWh"] in either


def energy(clock: list[float], at: float, since: float = 300) -> dict:
    clock[0] = at
    return rest.fleet_energy({"from": ts(since)})


def test_the_live_figure_is_computed_once_a_minute_for_every_request_and_says_its_age(aws, clock):
    boot("CP-1")
    snapshot_at(clock, 301)
    tx = start("CP-1", meter=1000, at=310)
    meter("CP-1", tx, 1600, at=320)
    names = storage.dynamo.tables()
    during: list[tuple[dict, dict]] = []

    def second_request() -> None:  # arrives while the first computes the figure
        with storage.counting_requests() as inner:
            during.append((rest.fleet_energy({"from": ts(300)}), dict(inner)))

    with storage.counting_requests() as requests, after_reading(names.sessions, second_request):
        body = energy(clock, 330)
    # its own: the snapshots, the live figure, its claim, a total's reads (1 session) and the figure stored
    own = requests - Counter(during[0][1])
    assert own == Counter({"Query": 2, "BatchGetItem": 4, "UpdateItem": 2})
    assert body["live"] == {"takenAt": ts(330), "ageSeconds": 0}
    assert body["points"][-1] == {"start": ts(300), "energyKwh": 0.6, "powerKw": 74.48, "partial": True}
    [(other, inner)] = during
    assert inner == {"Query": 1, "BatchGetItem": 1, "UpdateItem": 1}, "its claim refused: no total read"
    assert other["live"] is None and other["points"][-1]["energyKwh"] is None, "no figure stored yet"

    meter("CP-1", tx, 2500, at=340)
    with storage.counting_requests() as requests:
        body = energy(clock, 389)
    assert dict(requests) == {"Query": 1, "BatchGetItem": 1}, "a figure under a minute old is shared"
    assert body["live"] == {"takenAt": ts(330), "ageSeconds": 59} and body["points"][-1]["energyKwh"] == 0.6

    # Stale, and a second request arrives while the first computes: it keeps the stored figure.
    during.clear()
    with after_reading(names.sessions, second_request):
        body = energy(clock, 391)
    assert body["live"]["takenAt"] == ts(391) and body["points"][-1]["energyKwh"] == 1.5
    [(other, inner)] = during
    assert inner == {"Query": 1, "BatchGetItem": 1, "UpdateItem": 1}, "its claim refused: no total read"
    assert other["live"] == {"takenAt": ts(330), "ageSeconds": 61} and other["points"][-1]["energyKwh"] == 0.6

    # A request that claimed the figure and died holds it for CLAIM_SECONDS, then another computes.
    assert storage.claim_live(ts(460), ts(460), ts(430))
    assert energy(clock, 489)["live"]["takenAt"] == ts(391)
    assert energy(clock, 491)["live"]["takenAt"] == ts(491)

    # A new snapshot makes a younger live figure stale at once: the interval under way starts after it.
    assert energy(clock, 590)["live"]["takenAt"] == ts(590)
    snapshot_at(clock, 601)
    body = energy(clock, 610)
    assert body["live"] == {"takenAt": ts(610), "ageSeconds": 0}
    assert [p["energyKwh"] for p in body["points"]] == [1.5, 0.0]
    assert rest.fleet_energy({"from": ts(0), "to": ts(299)})["live"] is None, "a window that ends before now"


def test_how_old_the_shared_live_figure_may_get_is_a_setting(aws, clock, monkeypatch):
    monkeypatch.setenv("FLEET_ENERGY_LIVE_SECONDS", "5")
    settings.get.cache_clear()
    boot("CP-1")
    snapshot_at(clock, 301)
    tx = start("CP-1", meter=1000, at=310)
    meter("CP-1", tx, 1600, at=320)
    assert energy(clock, 330)["live"]["takenAt"] == ts(330)
    assert energy(clock, 334)["live"] == {"takenAt": ts(330), "ageSeconds": 4}, "shared while under 5 s old"
    assert energy(clock, 336)["live"]["takenAt"] == ts(336)


@pytest.mark.parametrize("raw", ["0", "301", "2.5", "a minute"])
def test_a_live_figure_age_outside_1_to_300_seconds_stops_the_app_at_start(raw):
    with pytest.raises(settings.SettingsError, match="FLEET_ENERGY_LIVE_SECONDS"):
        settings.load({"FLEET_ENERGY_LIVE_SECONDS": raw})


def test_a_total_that_cannot_settle_is_not_stored(aws, clock):
    """Stops landing on a shard at every read of its counters: after MAX_ROUNDS the total gives up rather
    than store a figure it cannot vouch for; the chart's interval under way waits for a later request."""
    boot("CP-1")
    snapshot_at(clock, 301)
    stops = after_reading(
        storage.dynamo.tables().stats, lambda: storage.add_to_stats(0, {"completedSessions": 1}), None
    )
    with stops:
        with pytest.raises(TotalUnsettled):
            snapshot_at(clock, 601)
        body = energy(clock, 610, since=0)
    assert storage.snapshots_between(ts(600), ts(600)) == []
    assert body["live"] is None and body["points"][-1]["energyKwh"] is None
