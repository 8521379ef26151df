"""The central system on a simulated fleet's traffic (scripts/benchmark.py's measurements 1, 2 and 4):
requests, write units and time per message by action beside the raw PutItem rate, and one simulator
tick of a large fleet."""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime, timedelta

import app
from chalicelib import central_system, events, local_runtime, simulator, storage
from scripts.bench_setup import configure, fresh_tables

TICK = timedelta(minutes=2)  # the schedule's rate in .chalice/config.json


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


def mix_ratio(mix: dict) -> float:
    """The central system's messages per second ÷ the raw PutItems per second of the same mix."""
    return sum(mix["messages"].values()) / mix["seconds"] / mix["putRate"]


def own_python(mix: dict) -> float:
    """Seconds per message the handler spends outside DynamoDB calls."""
    return (mix["seconds"] - sum(mix["requestSeconds"].values())) / sum(mix["messages"].values())


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
