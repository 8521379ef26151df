"""What a simulated day asks of AWS, for the cost estimate in docs/deployment.md: Lambda invocations per function,
events published, DynamoDB requests and the capacity units DynamoDB reports for them.

It runs the app's own handlers as Lambda would (the schedule every SIMULATOR_SCHEDULE_MINUTES of
simulated time, each published event delivered to the rules' handlers) on DynamoDB Local, which
reports consumed capacity like DynamoDB (ReturnConsumedCapacity is added to every request here).

usage: python deploy/usage_per_day.py [--fleet 3] [--hours 24]     (needs Java 17 and npm install)

Real chargers on the WebSocket gateway (no simulator, no bus) are measured by scripts/gateway_usage.py and
priced per charger-month by deploy/charger_cost.py (docs/cost.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=int, default=3)
    parser.add_argument("--hours", type=float, default=24)
    args = parser.parse_args()
    os.environ.update(
        {
            "STAGE": "usage",
            "LOCAL_RUNTIME": "off",
            "FLEET_SIZE": str(args.fleet),
            "SIMULATOR_SEED": "7",
            "BOOT_POLICY": "accept-all",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "usage",
            "AWS_SECRET_ACCESS_KEY": "usage",
        }
    )
    sys.path.insert(0, str(ROOT))
    import boto3

    from chalicelib import events, local_runtime, ocpp_frames, settings, storage

    process, endpoint = local_runtime.start_dynamodb_local(None)
    try:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoint
        requests: Counter = Counter()
        units: Counter = Counter()

        def ask_for_capacity(params: dict, model, **_) -> None:
            if model.name not in ("ListTables", "CreateTable", "DescribeTable"):
                params["ReturnConsumedCapacity"] = "TOTAL"

        def count(parsed: dict, model, **_) -> None:
            requests[model.name] += 1
            consumed = parsed.get("ConsumedCapacity") or []
            for entry in consumed if isinstance(consumed, list) else [consumed]:
                units["WRU" if model.name in WRITES else "RRU"] += entry.get("CapacityUnits", 0)

        boto3.setup_default_session()
        boto3.DEFAULT_SESSION.events.register("provide-client-params.dynamodb.*", ask_for_capacity)
        boto3.DEFAULT_SESSION.events.register("after-call.dynamodb.*", count)
        storage.reset_client()
        storage.ensure_tables()
        requests.clear()
        import app

        invocations: Counter = Counter()
        published = Counter()
        bus = local_runtime.local_bus(app.app, deferred=True)
        bus.subscribers = [
            (pattern, _counted(target, name, invocations))
            for (pattern, target), name in zip(bus.subscribers, _handler_names(app.app), strict=True)
        ]
        publish = bus.publish

        def counting_publish(entries: list[dict]) -> None:
            published["events"] += len(entries)
            published["PutEvents calls"] += (len(entries) + events.BATCH - 1) // events.BATCH
            publish(entries)

        bus.publish = counting_publish
        events.use(bus)
        clock = [datetime(2026, 3, 2, 0, 0, tzinfo=UTC)]
        ocpp_frames.now = lambda: clock[0]
        step = timedelta(minutes=settings.get().schedule_minutes)
        scheduled = {
            "version": "0",
            "id": "usage",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "0",
            "time": "",
            "region": "us-east-1",
            "resources": [],
            "detail": {},
        }
        started = time.perf_counter()
        end = clock[0] + timedelta(hours=args.hours)
        while clock[0] < end:
            app.simulate_tick(scheduled, None)
            invocations["simulate_tick"] += 1
            bus.flush()
            clock[0] += step
        print(
            json.dumps(
                {
                    "fleet": args.fleet,
                    "hours": args.hours,
                    "invocations": dict(invocations),
                    "published": dict(published),
                    "dynamodb_requests": dict(requests),
                    "capacity_units": {k: round(v, 1) for k, v in units.items()},
                    "seconds": round(time.perf_counter() - started, 1),
                },
                indent=2,
            )
        )
    finally:
        process.terminate()
        process.wait(timeout=10)


def _handler_names(app) -> list[str]:
    from chalice.app import CloudWatchEventConfig

    return [s.name for s in app.event_sources if isinstance(s, CloudWatchEventConfig)]


def _counted(target, name: str, invocations: Counter):
    def invoke(event: dict) -> None:
        invocations[name] += 1
        target(event)

    return invoke


if __name__ == "__main__":
    main()
