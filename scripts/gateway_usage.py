"""What real chargers on the WebSocket gateway ask of AWS, measured, and what that costs per charger-month.

    .venv/bin/python -m scripts.gateway_usage [--count 50 --speed 60 --duration 360]   (Java 17, npm install)
    .venv/bin/python -m scripts.gateway_usage --price out/gateway_usage.json         (the last counts, priced again)

A gateway runs in this process on DynamoDB Local with real deployments' intervals (HEARTBEAT_INTERVAL_SECONDS
300); `python -m scripts.ws_chargers ... --meter-interval 300` runs the chargers in another process. Every
DynamoDB request is charged to what made it (the OCPP action being answered, a socket opening or closing, or
the gateway's own outbox polls and health checks) with the capacity DynamoDB reports for it
(ReturnConsumedCapacity: DynamoDB Local bills as DynamoDB does, indexes included). Events published, log
bytes and frame bytes are counted too. Simulated time is speed x duration, so the counts per charger-day do
not depend on the machine. After the run, one dashboard refresh is priced the same way, and every table and
index is read to size what the chargers left behind (DynamoDB's item-size rules, 100 bytes of overhead per
item). The counts go to out/gateway_usage.json; deploy/charger_cost.py prices them (docs/cost.md).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = {
    "STAGE": "usage",
    "LOCAL_RUNTIME": "off",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "usage",
    "AWS_SECRET_ACCESS_KEY": "usage",
    "BOOT_POLICY": "accept-all",
    "UNKNOWN_ID_TAGS": "accept",
    "HEARTBEAT_INTERVAL_SECONDS": "300",
    "OCPP_AUTH": "none",
}
os.environ.update(ENV)
for _name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE"):
    os.environ.pop(_name, None)
sys.path.insert(0, str(ROOT))

# The environment above must be set before the central system's modules are imported.
from chalicelib import central_system, events, local_runtime, ocpp_frames, rest, settings, storage  # noqa: E402
from chalicelib.ocpp_gateway import Gateway, GatewayThread  # noqa: E402
from deploy import charger_cost  # noqa: E402

BACKGROUND = "(outbox polls, health)"
HARNESS = "(this script's own reads)"
CONNECTION = "(socket opened or closed)"
DASHBOARD = "(dashboard refresh)"
# The tables whose items pile up with time (sessions and their meter history), and the one that holds a
# fixed item per charger; the others do not grow with the fleet.
GROWING = ("sessions_table", "history_table")
PER_CHARGER = ("charge_points_table",)
CLOUDWATCH_EVENT_OVERHEAD = 26  # bytes CloudWatch Logs bills per log event besides its message


class Tally:
    """DynamoDB requests and capacity units by what made them: the label of the calling thread."""

    def __init__(self) -> None:
        self.local = threading.local()
        self.lock = threading.Lock()
        self.requests: Counter = Counter()
        self.operations: dict[str, Counter] = defaultdict(Counter)
        self.units: dict[str, Counter] = defaultdict(Counter)

    @contextmanager
    def label(self, name: str) -> Iterator[None]:
        previous, self.local.name = getattr(self.local, "name", None), name
        try:
            yield
        finally:
            self.local.name = previous

    def install(self, hooks: Any) -> None:
        hooks.register("before-parameter-build.dynamodb", self._ask)
        hooks.register("after-call.dynamodb", self._add)

    @staticmethod
    def _ask(params: dict, model: Any, context: dict, **_: Any) -> None:
        if "ReturnConsumedCapacity" in model.input_shape.members:
            params["ReturnConsumedCapacity"] = "INDEXES"  # the table's units and its indexes'
        context["consistent"] = bool(params.get("ConsistentRead"))

    def _add(self, parsed: dict, model: Any, context: dict, **_: Any) -> None:
        name = getattr(self.local, "name", None) or BACKGROUND
        consumed = parsed.get("ConsumedCapacity") or []
        total = sum(
            entry.get("CapacityUnits", 0.0) for entry in (consumed if isinstance(consumed, list) else [consumed])
        )
        refused = parsed.get("Error", {}).get("Code") in (
            "ConditionalCheckFailedException",
            "TransactionCanceledException",
        )
        kind = "readUnits" if model.name in storage.READ_OPERATIONS else "writeUnits"
        # DynamoDB Local reports 0 for a read that finds nothing and nothing for a refused conditional write;
        # DynamoDB bills both at least the smallest unit: 0.5 read unit (1 when strongly consistent), 1 write unit.
        if kind == "readUnits":
            total = max(total, 1.0 if context.get("consistent") else 0.5)
        elif refused:
            total = max(total, 1.0)
        with self.lock:
            self.requests[name] += 1
            self.operations[name][model.name] += 1
            self.units[name][kind] += total
            self.units[name]["refusedWrites"] += refused


def counted_handle(tally: Tally, frames: dict[str, Counter]) -> Callable[..., list]:
    """central_system.handle, charging what it asks of DynamoDB to the action it answers."""

    def handle(charge_point_id: str, message: str | bytes, received_at: datetime | None = None) -> list:
        action = ocpp_frames.peek(message).action or "(unparsable)"
        with tally.label(action):
            answer = central_system.handle(charge_point_id, message, received_at)
        with tally.lock:
            frames[action]["messages"] += 1
            frames[action]["bytesIn"] += len(message.encode() if isinstance(message, str) else message)
            frames[action]["bytesOut"] += len(json.dumps(answer, separators=(",", ":")).encode())
        return answer

    return handle


class CountedGateway(Gateway):
    """The gateway, with the requests a socket's opening and closing make charged to it."""

    def __init__(self, tally: Tally, frames: dict[str, Counter]) -> None:
        super().__init__(handle=counted_handle(tally, frames))
        self.tally = tally

    def _record_online(self, link: Any, online: bool) -> bool:
        with self.tally.label(CONNECTION):
            return super()._record_online(link, online)


class LogBytes(io.TextIOBase):
    """A stream that only counts what the gateway's log would send to CloudWatch Logs."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, text: str) -> int:
        self.bytes += len(text.encode()) + text.count("\n") * CLOUDWATCH_EVENT_OVERHEAD
        return len(text)


def run_chargers(url: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "scripts.ws_chargers", "--url", url, "--prefix", args.prefix]
    command += ["--count", str(args.count), "--speed", str(args.speed), "--duration", str(args.duration)]
    command += ["--meter-interval", str(args.meter_interval)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def wait_until_offline(ids: list[str], seconds: float = 60) -> None:
    """Until the gateway has recorded every socket's close (the requests a disconnect costs)."""
    deadline = time.monotonic() + seconds
    while any(storage.get_charge_point(cp)["online"] for cp in ids) and time.monotonic() < deadline:
        time.sleep(0.2)


def dashboard_refresh(tally: Tally, chargers: int) -> dict:
    """The reads of one dashboard refresh (static/dashboard.js), split into what grows with the fleet (every
    charge point page) and what does not."""
    with tally.label(DASHBOARD):
        rest.stats()
        rest.list_sessions({"limit": "20"})
        token, active = None, 0
        for _ in range(5):
            page = rest.list_sessions({"limit": "100", "status": "Active", **({"nextToken": token} if token else {})})
            active, token = active + len(page["sessions"]), page.get("nextToken")
            if not token:
                break
    fixed = tally.units[DASHBOARD]["readUnits"]
    with tally.label(DASHBOARD):
        token = None
        while True:
            page = rest.list_charge_points({"limit": "100", **({"nextToken": token} if token else {})})
            token = page.get("nextToken")
            if not token:
                break
    listing = tally.units[DASHBOARD]["readUnits"] - fixed
    return {"rruFixed": fixed, "rruPerChargePoint": listing / chargers, "activeShare": active / chargers}


def attribute_bytes(value: dict) -> int:
    """A low-level attribute value's size by DynamoDB's rules (docs: item sizes and formats)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        digits = str(Decimal(inner).normalize()).replace("-", "").replace(".", "").lstrip("0") or "0"
        return (len(digits.split("E")[0]) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_bytes({kind[0]: member}) for member in inner)
    members = inner.items() if kind == "M" else ((None, member) for member in inner)
    return 3 + sum((len(name.encode()) if name else 0) + attribute_bytes(member) + 1 for name, member in members)


def stored_bytes(table: str) -> int:
    """What a table and its indexes hold, as DynamoDB bills it (100 bytes of overhead per item or entry)."""
    client = storage.client()
    indexes = [
        index["IndexName"]
        for index in client.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
    ]
    total = 0
    for index in [None, *indexes]:
        for page in client.get_paginator("scan").paginate(TableName=table, **({"IndexName": index} if index else {})):
            total += sum(
                100 + sum(len(k.encode()) + attribute_bytes(v) for k, v in item.items()) for item in page["Items"]
            )
    return total


@contextmanager
def dynamodb_local(endpoint: str | None) -> Iterator[None]:
    """DynamoDB Local at `endpoint`, or one started for this run; fresh tables either way."""
    process = None
    if endpoint is None:
        process, endpoint = local_runtime.start_dynamodb_local(None)
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
    suffix = uuid.uuid4().hex[:8]
    for attribute in storage.TABLES.values():
        os.environ[attribute.upper()] = f"usage-{attribute.removesuffix('_table').replace('_', '-')}-{suffix}"
    try:
        yield
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)


def measure(args: argparse.Namespace) -> dict:
    log_bytes = LogBytes()
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=log_bytes)  # as the gateway's main()
    with dynamodb_local(args.endpoint):
        settings.get.cache_clear()
        storage.reset_client()
        storage.ensure_tables()
        tally, frames = Tally(), defaultdict(Counter)
        tally.install(storage.client().meta.events)
        bus = events.LocalBus(deferred=True)  # holds what the gateway publishes: counted, never delivered
        events.use(bus)
        gateway = GatewayThread("127.0.0.1", local_runtime.free_port(), CountedGateway(tally, frames))
        started = time.monotonic()
        try:
            chargers = run_chargers(gateway.url, args)
            with tally.label(HARNESS):
                wait_until_offline([f"{args.prefix}{n:04d}" for n in range(1, args.count + 1)])
        finally:
            gateway.stop()
        gateway_hours = (time.monotonic() - started) / 3600
        messages = sum(f["messages"] for f in frames.values())
        charger_days = args.count * args.speed * args.duration / 86400
        dashboard = dashboard_refresh(tally, args.count)
        tables = settings.get()
        with tally.label(HARNESS):
            recorded = rest.stats()
            sizes = {attribute: stored_bytes(getattr(tables, attribute)) for attribute in (*GROWING, *PER_CHARGER)}
    per_action = {
        action: {**frames[action], "requests": tally.requests[action], **tally.units[action]}
        for action in sorted(set(frames) | {CONNECTION})
    }
    totals: Counter = Counter()
    for figures in per_action.values():
        totals.update(figures)
    for action, figures in per_action.items():
        figures["operations"] = dict(tally.operations[action])
    return {
        "run": {
            "chargers": args.count,
            "speed": args.speed,
            "durationSeconds": args.duration,
            "meterIntervalSeconds": args.meter_interval,
            "heartbeatIntervalSeconds": int(ENV["HEARTBEAT_INTERVAL_SECONDS"]),
            "chargerDays": charger_days,
            "messages": messages,
            "sessions": recorded["activeSessions"] + recorded["completedSessions"],
            "wallSeconds": chargers["seconds"],
            "loadGenerator": chargers,
        },
        "perAction": per_action,
        "perChargerDay": {
            "messages": messages / charger_days,
            "requests": totals["requests"] / charger_days,
            "writeUnits": totals["writeUnits"] / charger_days,
            "readUnits": totals["readUnits"] / charger_days,
            "refusedWrites": totals["refusedWrites"] / charger_days,
            "bytesIn": totals["bytesIn"] / charger_days,
            "bytesOut": totals["bytesOut"] / charger_days,
            "events": len(bus.queue) / charger_days,
            "logBytes": log_bytes.bytes / charger_days,
        },
        "perGatewayHour": {
            "requests": tally.requests[BACKGROUND] / gateway_hours,
            "readUnits": tally.units[BACKGROUND]["readUnits"] / gateway_hours,
            "operations": dict(tally.operations[BACKGROUND]),
        },
        "dashboard": dashboard,
        "storedBytesPerCharger": sum(sizes[a] for a in PER_CHARGER) / args.count,
        "historyBytesPerChargerDay": sum(sizes[a] for a in GROWING) / charger_days,
        "tableBytes": sizes,
    }


def action_table(counts: dict) -> str:
    lines = [
        "| action | messages | per charger-day | requests/msg | write units/msg | read units/msg |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    days = counts["run"]["chargerDays"]
    for action, f in counts["perAction"].items():
        n = f.get("messages", 0)
        per = f"{n / days:.1f}" if n else "-"
        if not n:  # a socket's opening and closing: per connection
            n = max(counts["run"]["loadGenerator"]["connections"], 1)
        lines.append(
            f"| {action} | {f.get('messages', 0):,} | {per} | {f['requests'] / n:.2f} | "
            f"{f.get('writeUnits', 0) / n:.2f} | {f.get('readUnits', 0) / n:.2f} |"
        )
    return "\n".join(lines)


def checks(counts: dict) -> str:
    """Whether the run is a faithful day: a charger heartbeats at most every interval (it waits for its next
    tick, so a little less often), and a StartTransaction sent again (its answer later than the charger's
    resend delay in simulated time: too high a speed for the machine) costs a second message."""
    run, actions = counts["run"], counts["perAction"]
    heartbeats = actions.get("Heartbeat", {}).get("messages", 0) / run["chargerDays"]
    starts = actions.get("StartTransaction", {}).get("messages", 0)
    return (
        f"Checks: {heartbeats:.0f} Heartbeats per charger-day (at most {86400 / run['heartbeatIntervalSeconds']:.0f}); "
        f"{starts} StartTransaction for {run['sessions']} sessions recorded ({starts - run['sessions']} sent again); "
        f"{run['sessions'] / run['chargerDays']:.1f} sessions per charger-day; "
        f"{run['loadGenerator']['unanswered']} unanswered, {run['loadGenerator']['callErrors']} CALLERRORs."
    )


def retention_line(counts: dict) -> str:
    """Where the history's growth stops with the default METER_HISTORY_RETENTION_DAYS: the meter history
    once the oldest readings expire, the sessions never."""
    days = settings.load({}).meter_history_retention_days
    growth = charger_cost.history_growth(counts, days)
    months = growth["meterMonthsKept"]
    bills = ", ".join(
        f"month {m} ${charger_cost.per_charger_month_after(counts, 10000, m, days):.4f}" for m in (12, 24, 36)
    )
    return (
        f"Retention {days} days: meter history ({growth['meterGbPerChargerMonth'] * 1e6:,.0f} KB per charger-month) "
        f"stops growing after {months:.1f} months at {growth['meterGbPerChargerMonth'] * months * 1e6:,.0f} KB per "
        f"charger; sessions ({growth['sessionsGbPerChargerMonth'] * 1e6:,.0f} KB per charger-month) are kept "
        f"forever, ${growth['sessionsDollarsPerMonthKept']:.5f} per charger more every month. At 10,000 chargers "
        f"per charger-month: {bills}."
    )


def report(counts: dict) -> str:
    day, growth = counts["perChargerDay"], charger_cost.history_growth(counts)
    summary = ", ".join(f"{k} {v:,.1f}" for k, v in day.items())
    parts = [
        action_table(counts),
        checks(counts),
        f"Per charger-day: {summary}.",
        f"Gateway background per task-hour: {counts['perGatewayHour']['requests']:,.0f} requests, "
        f"{counts['perGatewayHour']['readUnits']:,.0f} read units.",
        f"History: {growth['gbPerChargerMonth'] * 1e6:,.0f} KB per charger-month "
        f"({growth['gbPerChargerMonth']:.6f} GB), each month kept adds ${growth['dollarsPerMonthKept']:.5f} "
        "per charger to every later month (storage and backups).",
        retention_line(counts),
        charger_cost.per_charger_table(counts),
    ]
    if counts["run"]["sessions"]:
        scaled = (
            f"{n} a day ${charger_cost.per_charger_month(charger_cost.at_sessions(counts, n), 10000):.4f}"
            for n in (2, 5, 10)
        )
        parts.append(
            "With fewer sessions (modelled: what sessions bring scaled, the rest as measured), per charger-month "
            f"at 10,000 chargers: {', '.join(scaled)}."
        )
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50, help="chargers")
    parser.add_argument("--speed", type=float, default=60, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=360, help="real seconds the chargers run")
    parser.add_argument("--meter-interval", type=int, default=300, help="seconds between MeterValues")
    parser.add_argument("--prefix", default="CP-COST-")
    parser.add_argument("--endpoint", help="a running DynamoDB Local (default: start one)")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "gateway_usage.json")
    parser.add_argument("--price", type=Path, help="price the counts in this file instead of measuring")
    args = parser.parse_args()
    if args.price:
        counts = json.loads(args.price.read_text())
    else:
        counts = measure(args)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(counts, indent=2, default=float))
    print(report(counts))


if __name__ == "__main__":
    main()
