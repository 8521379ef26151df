"""The cost per charger-month (docs/cost.md): the pricing arithmetic on fixed counts, and a tiny measured run
of scripts/gateway_usage.py (two chargers on the gateway for a few seconds) producing the counts it prices."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploy import charger_cost
from tests.support import ROOT

COUNTS = {
    "perChargerDay": {
        "messages": 40,
        "requests": 50,
        "writeUnits": 1000,
        "readUnits": 400,
        "events": 0,
        "logBytes": 0,
        "bytesIn": 0,
        "bytesOut": 0,
    },
    "perGatewayHour": {"readUnits": 3600},
    "dashboard": {"rruFixed": 20, "rruPerChargePoint": 0.5, "activeShare": 0.1},
    "storedBytesPerCharger": 1000,
    "historyBytesPerChargerDay": 100_000,
    "tableBytes": {"sessions_table": 250_000, "history_table": 750_000, "charge_points_table": 10_000},
    # 10 charger-days: 300 heartbeats (1 unit each), 20 sessions of 1 Start (7 units) and 3 MeterValues (1 each)
    "run": {"chargerDays": 10, "sessions": 20},
    "perAction": {
        "Heartbeat": {"messages": 300, "writeUnits": 300},
        "StartTransaction": {"messages": 20, "writeUnits": 140},
        "MeterValues": {"messages": 60, "writeUnits": 60},
    },
}


def test_the_bill_applies_the_list_prices_to_the_counts():
    bill = charger_cost.monthly_bill(COUNTS, 1000)
    month = 730 / 24  # days
    assert bill["DynamoDB writes (chargers)"] == pytest.approx(1000 * month * 1000 * 0.625e-6)  # $19.01
    assert bill["DynamoDB reads (chargers)"] == pytest.approx(1000 * month * 400 * 0.125e-6)
    # 2 tasks: the measured polls, and a health check's read (0.5 unit) every 5 s
    assert bill["DynamoDB reads (outbox polls, health)"] == pytest.approx(2 * 730 * (3600 + 360) * 0.125e-6)
    # 1,000 chargers and one month of 100 KB a day each: 3.04 GB, stored and backed up
    assert bill["DynamoDB storage, first month"] == pytest.approx(1000 * (1000 + 100_000 * month) / 1e9 * 0.45)
    assert bill["EventBridge (chargers)"] == 0
    assert bill["Fargate tasks"] == pytest.approx(2 * 730 * (0.5 * 0.04048 + 1 * 0.004445))  # $36.04
    assert bill["Public IPv4 addresses"] == pytest.approx(4 * 730 * 0.005)


def test_the_always_on_part_is_shared_by_the_fleet():
    assert [charger_cost.tasks_for(n, charger_cost.Deployment()) for n in (100, 10_000, 10_001)] == [2, 2, 3]
    # 10,000 open TLS connections are 3.33 NLCU: the load balancer's largest dimension
    bill = charger_cost.monthly_bill(COUNTS, 10_000)
    assert bill["Network load balancer"] == pytest.approx(730 * (0.0225 + 10_000 / 3000 * 0.006))
    # a dashboard refresh: /stats, 100 pages of charge points, 5 of active sessions (at most), one of sessions
    assert charger_cost.dashboard_requests(10_000, 0.1) == 107
    per_charger = [charger_cost.per_charger_month(COUNTS, n) for n in charger_cost.FLEETS]
    assert per_charger == sorted(per_charger, reverse=True)
    table = charger_cost.per_charger_table(COUNTS)
    assert f"**{per_charger[-1]:.4f}**" in table.splitlines()[-2]


def test_a_month_of_history_is_priced_every_month_it_is_kept():
    growth = charger_cost.history_growth(COUNTS)
    assert growth["gbPerChargerMonth"] == pytest.approx(100_000 * 730 / 24 / 1e9)
    assert growth["dollarsPerMonthKept"] == pytest.approx(growth["gbPerChargerMonth"] * (0.25 + 0.20))


def test_meter_history_stops_growing_after_its_retention_and_sessions_grow_forever():
    month = 100_000 * 730 / 24 / 1e9  # GB of history per charger-month, a quarter of it sessions
    forever = charger_cost.history_growth(COUNTS)
    assert forever["meterGbPerChargerMonth"] == pytest.approx(0.75 * month)
    assert charger_cost.stored_history_gb(COUNTS, 36) == pytest.approx(36 * month)
    kept = charger_cost.history_growth(COUNTS, retention_days=400)
    assert kept["meterMonthsKept"] == pytest.approx((400 + 2) / (730 / 24))  # + TTL's deletion lag
    assert charger_cost.stored_history_gb(COUNTS, 12, 400) == pytest.approx(12 * month)
    steady = 0.25 * month * 36 + 0.75 * month * kept["meterMonthsKept"]
    assert charger_cost.stored_history_gb(COUNTS, 36, 400) == pytest.approx(steady)
    first = charger_cost.per_charger_month(COUNTS, 10_000)
    assert charger_cost.per_charger_month_after(COUNTS, 10_000, 1, 400) == pytest.approx(first)
    later = [charger_cost.per_charger_month_after(COUNTS, 10_000, m, 400) for m in (36, 37)]
    assert later[1] - later[0] == pytest.approx(0.25 * month * 0.45) == kept["sessionsDollarsPerMonthKept"]


def test_fewer_sessions_scale_what_sessions_bring_and_keep_the_rest():
    # 2 sessions a charger-day were measured, 20 write units of them; the other 980 stay
    fewer = charger_cost.at_sessions(COUNTS, 0.5)
    assert fewer["perChargerDay"]["writeUnits"] == pytest.approx(980 + 20 / 4)
    assert fewer["historyBytesPerChargerDay"] == pytest.approx(25_000)
    assert fewer["perChargerDay"]["readUnits"] == COUNTS["perChargerDay"]["readUnits"]


def test_a_measured_run_counts_every_message_and_what_it_cost(dynamodb_local, tmp_path):
    out = tmp_path / "usage.json"
    command = [sys.executable, "-m", "scripts.gateway_usage", "--count", "2", "--speed", "720", "--duration", "2"]
    subprocess.run([*command, "--endpoint", dynamodb_local, "--out", str(out)], cwd=ROOT, check=True, timeout=120)
    counts = json.loads(out.read_text())
    generator = counts["run"]["loadGenerator"]
    assert generator["calls"] == generator["answers"] == counts["run"]["messages"] > 0
    assert generator["unanswered"] == generator["callErrors"] == 0
    answered = {action: f for action, f in counts["perAction"].items() if f.get("messages")}
    assert sum(f["messages"] for f in answered.values()) == generator["calls"]
    assert all(f["requests"] >= f["messages"] and f["writeUnits"] > 0 for f in answered.values()), answered
    day = counts["perChargerDay"]
    assert day["events"] == 0  # the gateway publishes nothing: no EventBridge, no Lambda per message
    assert counts["storedBytesPerCharger"] > 500  # each charger's item, sized by DynamoDB's rules
