"""The storage layer on moto and on DynamoDB Local (AWS's own engine): conditions, transactions, indexes,
pagination, batch reads and writes, the simulator's lease and the sharded stats must behave alike."""

from __future__ import annotations

import json

import pytest

from chalicelib import storage
from chalicelib.storage import Outcome

pytestmark = pytest.mark.usefixtures("backend")
T = "2026-11-24T12:00:{:02d}.000Z"


def stamp(cp: str, uid: str, second: int, answer: dict | None = None) -> storage.Stamp:
    return storage.Stamp(cp, uid, T.format(second), json.dumps(answer or {}))


def charge_point(cp: str, status: str = "Unknown", second: int = 0) -> dict:
    return {
        "chargePointId": cp,
        "registration": "Accepted",
        "status": status,
        "statusVersion": 0,
        "connectors": 0,
        "connectorStatus": {},
        "connectorMeter": {},
        "lastSeen": T.format(second),
        "lastCallId": f"boot-{cp}",
        "lastAnswer": "{}",
    }


def session(cp: str, n: int, second: int = 1, status: str = "Active") -> dict:
    return {
        "sessionId": f"s-{cp}-{n:03d}",
        "transactionId": n,
        "chargePointId": cp,
        "connectorId": 1,
        "idTag": "T",
        "idTagStatus": "Accepted",
        "status": status,
        "startTime": T.format(second),
        "meterStart": 100,
        "lastRegisterWh": 100,
        "tariff": {"pricePerKwh": "0.30", "sessionFee": "0", "currency": "EUR"},
    }


# --- conditions: the guard on the charge point ------------------------------------------------------


def test_the_guard_tells_applied_duplicate_stale_and_not_accepted_apart():
    assert storage.create_charge_point(charge_point("CP-1"), 0)
    assert not storage.create_charge_point(charge_point("CP-1"), 0)  # exists: condition fails, nothing changes
    assert storage.touch_charge_point(stamp("CP-1", "a", 10), {"model": "M"}).outcome == Outcome.APPLIED
    repeat = storage.touch_charge_point(stamp("CP-1", "a", 20), {"model": "changed"})
    assert repeat.outcome == Outcome.DUPLICATE and repeat.charge_point["model"] == "M"
    assert storage.touch_charge_point(stamp("CP-1", "b", 5)).outcome == Outcome.STALE
    assert storage.touch_charge_point(stamp("CP-2", "c", 5)).outcome == Outcome.NOT_ACCEPTED
    item = storage.get_charge_point("CP-1", consistent=True)
    assert (item["lastCallId"], item["lastSeen"], item["model"]) == ("a", T.format(10), "M")
    assert storage.get_charge_point("CP-2") is None  # a refused update never creates an item


def test_a_string_set_add_is_idempotent():
    storage.create_charge_point(charge_point("CP-1"), 0)
    storage.touch_charge_point(stamp("CP-1", "a", 1), adds={"unknownStops": {"7"}})
    storage.touch_charge_point(stamp("CP-1", "b", 2), adds={"unknownStops": {"7", "8"}})
    assert storage.get_charge_point("CP-1")["unknownStops"] == {"7", "8"}


def test_apply_status_is_optimistic_on_the_status_version_and_moves_the_counters():
    storage.create_charge_point(charge_point("CP-1"), 3)
    entry = {"status": "Available", "errorCode": "NoError", "timestamp": T.format(1)}
    assert (
        storage.apply_status(stamp("CP-1", "s1", 1), "1", entry, "Available", "Unknown", 0, 3).outcome
        == Outcome.APPLIED
    )
    stale_version = storage.apply_status(
        stamp("CP-1", "s2", 2), "1", {**entry, "status": "Charging"}, "Charging", "Unknown", 0, 3
    )
    assert stale_version.outcome == Outcome.CONFLICT
    item = storage.get_charge_point("CP-1", consistent=True)
    assert item["status"] == "Available" and int(item["statusVersion"]) == 1
    totals = storage.read_stats(16)
    assert totals["status_Available"] == 1 and totals["status_Unknown"] == 0 and totals["totalChargePoints"] == 1


# --- transactions ------------------------------------------------------------------------------------


def test_a_session_starts_once_and_completes_once():
    storage.create_charge_point(charge_point("CP-1"), 0)
    assert storage.start_session(session("CP-1", 1), stamp("CP-1", "start", 1), 0).outcome == Outcome.APPLIED
    again = storage.start_session(session("CP-1", 1), stamp("CP-1", "start-resent", 2), 0)
    assert again.outcome == Outcome.DUPLICATE and again.session["transactionId"] == 1
    sets = {"stopTime": T.format(9), "energyWh": 900, "cost": "0.27", "meterStop": 1000}
    assert storage.complete_session("s-CP-1-001", stamp("CP-1", "stop", 9), sets, 0, 900, 27).outcome == Outcome.APPLIED
    assert (
        storage.complete_session("s-CP-1-001", stamp("CP-1", "stop2", 10), sets, 0, 900, 27).outcome
        == Outcome.DUPLICATE
    )
    totals = storage.read_stats(16)
    assert (totals["activeSessions"], totals["completedSessions"], totals["energyWh"]) == (0, 1, 900)
    assert storage.get_session("s-CP-1-001")["status"] == "Completed"


def test_a_transaction_whose_guard_fails_writes_none_of_its_items():
    storage.create_charge_point(charge_point("CP-1"), 0)
    result = storage.start_session(session("CP-9", 1), stamp("CP-9", "start", 1), 0)  # CP-9 never booted
    assert result.outcome == Outcome.NOT_ACCEPTED
    assert storage.get_session("s-CP-9-001") is None and storage.read_stats(16).get("activeSessions", 0) == 0


def test_meter_readings_keep_time_order_and_a_rising_register():
    storage.create_charge_point(charge_point("CP-1"), 0)
    storage.start_session(session("CP-1", 1), stamp("CP-1", "start", 1), 0)
    assert (
        storage.record_meter("s-CP-1-001", stamp("CP-1", "m1", 5), T.format(5), {"lastRegisterWh": 500}, 500).outcome
        == Outcome.APPLIED
    )
    older = storage.record_meter("s-CP-1-001", stamp("CP-1", "m0", 6), T.format(4), {"lastRegisterWh": 400}, 400)
    lower = storage.record_meter("s-CP-1-001", stamp("CP-1", "m2", 7), T.format(7), {"lastRegisterWh": 300}, 300)
    assert older.outcome == lower.outcome == Outcome.CONFLICT and older.session["lastRegisterWh"] == 500
    missing = storage.record_meter("nope", stamp("CP-1", "m3", 8), T.format(8), {}, None)
    assert missing.outcome == Outcome.MISSING
    # Heard before the last message (a late delivery): still MISSING, not a conflict to retry.
    late_and_missing = storage.record_meter("nope", stamp("CP-1", "m4", 2), T.format(2), {}, None)
    assert late_and_missing.outcome == Outcome.MISSING
    assert storage.get_session("s-CP-1-001")["lastRegisterWh"] == 500


# --- indexes and pagination ---------------------------------------------------------------------------


def test_charge_points_page_through_the_fleet_index_and_filter_by_status():
    for n in range(7):
        storage.create_charge_point(charge_point(f"CP-{n}", "Available" if n % 2 else "Unknown"), n)
    storage.put_password_hash("CP-0", "pbkdf2_sha256$1$AA==$AA==", T.format(0))  # never listed
    seen, start = [], None
    while True:
        page = storage.list_charge_points(3, start)
        assert len(page.items) <= 3
        seen += [item["chargePointId"] for item in page.items]
        start = page.last_key
        if not start:
            break
    assert seen == [f"CP-{n}" for n in range(7)]
    available = storage.list_charge_points(100, None, "Available").items
    assert [item["chargePointId"] for item in available] == ["CP-1", "CP-3", "CP-5"]


def test_sessions_come_newest_first_by_fleet_status_and_charge_point():
    storage.create_charge_point(charge_point("CP-A"), 0)
    storage.create_charge_point(charge_point("CP-B"), 1)
    for n in range(5):
        cp = "CP-A" if n < 3 else "CP-B"
        storage.start_session(session(cp, n, second=n + 1), stamp(cp, f"start-{n}", n + 1), 0)
    storage.complete_session("s-CP-A-000", stamp("CP-A", "stop", 30), {"energyWh": 1, "cost": "0"}, 0, 1, 0)
    everything = storage.list_sessions(2, None)
    assert [s["transactionId"] for s in everything.items] == [4, 3] and everything.last_key
    rest = storage.list_sessions(10, everything.last_key).items
    assert [s["transactionId"] for s in rest] == [2, 1, 0]
    assert [s["transactionId"] for s in storage.list_sessions(10, None, "Completed").items] == [0]
    assert [s["transactionId"] for s in storage.list_sessions(10, None, "Active", "CP-A").items] == [2, 1]
    assert [s["transactionId"] for s in storage.list_sessions(10, None, None, "CP-B").items] == [4, 3]


# --- batch reads and writes, the lease, stats shards, credentials ------------------------------------


def test_batch_writes_and_reads_beyond_one_request():
    storage.save_simulator_items([{"pk": f"k{n}", "state": str(n)} for n in range(130)])
    found = storage.load_simulator_items([f"k{n}" for n in range(130)] + ["k1", "missing"])
    assert len(found) == 130 and found["k129"]["state"] == "129"
    storage.save_simulator_items([{"pk": "k0", "state": "new"}], deletes=[f"k{n}" for n in range(1, 60)])
    left = storage.load_simulator_items([f"k{n}" for n in range(130)])
    assert len(left) == 71 and left["k0"]["state"] == "new"


def test_the_lease_admits_one_holder_until_it_is_released_or_expires():
    assert storage.acquire_lease("tick", "a", 1000.0, 120)
    assert not storage.acquire_lease("tick", "b", 1010.0, 120)
    storage.release_lease("tick", "b")  # not the holder: changes nothing
    assert not storage.acquire_lease("tick", "b", 1020.0, 120)
    storage.release_lease("tick", "a")
    assert storage.acquire_lease("tick", "b", 1030.0, 120)
    assert storage.acquire_lease("tick", "c", 1030.0 + 121, 120)  # b's lease expired


def test_stats_shards_sum_up():
    for shard in range(16):
        storage.add_to_stats(shard, {"rejectedMessages": shard, "energyWh": 10})
    storage.add_to_stats(3, {"energyWh": -5})
    totals = storage.read_stats(16)
    assert totals["rejectedMessages"] == sum(range(16)) and totals["energyWh"] == 155


def test_a_password_hash_round_trips_and_is_replaced():
    assert storage.get_password_hash("CP-1") is None
    storage.put_password_hash("CP-1", "h1", T.format(1))
    storage.put_password_hash("CP-1", "h2", T.format(2))
    assert storage.get_password_hash("CP-1") == "h2"


# --- issue 11/12: repeats by content, stale facts, early stops, refused values ---------------------------


def test_a_repeat_is_the_same_id_and_the_same_digest_not_the_id_alone():
    storage.create_charge_point(charge_point("CP-1"), 0)
    first = storage.Stamp("CP-1", "1", T.format(1), "{}", "digest-a")
    assert storage.touch_charge_point(first, {"model": "A"}).outcome == Outcome.APPLIED
    reused = storage.Stamp("CP-1", "1", T.format(2), "{}", "digest-b")  # the counter restarted: another message
    assert storage.touch_charge_point(reused, {"model": "B"}).outcome == Outcome.APPLIED
    assert storage.touch_charge_point(reused, {"model": "C"}).outcome == Outcome.DUPLICATE
    assert storage.get_charge_point("CP-1", consistent=True)["model"] == "B"


def test_a_fact_heard_before_the_last_message_is_stored_in_its_own_time_order():
    storage.create_charge_point(charge_point("CP-1"), 0)
    storage.touch_charge_point(stamp("CP-1", "hb", 30))
    late = storage.touch_charge_point(
        stamp("CP-1", "fw1", 20),
        {"firmwareStatus": "Installed", "firmwareStatusTime": T.format(20)},
        since=("firmwareStatusTime", T.format(20)),
    )
    assert late.outcome == Outcome.APPLIED
    older = storage.touch_charge_point(
        stamp("CP-1", "fw0", 10),
        {"firmwareStatus": "Downloading", "firmwareStatusTime": T.format(10)},
        since=("firmwareStatusTime", T.format(10)),
    )
    assert older.outcome == Outcome.SUPERSEDED
    item = storage.get_charge_point("CP-1", consistent=True)
    assert (item["firmwareStatus"], item["lastSeen"]) == ("Installed", T.format(30))  # lastSeen never goes back


def test_a_stop_kept_before_its_start_is_found_by_the_start_and_bounded_per_charger():
    storage.create_charge_point(charge_point("CP-1"), 0)
    record = {
        "chargePointId": "CP-1",
        "transactionId": 7,
        "timestamp": T.format(9),
        "reason": "Local",
        "receivedAt": T.format(2),
    }
    assert storage.keep_early_stop(stamp("CP-1", "st", 2), "s-CP-1-007", record, 2).outcome == Outcome.APPLIED
    assert storage.keep_early_stop(stamp("CP-1", "st2", 3), "s-CP-1-007", record, 2).outcome == Outcome.SUPERSEDED
    assert storage.keep_early_stop(stamp("CP-1", "st3", 4), "s-CP-1-008", record, 2).outcome == Outcome.APPLIED
    assert storage.keep_early_stop(stamp("CP-1", "st4", 5), "s-CP-1-009", record, 2).outcome == Outcome.CONFLICT
    assert storage.get_early_stop("s-CP-1-007")["timestamp"] == T.format(9)
    storage.forget_early_stop("CP-1", "s-CP-1-007")
    assert storage.get_early_stop("s-CP-1-007") is None  # applied: kept as a record, no longer waiting
    assert storage.get_charge_point("CP-1", consistent=True)["unknownStopCount"] == 1


def test_values_dynamodb_refuses_raise_value_refused_at_once():
    storage.create_charge_point(charge_point("CP-1"), 0)
    with pytest.raises(storage.ValueRefused):  # item size (server side)
        storage.touch_charge_point(stamp("CP-1", "big", 1), {"blob": "x" * 410_000})
    with pytest.raises(storage.ValueRefused):  # beyond 38 digits (client side)
        storage.touch_charge_point(stamp("CP-1", "num", 2), {"meterStop": 10**40})
    with pytest.raises(storage.ValueRefused):  # a transaction's item size: not 8 retries as a "conflict"
        storage.start_session({**session("CP-1", 1), "blob": "x" * 410_000}, stamp("CP-1", "tx", 3), 0)


def test_every_name_the_storage_package_exports_is_what_its_module_defines():
    """A submodule imported into the package must not shadow an exported function of the same name
    (storage.tables was the table declarations' module, not tables())."""
    import importlib
    import types

    for name in storage.__all__:
        value = getattr(storage, name)
        assert not isinstance(value, types.ModuleType), name
    assert storage.tables() is importlib.import_module("chalicelib.storage.dynamo").tables()
