"""Cost per charger-month of real chargers on the WebSocket gateway: AWS's public on-demand prices applied to
the counts scripts/gateway_usage.py measures (docs/cost.md). Pure arithmetic, no AWS call.

`monthly_bill(counts, chargers)` returns every line of one month's bill for a fleet of that size, in dollars;
`per_charger_table(counts)` prints it per charger-month at 100, 1,000 and 10,000 chargers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_MONTH = 730  # AWS bills hourly resources by this month
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
GB = 1e9  # AWS prices data per GB of 10^9 bytes

# us-east-1 on-demand list prices, no free tier, read 2026-12-03 (sources in docs/cost.md).
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,  # per write request unit (on-demand, since the November 2024 cut)
    "dynamodb_rru": 0.125 / 1e6,  # per read request unit
    "dynamodb_storage_gb_month": 0.25,  # Standard table class
    "dynamodb_pitr_gb_month": 0.20,  # continuous backups, on in the prod stage
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,  # x86
    "api_gateway_rest_request": 3.50 / 1e6,  # first 333 million a month
    "eventbridge_event": 1.00 / 1e6,  # custom events
    "logs_ingested_gb": 0.50,  # CloudWatch Logs, Standard class
    "custom_metric_month": 0.30,  # first 10,000 metrics
    "xray_trace": 5.00 / 1e6,
    "fargate_vcpu_hour": 0.04048,  # Linux x86
    "fargate_gb_hour": 0.004445,
    "nlb_hour": 0.0225,
    "nlcu_hour": 0.006,
    "public_ipv4_hour": 0.005,
    "data_out_gb": 0.09,  # to the internet, first 10 TB a month
}

# What a GB of history kept costs a month: its storage and its point-in-time backups (prod).
KEPT_GB_MONTH = PRICES["dynamodb_storage_gb_month"] + PRICES["dynamodb_pitr_gb_month"]

# What one NLCU of a TLS listener carries an hour, whichever dimension is highest.
NLCU_TLS = {"active_connections": 3000, "new_connections_per_second": 50, "gb_per_hour": 1.0}


@dataclass(frozen=True)
class Deployment:
    """What the deployment runs whatever the traffic (the stack's values; see docs/cost.md for why)."""

    task_vcpu: float = 0.5  # OcppGatewayTaskDefinition Cpu 512
    task_gb: float = 1.0  # ... Memory 1024
    min_tasks: int = 2  # DesiredCount 2: one task may fail or be replaced
    # A task carries at most half of what one gateway process holds (10,000, issue 17), so that the
    # others take its chargers when one is lost.
    chargers_per_task: int = 5000
    nlb_public_ips: int = 2  # one per subnet (AZ) the load balancer is in
    # The load balancer's and ECS's health checks share one GetItem (0.5 read unit) per task every
    # gateway_health.HEALTH_CACHE_SECONDS (5 s) at most; not measured here (no load balancer).
    health_reads_per_task_hour: float = 3600 / 5
    reconnects_per_charger_day: float = 1.0  # new TLS connections (NLCU's new-connection dimension)
    schedule_invocations_per_day: float = 720  # simulate_tick every 2 minutes, deployed in every stage
    schedule_seconds: float = 0.1  # a tick with no simulated fleet (assumed)
    lambda_gb: float = 0.5  # lambda_memory_size 512
    api_seconds: float = 0.05  # one dashboard request (assumed)
    lambda_log_bytes: int = 630  # per API invocation: our line (~330 B) and Lambda's START/END/REPORT (~300 B)
    dashboard_refreshes_per_day: float = 960  # one dashboard open 8 hours a day, a refresh every 30 s
    custom_metrics: int = 20  # MessagesProcessed / Rejected per action seen, and 3 more
    container_insights_metrics: int = 24  # ECS cluster, service and task metrics (assumed count)
    ping_bytes_per_charger_day: float = 2880 * 2 * 35  # WebSocket ping + pong every 30 s, with TLS framing
    prod_backups: bool = True


def tasks_for(chargers: int, deployment: Deployment) -> int:
    return max(deployment.min_tasks, math.ceil(chargers / deployment.chargers_per_task))


def dashboard_requests(chargers: int, active_share: float) -> int:
    """GET requests of one dashboard refresh (static/dashboard.js): /stats, every charge point page of 100,
    active sessions by 100 up to 5 pages, one page of the sessions table."""
    return 1 + max(1, math.ceil(chargers / 100)) + min(5, max(1, math.ceil(chargers * active_share / 100))) + 1


def monthly_bill(counts: dict, chargers: int, deployment: Deployment = Deployment()) -> dict[str, float]:
    """One month's bill in dollars, by line, for `chargers` chargers with the measured `counts` (the JSON
    scripts/gateway_usage.py writes: per charger-day, per gateway-hour, per dashboard refresh)."""
    p, day = PRICES, counts["perChargerDay"]
    charger_days = chargers * DAYS_PER_MONTH
    tasks = tasks_for(chargers, deployment)
    task_hours = tasks * HOURS_PER_MONTH
    background = counts["perGatewayHour"]
    dash = counts["dashboard"]
    refreshes = deployment.dashboard_refreshes_per_day * DAYS_PER_MONTH
    per_refresh = dashboard_requests(chargers, dash["activeShare"])
    api_requests = refreshes * per_refresh
    listing_rru = dash["rruFixed"] + dash["rruPerChargePoint"] * chargers
    invocations = api_requests + deployment.schedule_invocations_per_day * DAYS_PER_MONTH
    stored_gb = chargers * (counts["storedBytesPerCharger"] + counts["historyBytesPerChargerDay"] * DAYS_PER_MONTH) / GB
    data_gb_hour = chargers * (day["bytesIn"] + day["bytesOut"] + deployment.ping_bytes_per_charger_day) / 24 / GB
    nlcu = max(
        chargers / NLCU_TLS["active_connections"],
        chargers * deployment.reconnects_per_charger_day / 86400 / NLCU_TLS["new_connections_per_second"],
        data_gb_hour / NLCU_TLS["gb_per_hour"],
    )
    return {
        "DynamoDB writes (chargers)": charger_days * day["writeUnits"] * p["dynamodb_wru"],
        "DynamoDB reads (chargers)": charger_days * day["readUnits"] * p["dynamodb_rru"],
        "DynamoDB reads (outbox polls, health)": task_hours
        * (background["readUnits"] + 0.5 * deployment.health_reads_per_task_hour)
        * p["dynamodb_rru"],
        "DynamoDB reads (dashboard)": refreshes * listing_rru * p["dynamodb_rru"],
        "DynamoDB storage, first month": stored_gb
        * (p["dynamodb_storage_gb_month"] + (p["dynamodb_pitr_gb_month"] if deployment.prod_backups else 0)),
        "EventBridge (chargers)": charger_days * day["events"] * p["eventbridge_event"],
        "Lambda requests": invocations * p["lambda_request"],
        "Lambda compute": (
            api_requests * deployment.api_seconds
            + deployment.schedule_invocations_per_day * DAYS_PER_MONTH * deployment.schedule_seconds
        )
        * deployment.lambda_gb
        * p["lambda_gb_second"],
        "API Gateway (dashboard)": api_requests * p["api_gateway_rest_request"],
        "CloudWatch Logs": (charger_days * day["logBytes"] + invocations * deployment.lambda_log_bytes)
        / GB
        * p["logs_ingested_gb"],
        "CloudWatch metrics": (deployment.custom_metrics + deployment.container_insights_metrics)
        * p["custom_metric_month"],
        # X-Ray's default sampling traces 1 request a second, then 5 % of the rest: a refresh's requests
        # come within a second or so.
        "X-Ray (dashboard)": refreshes * (1 + 0.05 * (per_refresh - 1)) * p["xray_trace"],
        "Fargate tasks": task_hours
        * (deployment.task_vcpu * p["fargate_vcpu_hour"] + deployment.task_gb * p["fargate_gb_hour"]),
        "Network load balancer": HOURS_PER_MONTH * (p["nlb_hour"] + nlcu * p["nlcu_hour"]),
        "Public IPv4 addresses": (tasks + deployment.nlb_public_ips) * HOURS_PER_MONTH * p["public_ipv4_hour"],
        "Data out to chargers": charger_days
        * (day["bytesOut"] + deployment.ping_bytes_per_charger_day / 2)
        / GB
        * p["data_out_gb"],
    }


def per_charger_month(counts: dict, chargers: int) -> float:
    """The whole bill shared by the fleet's chargers, in dollars."""
    return sum(monthly_bill(counts, chargers).values()) / chargers


# DynamoDB "typically deletes expired items within two days of expiration" (UpdateTimeToLive, API reference);
# until then they are stored and billed.
TTL_LAG_DAYS = 2


def history_growth(counts: dict, retention_days: int = 0) -> dict[str, float]:
    """What grows every month per charger: its history in GB, as its sessions (kept forever: the billing
    records) and its meter history (the history table: kept `retention_days` after each reading and up to
    TTL_LAG_DAYS more until DynamoDB deletes it; 0 keeps it forever), each in GB per charger-month and in
    what each month of it kept adds to every later month's bill (storage, plus backups in prod).
    meterMonthsKept: how many months of meter history a charger holds once it stops growing."""
    gb = counts["historyBytesPerChargerDay"] * DAYS_PER_MONTH / GB
    meter_bytes, session_bytes = counts["tableBytes"]["history_table"], counts["tableBytes"]["sessions_table"]
    meter_gb = gb * meter_bytes / (meter_bytes + session_bytes) if meter_bytes else 0.0  # a run with no session
    return {
        "gbPerChargerMonth": gb,
        "dollarsPerMonthKept": gb * KEPT_GB_MONTH,
        "sessionsGbPerChargerMonth": gb - meter_gb,
        "sessionsDollarsPerMonthKept": (gb - meter_gb) * KEPT_GB_MONTH,
        "meterGbPerChargerMonth": meter_gb,
        "meterMonthsKept": (retention_days + TTL_LAG_DAYS) / DAYS_PER_MONTH if retention_days else math.inf,
    }


def stored_history_gb(counts: dict, months: float, retention_days: int = 0) -> float:
    """The history one charger has stored after `months` months in service: every session, and the meter
    history of the last meterMonthsKept months."""
    growth = history_growth(counts, retention_days)
    return growth["sessionsGbPerChargerMonth"] * months + growth["meterGbPerChargerMonth"] * min(
        months, growth["meterMonthsKept"]
    )


def per_charger_month_after(counts: dict, chargers: int, months: float, retention_days: int = 0) -> float:
    """The bill per charger in the fleet's `months`-th month: monthly_bill's (which stores one month of
    history) plus the storage and backups of the history kept from the months before."""
    kept_gb = stored_history_gb(counts, months, retention_days) - stored_history_gb(counts, 1, retention_days)
    return per_charger_month(counts, chargers) + kept_gb * KEPT_GB_MONTH


# The messages a charging session brings (its status changes included); the rest (heartbeats, boots,
# connections) a charger sends whether anyone charges or not.
SESSION_ACTIONS = ("Authorize", "StartTransaction", "StopTransaction", "MeterValues", "StatusNotification")


def at_sessions(counts: dict, sessions_per_day: float) -> dict:
    """The counts of a fleet whose chargers see `sessions_per_day` sessions each (sessions as long as the
    measured ones): what the sessions brought is scaled, the rest kept. A model, not a measurement."""
    days, actions = counts["run"]["chargerDays"], counts["perAction"]
    factor = sessions_per_day / (counts["run"]["sessions"] / days)
    day = dict(counts["perChargerDay"])
    for key in ("messages", "requests", "writeUnits", "readUnits", "bytesIn", "bytesOut"):
        brought = sum(actions[a].get(key, 0) for a in SESSION_ACTIONS if a in actions) / days
        day[key] += brought * (factor - 1)
    return {**counts, "perChargerDay": day, "historyBytesPerChargerDay": counts["historyBytesPerChargerDay"] * factor}


FLEETS = (100, 1000, 10000)


def per_charger_table(counts: dict, fleets: tuple[int, ...] = FLEETS) -> str:
    """The bill per charger-month, line by line, as a Markdown table."""
    bills = {n: monthly_bill(counts, n) for n in fleets}
    lines = [
        "| $ per charger-month | " + " | ".join(f"{n:,} chargers" for n in fleets) + " |",
        "| --- |" + " ---: |" * len(fleets),
    ]
    for item in bills[fleets[0]]:
        lines.append(f"| {item} | " + " | ".join(f"{bills[n][item] / n:.4f}" for n in fleets) + " |")
    lines.append("| **total** | " + " | ".join(f"**{sum(bills[n].values()) / n:.4f}**" for n in fleets) + " |")
    lines.append("| (whole fleet, $ a month) | " + " | ".join(f"{sum(bills[n].values()):,.2f}" for n in fleets) + " |")
    return "\n".join(lines)
