"""The DynamoDB (and EventBridge) request budget, pinned by counting requests at the client (moto).

A message type that starts costing more requests, an API route whose cost grows with the data or that
scans, a simulator tick that stops batching, or an `import app` that creates a client or pulls in a
heavy library fails here. Nothing is timed (one test checks the benchmark's clock): speed is measured by
scripts/benchmark.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib import central_system, events, settings, simulator, storage
from tests.ocpp_builders import boot, full_reading, meter, send, start, stop, ts
from tests.support import ROOT, T0, TEST_ENV


def at(seconds: float):
    return T0 + timedelta(seconds=seconds)


def costs(action: str, payload: dict, seconds: float, uid: str) -> Counter:
    """The DynamoDB requests one CALL costs."""
    with storage.counting_requests() as counted:
        send("CP-1", action, payload, at(seconds), uid)
    return counted


def status(connector: int, value: str, seconds: float) -> dict:
    return {"connectorId": connector, "status": value, "errorCode": "NoError", "timestamp": ts(seconds)}


# --- per message ---------------------------------------------------------------------------------

# (action, payload, requests when applied, requests when the same frame is delivered again) in an order
# a charger could send them; "{tx}" and "{ts}" are filled in. A repeat (same uniqueId) is turned down by
# the guard, and at most one read tells why, so the charger gets its first answer again.
ONE_UPDATE, UPDATE_THEN_READ = {"UpdateItem": 1}, {"UpdateItem": 1, "GetItem": 1}
COMMON_PATH = [
    ("Heartbeat", {}, ONE_UPDATE, UPDATE_THEN_READ),
    # An idTag's answer reads its registry entry first (status, expiry, parent, active transactions).
    ("Authorize", {"idTag": "TAG"}, UPDATE_THEN_READ, {"UpdateItem": 1, "GetItem": 2}),
    ("DataTransfer", {"vendorId": "someone-else"}, ONE_UPDATE, UPDATE_THEN_READ),
    # The bounded history is read first (a handful per firmware update or upload); a repeat stops there.
    ("DiagnosticsStatusNotification", {"status": "Idle"}, {"GetItem": 1, "UpdateItem": 1}, {"GetItem": 1}),
    ("FirmwareStatusNotification", {"status": "Idle"}, {"GetItem": 1, "UpdateItem": 1}, {"GetItem": 1}),
    (
        "MeterValues",
        {"connectorId": 2, "meterValue": [{"timestamp": "{ts}", "sampledValue": [{"value": "5"}]}]},
        ONE_UPDATE,
        UPDATE_THEN_READ,
    ),
    # A status change moves the status counters with it; the read tells the other connectors' statuses.
    ("StatusNotification", status(1, "Available", 0), {"GetItem": 1, "TransactWriteItems": 1}, {"GetItem": 1}),
    ("StatusNotification", status(2, "Available", 0), {"GetItem": 1, "UpdateItem": 1}, {"GetItem": 1}),
    # A start reads its charge point first: registration, the charger's maximum power (what energy is
    # plausible) and the connector's previous session (one Active session per connector); then its
    # idTag's registry entry (a registered tag's count of active transactions moves in the same write).
    (
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG", "meterStart": 1000, "timestamp": "{ts}"},
        {"GetItem": 2, "TransactWriteItems": 1},
        {"GetItem": 2, "TransactWriteItems": 1, "BatchGetItem": 1},
    ),
    (
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": "{tx}",
            "meterValue": [
                {"timestamp": "{ts}", "sampledValue": [{"value": "2000", "measurand": "Energy.Active.Import.Register"}]}
            ],
        },
        ONE_UPDATE,
        # The session's conditions refuse it (no guard on the charge point): one read of both tells why.
        {"UpdateItem": 1, "BatchGetItem": 1},
    ),
    (
        "StopTransaction",
        {"transactionId": "{tx}", "meterStop": 3000, "timestamp": "{ts}"},
        {"GetItem": 1, "TransactWriteItems": 1},
        {"GetItem": 1},
    ),
]


def _fill(payload: dict, tx: int | None, seconds: float) -> dict:
    text = json.dumps(payload).replace('"{tx}"', str(tx)).replace("{ts}", ts(seconds))
    return json.loads(text)


def test_each_message_type_costs_its_budget_and_a_duplicate_costs_at_most_one_read_more(aws):
    with storage.counting_requests() as counted:
        boot()
    assert counted == {"TransactWriteItems": 1}, "a first boot writes the charge point and the fleet counters"
    tx = None
    for n, (action, payload, applied, repeated) in enumerate(COMMON_PATH, start=1):
        frame = _fill(payload, tx, n)
        uid = f"{action}-{n}"
        assert costs(action, frame, n, uid) == applied, action
        assert costs(action, frame, n, uid) == repeated, f"{action} delivered twice"
        if action == "StartTransaction":
            tx = int(storage.list_sessions(1, None).items[0]["transactionId"])


def test_a_repeated_boot_and_a_resent_start_cost_a_read_or_write_more_and_no_more(aws):
    boot()
    with storage.counting_requests() as counted:
        boot(at=at(1))
    assert counted == {"TransactWriteItems": 1, "UpdateItem": 1}, "a known charge point's boot touches its item"
    start(at=10)
    with storage.counting_requests() as counted:
        start(at=10)  # the same transaction with a new uniqueId: the same transactionId
    assert counted == {"GetItem": 2, "TransactWriteItems": 1, "BatchGetItem": 1}


def test_a_boot_over_the_bus_costs_one_update_more_to_make_the_charger_reachable_and_nothing_else_does(aws):
    """A charger on the bus is reachable for commands from its accepted boot on: one UpdateItem then, none later."""
    payload = {"chargePointVendor": "V", "chargePointModel": "M"}
    with storage.counting_requests() as counted:
        central_system.handle_event("CP-1", [2, "b1", "BootNotification", payload], T0)
    assert counted == {"TransactWriteItems": 1, "UpdateItem": 1}
    with storage.counting_requests() as counted:
        central_system.handle_event("CP-1", [2, "h1", "Heartbeat", {}], at(1))
    assert counted == ONE_UPDATE


def test_a_rejected_message_costs_one_update_of_a_stats_shard(aws):
    boot()
    for raw in ("not json", json.dumps([2, "x1", "Heartbeat", {"unexpected": 1}]), json.dumps([2, "x2", "Reset", {}])):
        with storage.counting_requests() as counted:
            answer = central_system.handle("CP-1", raw, received_at=at(5))
        assert answer[0] == 4
        assert counted == {"UpdateItem": 1}, raw


def test_heartbeat_and_meter_values_cost_one_request_all_transaction_long(aws):
    """The bulk of the traffic: a session's heartbeats and readings, one request each, whatever came
    before; every few readings the buffer on the session moves to a chunk item (+2 requests)."""
    boot()
    tx = start(at=10)
    per_meter_values, per_heartbeat = [], []
    for n in range(1, 21):
        with storage.counting_requests() as counted:
            meter("CP-1", tx, 1000 + 100 * n, at=10 + 30 * n)
        per_meter_values.append(sum(counted.values()))
        with storage.counting_requests() as counted:
            send("CP-1", "Heartbeat", {}, at(10 + 30 * n + 1))
        per_heartbeat.append(sum(counted.values()))
    assert per_heartbeat == [1] * 20
    assert per_meter_values == [1] * 14 + [3] + [1] * 5, "3-value readings: a chunk of 15"
    with storage.counting_requests() as counted:
        stop("CP-1", tx, 5000, at=700)
    assert sum(counted.values()) == 2


def test_the_benchmarks_request_clock_spans_each_call_and_stops_with_its_block(aws):
    """scripts/benchmark.py tells the handler's own Python from its DynamoDB calls with
    storage.timing_requests: a call slowed by 20 ms on its way out is counted whole, and a call after
    the block (slowed by 300 ms) is not."""
    import time

    delay = [0.02]

    def slow(**_: object) -> None:
        time.sleep(delay[0])

    hooks = storage.client().meta.events
    hooks.register("before-send.dynamodb", slow)
    try:
        with storage.timing_requests() as inside:
            storage.get_charge_point("CP-1")
        delay[0] = 0.3
        storage.get_charge_point("CP-1")
    finally:
        hooks.unregister("before-send.dynamodb", slow)
    assert 0.02 <= inside[0] < 0.3


@pytest.mark.parametrize("backend", ["dynamodb-local"], indirect=True)
def test_write_units_per_message_on_dynamodb_local(backend):
    """Capacity units as DynamoDB Local reports them (ReturnConsumedCapacity), for a session of 12
    three-phase readings (9 values each) between heartbeats: a Heartbeat is 1 write unit, a MeterValues
    1 (one UpdateItem of the session item, kept under 1 KB) and every 6th reading 2 more (the chunk item
    and the buffer's removal). See docs/performance.md."""
    boot()
    tx = start(at=10)
    heartbeats, readings = Counter(), []
    for n in range(1, 13):
        with storage.counting_capacity() as units:
            send("CP-1", "Heartbeat", {}, at(10 + 60 * n))
        heartbeats += units
        payload = {"connectorId": 1, "transactionId": tx, "meterValue": [full_reading(1000 + 100 * n, 10 + 60 * n + 1)]}
        with storage.counting_requests() as counted, storage.counting_capacity() as units:
            send("CP-1", "MeterValues", payload, at(10 + 60 * n + 1))
        readings.append((dict(counted), dict(units)))
    one, flush = (
        ({"UpdateItem": 1}, {"UpdateItem": 1.0}),
        ({"UpdateItem": 2, "PutItem": 1}, {"UpdateItem": 2.0, "PutItem": 1.0}),
    )
    assert readings == ([one] * 5 + [flush]) * 2, "9-value readings: a chunk of 6, 1.33 units a reading"
    assert heartbeats == {"UpdateItem": 12.0}
    with storage.counting_requests() as counted:
        stop("CP-1", tx, 2000, at=800, transactionData=[full_reading(1900, 790)])
    assert counted == {"GetItem": 1, "TransactWriteItems": 1, "BatchWriteItem": 1}, "transactionData: +1 request"


# --- per API route -------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    """The test client, with a hook that refuses any Scan and fails the test when one was tried (even
    if the route turned the refusal into an error response)."""
    scans = []

    def refuse(params, **_):
        scans.append(params)
        raise AssertionError("no code path may scan a table")

    hooks = storage.client().meta.events
    hooks.register("before-call.dynamodb.Scan", refuse)
    yield client
    hooks.unregister("before-call.dynamodb.Scan", refuse)
    assert not scans, f"{len(scans)} Scan requests"


def populate(sessions: int, charge_points: int = 5, first: int = 0) -> None:
    """Sessions through the central system, two thirds of them completed."""
    for n in range(1, charge_points + 1):
        boot(f"CP-{n}")
        send(f"CP-{n}", "StatusNotification", status(1, "Available", 0), at(1))
    for n in range(first, sessions):
        cp = f"CP-{n % charge_points + 1}"
        tx = start(cp, meter=1000, at=10 + n)
        if n % 3 != 2:
            stop(cp, tx, 2000, at=10 + n + 0.5)


def route_costs(client, paths: list[str]) -> dict[str, Counter]:
    found = {}
    for path in paths:
        with storage.counting_requests() as counted:
            response = client.http.get(path)
        assert response.status_code == 200, (path, response.body)
        found[path] = counted
    return found


def _routes(client) -> list[str]:
    session_id = json.loads(client.http.get("/sessions?limit=1").body)["sessions"][0]["sessionId"]
    page = json.loads(client.http.get("/sessions?limit=2").body)
    return [
        "/stats",
        "/chargepoints",
        "/chargepoints?status=Available",
        "/chargepoints/CP-1",
        "/sessions",
        "/sessions?status=Active",
        "/sessions?status=Completed",
        "/sessions?chargePointId=CP-1",
        "/sessions?chargePointId=CP-1&status=Completed",
        f"/sessions/{session_id}",
        f"/sessions/{session_id}/meterValues",
        f"/sessions?limit=2&nextToken={page['nextToken']}",
    ]


ROUTE_BUDGET = {"/stats": {"BatchGetItem": 1}, "/chargepoints/CP-1": {"BatchGetItem": 1}, "/sessions/": {"GetItem": 1}}
LIST_BUDGET = {"Query": 1, "BatchGetItem": 1}
# A session's meter history: the session read (404 when there is none), then 1 Query for the page.
HISTORY_BUDGET = {"GetItem": 1, "Query": 1}


def test_api_routes_cost_the_same_requests_with_5_and_with_200_sessions(api):
    populate(5)
    routes = _routes(api)
    small = route_costs(api, routes)
    populate(200, first=5)
    large = route_costs(api, _routes(api))
    assert list(large.values()) == list(small.values()), "an API route's cost grew with the data"
    for path, counted in small.items():
        expected = (
            HISTORY_BUDGET
            if path.endswith("/meterValues")
            else next((b for prefix, b in ROUTE_BUDGET.items() if path.startswith(prefix)), LIST_BUDGET)
        )
        assert counted == expected, path
    stats = json.loads(api.http.get("/stats").body)
    # One Active session per connector: each newer start on connector 1 closed the older open one.
    assert stats["activeSessions"] + stats["completedSessions"] == 200 and stats["activeSessions"] <= 5


def test_no_api_route_scans(api, app_module):
    """Every GET route the app declares (new ones included) answers without a Scan."""
    populate(3)
    session_id = json.loads(api.http.get("/sessions").body)["sessions"][0]["sessionId"]
    values = {
        "charge_point_id": "CP-1",
        "session_id": session_id,
        "command_id": "none",
        "site_id": "none",
        "name": "app.js",
        "reservation_id": "1",
        "id_tag": "TAG",
        "action": "Reset",
        "export_id": "0" * 32,
        "job_id": "0" * 32,
        "file_name": "sessions_20260101T000000Z_20260102T000000Z.csv",
    }
    seen: Counter = Counter()
    for path, methods in app_module.app.routes.items():
        if "GET" not in methods:
            continue
        with storage.counting_requests() as counted:
            api.http.get(path.format(**values))
        seen.update(counted)
    for query in ("?status=Active", "?status=Completed", "?chargePointId=CP-2", "?limit=1"):
        with storage.counting_requests() as counted:
            api.http.get("/sessions" + query)
            api.http.get("/chargepoints" + query.replace("Active", "Available").replace("Completed", "Charging"))
        seen.update(counted)
    assert seen["Query"] >= 8 and "Scan" not in seen


# --- the simulator -------------------------------------------------------------------------------

FLEET = 120  # more than one BatchGetItem (100 keys) and many BatchWriteItem (25 items)


@pytest.fixture
def event_bridge(aws, monkeypatch):
    """The real EventBridgePublisher on moto's EventBridge, with its PutEvents counted at the client."""
    import boto3

    monkeypatch.setenv("FLEET_SIZE", str(FLEET))
    settings.get.cache_clear()
    events_client = boto3.client("events")
    events_client.create_event_bus(Name=settings.get().event_bus_name)
    batches: list[int] = []
    events_client.meta.events.register(
        "before-parameter-build.events.PutEvents", lambda params, **_: batches.append(len(params["Entries"]))
    )
    publisher = events.EventBridgePublisher(lambda: events_client)
    yield publisher, batches
    events.use(aws)


def _tick(publisher, batches: list[int], now) -> tuple[list[dict], Counter]:
    batches.clear()
    events.use(publisher)
    with storage.counting_requests() as counted:
        sent = simulator.run_tick(now)
    events.use(None)
    return sent, counted


def test_a_simulator_tick_batches_state_reads_writes_and_events(aws, event_bridge):
    publisher, batches = event_bridge
    now = T0
    sent, counted = _tick(publisher, batches, now)
    assert len(sent) == FLEET  # every charger boots
    assert counted == {
        "BatchGetItem": math.ceil(FLEET / 100),
        "BatchWriteItem": math.ceil(FLEET / 25),
        "UpdateItem": 2,
    }  # + the lease, taken and given back
    assert batches == [10] * (FLEET // 10) and publisher.calls == FLEET // 10

    # The central system answers the boots; each charger reacts to its answer as it arrives, in the inbox.
    answers = [central_system.handle(m["chargePointId"], m["message"], now) for m in sent]
    batches.clear()
    events.use(publisher)
    for message, answer in zip(sent, answers, strict=True):
        with storage.counting_requests() as counted:
            simulator.receive_reply(
                {
                    "chargePointId": message["chargePointId"],
                    "messageId": answer[1],
                    "action": "BootNotification",
                    "message": answer,
                }
            )
        # Filed; the lease taken and given back; state and answer in one read; state saved, answer dropped.
        assert counted == {"PutItem": 1, "UpdateItem": 2, "BatchGetItem": 1, "BatchWriteItem": 1}
    assert len(batches) == FLEET and set(batches) <= {3, 4}, "information and statuses in 1 PutEvents"

    sent, counted = _tick(publisher, batches, now + timedelta(minutes=2))
    assert len(sent) > FLEET * 3  # heartbeats, cars arriving, authorizing, starting
    assert counted == {"BatchGetItem": math.ceil(FLEET / 100), "BatchWriteItem": math.ceil(FLEET / 25), "UpdateItem": 2}
    assert sum(batches) == len(sent) and len(batches) == math.ceil(len(sent) / 10)
    assert all(size == 10 for size in batches[:-1]), "PutEvents in full batches of 10"


# --- cold start ----------------------------------------------------------------------------------


def test_importing_app_creates_no_client_and_imports_nothing_heavy():
    probe = (
        "import json, sys, app\n"
        "from chalicelib import events, storage\n"
        "heavy = ['boto3', 'botocore', 'jsonschema', 'ocpp', 'moto', 'boto3.dynamodb.types']\n"
        "print(json.dumps([storage.dynamo._client, events._client, [m for m in heavy if m in sys.modules]]))"
    )
    env = {"PATH": "/usr/bin:/bin", **TEST_ENV}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [None, None, []], "import app must stay lazy: " + result.stdout
