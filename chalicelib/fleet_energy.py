"""The fleet's energy over time, in 5-minute intervals, from stored snapshots. A scheduled function takes
one snapshot per interval: the fleet's cumulative delivered energy (fleet_total: completed sessions plus
each active session's energy so far, each counted once) and when it was taken. An interval's energy is the
difference between the snapshot at its start and the one at its end; the interval under way ends at the live
figure, a total computed at most once a minute (FLEET_ENERGY_LIVE_SECONDS) for every request and shared
through the stats table, its age in the answer. What a figure means at its edges, and what it costs:
docs/api.md, docs/performance.md."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib import ocpp_frames, settings, storage, telemetry
from chalicelib.fleet_total import TotalUnsettled, fleet_total

INTERVAL_SECONDS = 300
MAX_WINDOW = timedelta(hours=24)
# A request that claimed the live figure and died (a timeout, a crash) holds the claim this long at most:
# the API gives up on a request after 29 s.
CLAIM_SECONDS = 30
log = logging.getLogger("ev.fleet_energy")


def take_snapshot() -> bool:
    """The snapshot of the interval holding now (the scheduled function): its reads, then 1 conditional
    UpdateItem. False when the interval had one already: the first run wins, a repeated one writes nothing."""
    now = ocpp_frames.now()
    interval = _floor(now)
    total = fleet_total(now)
    stored = storage.put_snapshot(int(interval.timestamp()), {"intervalStart": _iso(interval), **total})
    telemetry.event(log, logging.INFO, "fleet-energy-snapshot", None, None, stored=stored, **total)
    return stored


def energy_points(start: datetime, end: datetime) -> dict:
    """{"intervalSeconds", "points": [{"start", "energyKwh", "powerKw", "partial"}], "live"} for the
    intervals from the one holding `start` to the one holding `end`. An interval between two snapshots gets
    their difference; one with no snapshot at an edge shares the difference across the gap evenly, and null
    where no snapshot bounds it (before the first one). The interval under way ends at the live figure
    ({"takenAt", "ageSeconds"}; null when the window ends before now, or no figure younger than the latest
    snapshot could be had: its energy is null then). 1 Query, and when the window reaches now _live_total's."""
    first, now = _floor(start), ocpp_frames.now()
    count = int((end - first).total_seconds() // INTERVAL_SECONDS) + 1
    last_edge = first + timedelta(seconds=INTERVAL_SECONDS * count)
    edges = {  # interval index -> (when taken, cumulative Wh) at that interval's start
        _index(first, ocpp_frames.parse_timestamp(item["intervalStart"])): (
            ocpp_frames.parse_timestamp(item["takenAt"]),
            int(item["energyWh"]),
        )
        for item in storage.snapshots_between(_iso(first), _iso(last_edge))
    }
    live = _index(first, _floor(now)) + 1  # the end of the interval under way
    figure = None
    if 0 < live <= count:
        figure = _live_edge(now, max((taken for taken, _ in edges.values()), default=None))
        if figure is not None:
            edges[live] = figure
    points: list[dict] = [
        {
            "start": _iso(first + timedelta(seconds=INTERVAL_SECONDS * n)),
            "energyKwh": None,
            "powerKw": None,
            "partial": False,
        }
        for n in range(count)
    ]
    known = sorted(edges)
    for low, high in zip(known, known[1:], strict=False):
        (taken_low, wh_low), (taken_high, wh_high) = edges[low], edges[high]
        seconds = (taken_high - taken_low).total_seconds()
        power_kw = round((wh_high - wh_low) / 1000 * 3600 / seconds, 2) if seconds > 0 else 0.0
        for n in range(low, min(high, count)):
            energy_kwh = round((wh_high - wh_low) / (high - low) / 1000, 3)
            points[n].update(energyKwh=energy_kwh, powerKw=power_kw, partial=high == live)
    return {
        "intervalSeconds": INTERVAL_SECONDS,
        "points": points,
        "live": None
        if figure is None
        else {"takenAt": _iso(figure[0]), "ageSeconds": round(max((now - figure[0]).total_seconds(), 0), 1)},
    }


def _live_edge(now: datetime, latest_snapshot: datetime | None) -> tuple[datetime, int] | None:
    """(when taken, cumulative Wh) of the live figure, when it is younger than the latest snapshot; None
    when it is not and no fresher one could be had (another request is computing it)."""
    stale_before = now - timedelta(seconds=settings.get().fleet_energy_live_seconds)
    if latest_snapshot is not None:
        stale_before = max(stale_before, latest_snapshot + timedelta(milliseconds=1))
    figure = _live_total(now, stale_before)
    if figure is None:
        return None
    taken = ocpp_frames.parse_timestamp(figure["takenAt"])
    return (taken, int(figure["energyWh"])) if latest_snapshot is None or taken > latest_snapshot else None


def _live_total(now: datetime, stale_before: datetime) -> dict | None:
    """The live total shared by every request: the stored one unless it was taken before stale_before, else
    computed here by the one request whose conditional write claims it (the others keep the stored one, None
    before the first). 1 BatchGetItem; when stale, 1 conditional UpdateItem, and for the claimant a total's
    reads (fleet_total) and 1 UpdateItem."""
    stored = storage.live_figure()
    if stored is not None and stored["takenAt"] >= _iso(stale_before):
        return stored
    claimed_at = _iso(now)
    if not storage.claim_live(claimed_at, _iso(stale_before), _iso(now - timedelta(seconds=CLAIM_SECONDS))):
        return stored
    try:
        total = fleet_total(now)
    except TotalUnsettled as error:  # the claim lapses: a later request tries again
        telemetry.event(log, logging.WARNING, "fleet-energy-live-unsettled", None, None, error=str(error))
        return stored
    storage.store_live(total, claimed_at)
    return total


def _floor(moment: datetime) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % INTERVAL_SECONDS, moment.tzinfo)


def _index(first: datetime, interval: datetime) -> int:
    return int((interval - first).total_seconds() // INTERVAL_SECONDS)


def _iso(moment: datetime) -> str:
    return ocpp_frames.format_timestamp(moment)
