"""API latency with a small and a large stored history (scripts/benchmark.py's measurement 3): sessions
bulk-loaded in the central system's own item shape, the sharded counters moved to match."""

from __future__ import annotations

import json
import statistics
import time
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import app
from chalicelib import charging_rules, ocpp_frames, pricing, settings, storage
from scripts.bench_setup import configure, fresh_tables, log

PAGE = 20  # /sessions' default page size


def session_items(first: int, count: int, active: int, tariff: dict, fleet: int) -> Iterator[dict]:
    """Sessions in the central system's item shape (see central_system.start_transaction and
    stop_transaction); the first `active` are still charging."""
    day = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(first, first + count):
        cp = f"CP-BENCH-{n % fleet:05d}"
        started = day + timedelta(seconds=37 * n)
        start_time = ocpp_frames.format_timestamp(started)
        tx = charging_rules.transaction_id(cp, 1, "TAG-1", 1000 * n, start_time, 0)
        session_id = charging_rules.session_id(cp, tx)
        item = {
            "sessionId": session_id,
            "transactionId": tx,
            "chargePointId": cp,
            "connectorId": 1,
            "idTag": "TAG-1",
            "idTagStatus": "Accepted",
            "meterStart": 1000 * n,
            "startTime": start_time,
            "tariff": tariff,
            "fleet": storage.SESSION_FLEET,
            "startKey": f"{start_time}#{session_id}",
        }
        if n - first < active:
            item.update(
                status="Active",
                lastRegisterWh=1000 * n + 5000,
                powerW=11000,
                soc=55,
                lastMeterTime=ocpp_frames.format_timestamp(started + timedelta(minutes=30)),
            )
        else:
            energy = 5000 + n % 40_000
            item.update(
                status="Completed",
                stopTime=ocpp_frames.format_timestamp(started + timedelta(hours=1)),
                meterStop=1000 * n + energy,
                energyWh=energy,
                lastRegisterWh=1000 * n + energy,
                powerW=0,
                cost=str(pricing.session_cost(energy, pricing.tariff_from_record(tariff))),
                stopReason="EVDisconnected",
            )
        item["chargePointStatus"] = f"{cp}#{item['status']}"
        yield item


def load_sessions(first: int, count: int, active: int, fleet: int = 1000) -> None:
    """Bulk-load sessions and move the sharded counters by exactly what they add."""
    settings_now = settings.get()
    tariff = pricing.tariff_record(settings_now.tariff)
    shards: dict[int, Counter] = {}
    chunk: list[dict] = []
    for item in session_items(first, count, active, tariff, fleet):
        totals = shards.setdefault(zlib.crc32(item["chargePointId"].encode()) % settings_now.stats_shards, Counter())
        if item["status"] == "Active":
            totals["activeSessions"] += 1
        else:
            totals.update(
                completedSessions=1,
                energyWh=item["energyWh"],
                revenueMinor=pricing.to_minor_units(
                    pricing.session_cost(item["energyWh"], pricing.tariff_from_record(tariff))
                ),
            )
        chunk.append(item)
        if len(chunk) == 1000:
            storage.load_sessions(chunk)
            chunk = []
    storage.load_sessions(chunk)
    for shard, totals in shards.items():
        storage.add_to_stats(shard, dict(totals))


def api_latency(small: int, large: int, repeat: int) -> dict:
    """Both data sets loaded side by side in tables of their own, then requests alternate between them,
    so that a busy moment of the machine weighs on both medians alike."""
    from chalice.test import Client

    paths = ("/stats", "/sessions?status=Active")
    sets = {}
    for size, active in ((small, 30), (large, 1000)):
        sets[size] = fresh_tables()
        started = time.perf_counter()
        load_sessions(0, size, active)
        log(f"loaded {size} sessions in {time.perf_counter() - started:.0f} s")
    samples: dict = {size: {path: [] for path in paths} for size in sets}
    with Client(app.app) as client:
        for round_ in range(repeat + 3):  # the first 3 rounds warm up
            for size, names in sets.items():
                configure(**names)
                for path in paths:
                    started = time.perf_counter()
                    response = client.http.get(path)
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 200, response.body
                    if round_ >= 3:
                        samples[size][path].append(elapsed)
        for size, names in sets.items():
            configure(**names)
            stats = json.loads(client.http.get("/stats").body)
            assert stats["activeSessions"] + stats["completedSessions"] == size, stats
            page = json.loads(client.http.get("/sessions?status=Active").body)["sessions"]
            assert len(page) == PAGE and all(s["status"] == "Active" for s in page)
    return {
        size: {path: statistics.median(times) * 1000 for path, times in by_path.items()}
        for size, by_path in samples.items()
    }
