"""The fleet's energy over time, in 5-minute intervals, from stored snapshots. A scheduled function takes
one snapshot per interval: the fleet's cumulative delivered energy (fleet_total: completed sessions plus
each active session's energy so far, each counted once) and when it was taken. An interval's energy is the
difference between the snapshot at its start and the one at its end; the interval under way ends now,
computed live. What a figure means at its edges, and what it costs: docs/api.md, docs/performance.md."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from chalicelib import ocpp_frames, storage, telemetry
from chalicelib.fleet_total import fleet_total

INTERVAL_SECONDS = 300
MAX_WINDOW = timedelta(hours=24)
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
    """{"intervalSeconds", "points": [{"start", "energyKwh", "powerKw", "partial"}]} for the intervals from
    the one holding `start` to the one holding `end`. An interval between two snapshots gets their
    difference; one with no snapshot at an edge shares the difference across the gap evenly, and null where
    no snapshot bounds it (before the first one). The interval under way ends at a total computed now."""
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
    if 0 < live <= count:
        edges[live] = (now, fleet_total(now)["energyWh"])
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
    return {"intervalSeconds": INTERVAL_SECONDS, "points": points}


def _floor(moment: datetime) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % INTERVAL_SECONDS, moment.tzinfo)


def _index(first: datetime, interval: datetime) -> int:
    return int((interval - first).total_seconds() // INTERVAL_SECONDS)


def _iso(moment: datetime) -> str:
    return ocpp_frames.format_timestamp(moment)
