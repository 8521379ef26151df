"""Concurrent handler invocations on the same charge point and session lose nothing, against DynamoDB
Local (AWS's engine: its conditional writes and transactions are what moto only imitates). Threads stand
in for Lambda invocations running at once; every assertion is on the exact final state and counters."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from chalicelib import central_system, ocpp_frames, rest, storage
from tests import figures
from tests.backends import fresh_tables
from tests.support import T0

WORKERS = 16


@pytest.fixture
def local_db(monkeypatch, dynamodb_local, app_module):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    fresh_tables(monkeypatch)
    yield
    storage.reset_client()


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def ts(seconds: float) -> str:
    return ocpp_frames.format_timestamp(at(seconds))


def handle_all(calls: list[tuple[str, list, float]]) -> list[list]:
    """Run every (chargePointId, frame, received second) at once, in a shuffled order."""
    random.Random(len(calls)).shuffle(calls)
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(lambda c: central_system.handle(c[0], json.dumps(c[1]), received_at=at(c[2])), calls))
    figures.add("concurrency", concurrent_messages=len(calls))
    assert len(answers) == len(calls) > 0, "nothing was sent"
    assert all(answer[0] == ocpp_frames.CALLRESULT for answer in answers), [a for a in answers if a[0] != 3][:3]
    return answers


def boot(cp: str) -> None:
    handle_all([(cp, [2, f"boot-{cp}", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}], 0)])


def test_concurrent_status_notifications_keep_the_newest_per_connector_and_exact_counters(local_db):
    boot("CP-1")
    statuses = ["Available", "Preparing", "Charging", "SuspendedEV", "Finishing"]
    calls = [
        (
            "CP-1",
            [
                2,
                f"s{c}-{n}",
                "StatusNotification",
                {
                    "connectorId": c,
                    "status": statuses[(c + n) % len(statuses)],
                    "errorCode": "NoError",
                    "timestamp": ts(10 + n),
                },
            ],
            10 + n,
        )
        for c in range(1, 9)
        for n in range(6)
    ]
    handle_all(calls)
    item = storage.get_charge_point("CP-1", consistent=True)
    for connector in range(1, 9):
        newest = statuses[(connector + 5) % len(statuses)]
        assert item["connectorStatus"][str(connector)] == {
            "status": newest,
            "errorCode": "NoError",
            "timestamp": ts(15),
        }, connector
    assert int(item["connectors"]) == 8
    stats = rest.stats()
    assert stats["totalChargePoints"] == 1
    assert (stats["chargingChargePoints"], stats["availableChargePoints"]) == (1, 0) and item["status"] == "Charging"
    totals = storage.read_stats(16)
    assert sum(v for k, v in totals.items() if k.startswith("status_")) == 1


def test_concurrent_meter_values_leave_the_highest_register_and_latest_time(local_db):
    boot("CP-1")
    start = handle_all(
        [
            (
                "CP-1",
                [
                    2,
                    "start",
                    "StartTransaction",
                    {"connectorId": 1, "idTag": "T", "meterStart": 1000, "timestamp": ts(1)},
                ],
                1,
            )
        ]
    )
    tx = start[0][2]["transactionId"]
    calls = [
        (
            "CP-1",
            [
                2,
                f"mv-{n}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": tx,
                    "meterValue": [{"timestamp": ts(10 + n), "sampledValue": [{"value": str(1000 + 100 * n)}]}],
                },
            ],
            10 + n,
        )
        for n in range(60)
    ]
    handle_all(calls)
    session = rest.list_sessions({})["sessions"][0]
    assert session["lastMeterTime"] == ts(69) and session["currentEnergy"] == 5.9
    assert storage.get_session(session["sessionId"])["lastRegisterWh"] == 6900


def test_concurrent_starts_and_stops_of_different_transactions_count_exactly(local_db):
    boot("CP-1")
    boot("CP-2")
    starts = [
        (
            cp,
            [
                2,
                f"start-{cp}-{c}",
                "StartTransaction",
                {"connectorId": c, "idTag": "T", "meterStart": 100 * c, "timestamp": ts(5)},
            ],
            5,
        )
        for cp in ("CP-1", "CP-2")
        for c in range(1, 13)
    ]
    answers = handle_all(starts)
    assert rest.stats()["activeSessions"] == 24
    by_id = {a[1]: a[2]["transactionId"] for a in answers}
    stops = [
        (
            cp,
            [
                2,
                f"stop-{cp}-{c}",
                "StopTransaction",
                {"transactionId": by_id[f"start-{cp}-{c}"], "meterStop": 100 * c + 1000 * c, "timestamp": ts(60)},
            ],
            60,
        )
        for cp in ("CP-1", "CP-2")
        for c in range(1, 13)
    ]
    resent_starts = [
        (cp, [2, f"again-{uid}", "StartTransaction", frame[3]], 61) for cp, frame, _ in starts for uid in [frame[1]]
    ]
    answers = handle_all(stops + stops[:6] + resent_starts)  # stops, some stops twice, every start again
    assert {a[2]["transactionId"] for a in answers if a[1].startswith("again-")} == set(by_id.values())
    stats = rest.stats()
    energy_kwh = 2 * sum(c for c in range(1, 13))  # 1000*c Wh per transaction, on both charge points
    assert (stats["activeSessions"], stats["completedSessions"]) == (0, 24)
    assert stats["totalEnergyKwh"] == energy_kwh and stats["totalRevenue"] == round(energy_kwh * 0.30, 2)
    assert len(rest.list_sessions({"status": "Completed", "limit": "100"})["sessions"]) == 24


def test_stats_shards_under_contention_lose_no_increment(local_db):
    def bump(n: int) -> None:
        storage.add_to_stats(n % 2, {"rejectedMessages": 1, "energyWh": n})

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(bump, range(400)))
    figures.add("concurrency", concurrent_stats_updates=400)
    totals = storage.read_stats(16)
    assert totals["rejectedMessages"] == 400 and totals["energyWh"] == sum(range(400))


def test_concurrent_garbage_is_counted_exactly(local_db):
    boot("CP-1")
    with ThreadPoolExecutor(WORKERS) as pool:
        answers = list(pool.map(lambda n: central_system.handle("CP-1", f"garbage {n}", received_at=at(5)), range(80)))
    assert len(answers) == 80 and all(a[2] == "FormatViolation" for a in answers)
    assert rest.stats()["rejectedMessages"] == 80


def test_concurrent_starts_of_one_tag_take_exactly_its_limit_of_transactions(local_db):
    """Eight chargers start with the same tag at once; the registry allows it 3 active transactions."""
    chargers = [f"CP-T{n}" for n in range(8)]
    for cp in chargers:
        boot(cp)
    storage.put_id_tag("SHARED", {"status": "Accepted", "spelling": "shared", "maxActiveTransactions": 3}, ts(0))
    start = {"connectorId": 1, "idTag": "SHARED", "meterStart": 0, "timestamp": ts(5)}
    answers = handle_all([(cp, [2, f"start-{cp}", "StartTransaction", start], 5) for cp in chargers])
    statuses = sorted(answer[2]["idTagInfo"]["status"] for answer in answers)
    assert statuses == ["Accepted"] * 3 + ["ConcurrentTx"] * 5
    assert storage.get_id_tag("SHARED", consistent=True)["activeTransactions"] == 3
    stops = [
        (
            cp,
            [
                2,
                f"stop-{cp}",
                "StopTransaction",
                {"transactionId": answer[2]["transactionId"], "meterStop": 10, "timestamp": ts(9)},
            ],
            9,
        )
        for cp, answer in zip(sorted(chargers), sorted(answers, key=lambda a: a[1]), strict=True)
    ]
    handle_all(stops + stops)  # each stop delivered twice, at once
    assert storage.get_id_tag("SHARED", consistent=True)["activeTransactions"] == 0
