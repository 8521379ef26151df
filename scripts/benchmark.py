"""Performance at fleet scale, measured side by side in one run, printed as one table.

    .venv/bin/python scripts/benchmark.py --backend both

1. DynamoDB requests per message, by action and on average, over a simulated fleet's traffic (counted at
   the client), against the budget: Heartbeat and MeterValues 1, at most 2 on average; and the write units
   the backend reports for them (ReturnConsumedCapacity=TOTAL: DynamoDB Local bills as DynamoDB does).
2. The central system's messages per second next to the raw single-PutItem rate on the same backend,
   interleaved tick by tick (a shared machine's load falls on both alike).
3. GET /stats and GET /sessions?status=Active (first page) latency medians with 100 and with 100,000
   stored sessions (bulk-loaded in the central system's own item shape, counters to match).
4. One simulator tick of a 1,000 charge point fleet: events, PutEvents calls, seconds, peak memory.
5. `import app` against `import boto3` in fresh interpreters, and the deployment package's size.

Backends: moto (in process) and DynamoDB Local (AWS's engine on Java 17). The latency ratios count
from DynamoDB Local only: moto's Query walks the whole table, real DynamoDB does not.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "STAGE": "bench",
    "LOCAL_RUNTIME": "off",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "BOOT_POLICY": "accept-all",
    "UNKNOWN_ID_TAGS": "accept",
    "SIMULATOR_SEED": "11",
    "SIMULATOR_SPEED": "1",
    "EVENT_BUS_NAME": "ev-bus-bench",
}
os.environ.update(ENV)
for _name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(_name, None)
sys.path.insert(0, str(ROOT))

# The stage's environment above must be set before the app and its modules are imported.
import app  # noqa: E402
from chalicelib import (  # noqa: E402
    central_system,
    charging_rules,
    events,
    local_runtime,
    ocpp_frames,
    pricing,  # noqa: E402
    settings,
    simulator,
    storage,
)

TICK = timedelta(minutes=2)  # the schedule's rate in .chalice/config.json
PAGE = 20  # /sessions' default page size
BUDGET_AVERAGE = 2.0
ONE_REQUEST = ("Heartbeat", "MeterValues")
RATIO_LIMIT = 1.3
WARM_UP_MINUTES = 30


def configure(**values: object) -> None:
    """Change settings. They are read at once: chalice's test client lays its stage's variables over
    the environment during each request."""
    for name, value in values.items():
        os.environ[name] = str(value)
    settings.get.cache_clear()
    settings.get()


def fresh_tables() -> dict[str, str]:
    """New, empty tables for the next measurement (names from the environment, as in every stage)."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "CHARGE_POINTS_TABLE": f"bench-cp-{suffix}",
        "SESSIONS_TABLE": f"bench-sessions-{suffix}",
        "SIMULATOR_TABLE": f"bench-sim-{suffix}",
        "STATS_TABLE": f"bench-stats-{suffix}",
    }
    configure(**names)
    storage.ensure_tables()
    return names


@contextmanager
def backend(name: str) -> Iterator[None]:
    if name == "moto":
        from moto import mock_aws

        with mock_aws():
            storage.reset_client()
            yield
    else:
        process, endpoint = local_runtime.start_dynamodb_local(None)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        storage.reset_client()
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)
            del os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    storage.reset_client()


def log(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- 1 and 2: the central system on a simulated fleet's traffic ----------------------------------


def tallies() -> dict[str, Counter]:
    """Per action: DynamoDB requests, write units, messages and the seconds spent inside DynamoDB calls."""
    return {"requests": Counter(), "writeUnits": Counter(), "messages": Counter(), "requestSeconds": Counter()}


def write_units(units: Counter) -> float:
    return sum(value for operation, value in units.items() if operation not in storage.READ_OPERATIONS)


def answer_calls(
    bus: events.LocalBus, counted: Counter, consumed: Counter, found: dict[str, Counter], inside: list[float]
) -> float:
    """Answer the CALLs the last tick published, one by one as the bus would; the answers wait in the
    bus for the simulator's inbox. Returns the seconds spent answering; `found` gets each action's
    requests, write units, messages and seconds inside DynamoDB calls (`inside`: storage.timing_requests)."""
    calls, bus.queue = [e for e in bus.queue if e["source"] == events.CHARGER_SOURCE], []
    spent = 0.0
    for event in calls:
        before, units_before, inside_before = sum(counted.values()), write_units(consumed), inside[0]
        started = time.perf_counter()
        events.answer_call_event(event, central_system.handle)
        spent += time.perf_counter() - started
        action = event["detail"]["action"]
        found["requests"][action] += sum(counted.values()) - before
        found["writeUnits"][action] += write_units(consumed) - units_before
        found["messages"][action] += 1
        found["requestSeconds"][action] += inside[0] - inside_before
    bus.flush()
    return spent


def message_mix(fleet: int, minutes: int) -> dict:
    """A fleet lives `minutes` (ending now, so that no timestamp is in the future) on 2-minute ticks.
    After each tick's answers as many raw PutItem requests are timed: the two rates are measured side
    by side, under the same load of a shared machine."""
    fresh_tables()
    configure(FLEET_SIZE=fleet)
    bus = local_runtime.local_bus(app.app, deferred=True)
    events.use(bus)
    found = tallies()
    start = datetime.now(UTC) - timedelta(minutes=minutes)
    spent = put_spent = 0.0
    puts = 0
    with (
        storage.counting_requests() as counted,
        storage.counting_capacity() as consumed,
        storage.timing_requests() as inside,
    ):
        for tick in range(minutes // 2 + 1):
            simulator.run_tick(start + tick * TICK)
            answered = sum(found["messages"].values())
            spent += answer_calls(bus, counted, consumed, found, inside)
            count = sum(found["messages"].values()) - answered
            put_spent += raw_puts(puts, count)
            puts += count
    events.use(None)
    return {**found, "seconds": spent, "putRate": puts / put_spent}


def raw_puts(first: int, count: int) -> float:
    """`count` single PutItem requests, one after the other, on the same backend: their seconds."""
    started = time.perf_counter()
    for n in range(first, first + count):
        storage.put_simulator_item({"pk": f"bench#{n}", "state": "x" * 200})
    return time.perf_counter() - started


# --- 3: API latency with 100 and with 100,000 stored sessions ------------------------------------


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


# --- 4: a simulator tick of a large fleet --------------------------------------------------------


def fleet_tick(fleet: int) -> dict:
    """Tick 1 boots the fleet and the central system answers; tick 2, two minutes later, is the one
    measured: the answers read, every charger announcing itself and living two minutes."""
    fresh_tables()
    configure(FLEET_SIZE=fleet)
    bus = local_runtime.local_bus(app.app, deferred=True)
    events.use(bus)
    start = datetime.now(UTC) - 3 * TICK
    simulator.run_tick(start)
    answer_calls(bus, Counter(), Counter(), tallies(), [0.0])
    counting_bus = events.LocalBus()  # no subscribers: counts PutEvents calls as EventBridgePublisher makes them
    events.use(counting_bus)
    with storage.counting_requests() as counted:
        started = time.perf_counter()
        sent = simulator.run_tick(start + TICK)
        seconds = time.perf_counter() - started
    put_events = counting_bus.calls
    tracemalloc.start()
    simulator.run_tick(start + 2 * TICK)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    events.use(None)
    return {
        "events": len(sent),
        "putEvents": put_events,
        "seconds": seconds,
        "requests": counted,
        "peakMb": peak / 2**20,
    }


# --- 5: cold start and package --------------------------------------------------------------------


def import_seconds(module: str, repeat: int) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENV}
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    ]
    return statistics.median(runs)


def package_bytes() -> tuple[int, str]:
    """The deployment archive: out/deployment.zip when `chalice package` wrote one, else built now."""
    existing = ROOT / "out" / "deployment.zip"
    if existing.exists():
        return existing.stat().st_size, "out/deployment.zip"
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev", out],
            cwd=ROOT,
            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"},
            check=True,
            capture_output=True,
        )
        return (Path(out) / "deployment.zip").stat().st_size, "chalice package --stage dev"


# --- the run ---------------------------------------------------------------------------------------


def measure(name: str, args: argparse.Namespace) -> dict:
    found: dict = {}
    with backend(name):
        # A first, shorter mix warms the backend (DynamoDB Local's JIT): a cold JVM slows the raw PutItems
        # more than the messages, and once showed 0.51 where the warm runs after it gave 0.41.
        log(f"{name}: warm-up mix, {args.mix_fleet} charge points for {WARM_UP_MINUTES} minutes")
        message_mix(args.mix_fleet, WARM_UP_MINUTES)
        runs = []
        for run in range(args.mix_runs):
            log(
                f"{name}: message mix {run + 1}/{args.mix_runs}, {args.mix_fleet} charge points, {args.mix_minutes} min"
            )
            runs.append(message_mix(args.mix_fleet, args.mix_minutes))
        # Counts and per-action shares come from the run with the median ratio; the ratio row shows all runs.
        found["mix"] = sorted(runs, key=mix_ratio)[len(runs) // 2]
        found["ratios"] = sorted(mix_ratio(r) for r in runs)
        log(f"{name}: simulator tick, {args.fleet} charge points")
        found["tick"] = fleet_tick(args.fleet)
        log(f"{name}: API latency, {args.small} and {args.sessions} sessions")
        found["latency"] = api_latency(args.small, args.sessions, args.repeat)
    return found


def table(results: dict[str, dict], args: argparse.Namespace, imports: dict, package: tuple[int, str]) -> str:
    names = list(results)
    header = "| measurement | target | " + " | ".join(NAMES[n] for n in names) + " |"
    lines = [header, "|" + " --- |" * (2 + len(names))]

    def row(label: str, target: str, cell: Callable[[dict], str]) -> None:
        lines.append(f"| {label} | {target} | " + " | ".join(cell(results[n]) for n in names) + " |")

    actions = sorted(set().union(*(r["mix"]["messages"] for r in results.values())))

    def per_message(tally: str, action: str | None, scale: Callable[[dict], float] = lambda mix: 1.0) -> Callable:
        """A cell: the mix's `tally` per message of `action` (None: of the whole mix), times `scale`."""

        def cell(r: dict) -> str:
            mix = r["mix"]
            count = mix["messages"][action] if action else sum(mix["messages"].values())
            total = mix[tally][action] if action else sum(mix[tally].values())
            return f"{total / count * scale(mix):.2f}" if count and sum(mix[tally].values()) else "-"

        return cell

    def with_count(cell: Callable[[dict], str], action: str | None) -> Callable[[dict], str]:
        def counted(r: dict) -> str:
            messages = r["mix"]["messages"]
            return f"{cell(r)} ({messages[action] if action else sum(messages.values())} msgs)"

        return counted

    for tally, label, one, whole_target in (
        ("requests", "DynamoDB requests", "1", f"<= {BUDGET_AVERAGE:g}"),
        ("writeUnits", "DynamoDB write units", "", "<= 1.5 (DynamoDB Local)"),
    ):
        for action in [*actions, None]:
            cell = per_message(tally, action)
            row(
                f"{label} per {action}" if action else f"{label} per message, whole mix",
                (one if action in ONE_REQUEST else "") if action else whole_target,
                with_count(cell, action) if tally == "requests" else cell,
            )
    for action in actions:
        row(
            f"time inside DynamoDB calls per {action} ÷ one PutItem",
            "",
            per_message("requestSeconds", action, lambda mix: mix["putRate"]),
        )
    row(
        "handler's own Python per message (outside DynamoDB calls)",
        "",
        lambda r: f"{own_python(r['mix']) * 1000:.2f} ms",
    )
    row("central system, messages/s", "", lambda r: f"{sum(r['mix']['messages'].values()) / r['mix']['seconds']:.0f}")
    row("raw single PutItem, requests/s", "", lambda r: f"{r['mix']['putRate']:.0f}")
    row(
        f"messages/s ÷ PutItem/s (interleaved), median of {args.mix_runs} mixes",
        ">= 0.5",
        lambda r: f"{statistics.median(r['ratios']):.2f} ({', '.join(f'{x:.3f}' for x in r['ratios'])})",
    )
    row(
        "  the same if the handler's own Python cost nothing",
        "",
        lambda r: (
            f"{sum(r['mix']['messages'].values()) / sum(r['mix']['requestSeconds'].values()) / r['mix']['putRate']:.2f}"
        ),
    )
    for path in ("/stats", "/sessions?status=Active"):
        for size in (args.small, args.sessions):
            row(f"GET {path} median, {size:,} sessions", "", lambda r, p=path, s=size: f"{r['latency'][s][p]:.1f} ms")
        row(
            f"GET {path} ratio {args.sessions:,} / {args.small:,}",
            f"<= {RATIO_LIMIT} (DynamoDB Local)",
            lambda r, p=path: f"{r['latency'][args.sessions][p] / r['latency'][args.small][p]:.2f}",
        )
    row(f"simulator tick, {args.fleet:,} charge points: events", "", lambda r: f"{r['tick']['events']:,}")
    row("  PutEvents calls", "⌈events / 10⌉", lambda r: f"{r['tick']['putEvents']:,}")
    row(
        "  DynamoDB requests",
        f"⌈{args.fleet}/100⌉ + replies BatchGetItem, ⌈writes/25⌉ BatchWriteItem",
        lambda r: ", ".join(f"{k} {v}" for k, v in sorted(r["tick"]["requests"].items())),
    )
    row("  seconds", "well inside the 60 s Lambda timeout", lambda r: f"{r['tick']['seconds']:.1f} s")
    row("  peak Python memory (next tick)", "within 512 MB", lambda r: f"{r['tick']['peakMb']:.0f} MB")
    lines.append(
        f"| `import app` / `import boto3` (median of {args.imports}) | <= {RATIO_LIMIT} | "
        + f"{imports['app'] * 1000:.0f} ms / {imports['boto3'] * 1000:.0f} ms = "
        + f"{imports['app'] / imports['boto3']:.2f}"
        + " |" * len(names)
    )
    lines.append(f"| deployment package ({package[1]}) | small | {package[0] / 2**20:.2f} MB" + " |" * len(names))
    return "\n".join(lines)


def mix_ratio(mix: dict) -> float:
    """The central system's messages per second ÷ the raw PutItems per second of the same mix."""
    return sum(mix["messages"].values()) / mix["seconds"] / mix["putRate"]


def own_python(mix: dict) -> float:
    """Seconds per message the handler spends outside DynamoDB calls."""
    return (mix["seconds"] - sum(mix["requestSeconds"].values())) / sum(mix["messages"].values())


NAMES = {"moto": "moto", "dynamodb-local": "DynamoDB Local"}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {memory_kb / 2**20:.1f} GiB RAM, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("moto", "dynamodb-local", "both"), default="both")
    parser.add_argument("--sessions", type=int, default=100_000, help="the large data set")
    parser.add_argument("--small", type=int, default=100, help="the small data set")
    parser.add_argument("--fleet", type=int, default=1000, help="charge points in the measured tick")
    parser.add_argument("--mix-fleet", type=int, default=30, help="charge points in the message mix")
    parser.add_argument("--mix-minutes", type=int, default=90, help="simulated minutes of the message mix")
    parser.add_argument("--mix-runs", type=int, default=3, help="message mixes measured (after a warm-up)")
    parser.add_argument("--repeat", type=int, default=50, help="requests per latency median")
    parser.add_argument("--imports", type=int, default=7, help="fresh interpreters per import median")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # one log line per message would bury the table
    names = ["moto", "dynamodb-local"] if args.backend == "both" else [args.backend]
    results = {name: measure(name, args) for name in names}
    log("imports and package")
    imports = {module: import_seconds(module, args.imports) for module in ("app", "boto3")}
    package = package_bytes()
    print(f"Machine: {machine()}\n")
    print(table(results, args, imports, package))
    return 0


if __name__ == "__main__":
    sys.exit(main())
