"""The REST API through the app (Chalice's test client over moto): the schedule's events reach the
handler through the in-process bus, and the results are read back over HTTP."""

from __future__ import annotations

import json

import pytest

from chalicelib import ocpp_frames, simulator
from tests.ocpp_builders import valid_answer

JSON = {"Content-Type": "application/json"}


def get(client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, response.json_body


def post(client, path: str, body=None) -> tuple[int, dict]:
    response = client.http.post(path, headers=JSON, body=json.dumps(body) if body is not None else "")
    return response.status_code, response.json_body


def ocpp(client, charge_point_id: str, frame: list) -> tuple[int, list]:
    response = client.http.post(f"/ocpp/{charge_point_id}", headers=JSON, body=json.dumps(frame))
    return response.status_code, response.json_body


def run_schedule(client, ticks: int = 1) -> None:
    for _ in range(ticks):
        client.lambda_.invoke(
            "simulate_tick",
            client.events.generate_cw_event(
                source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
            ),
        )


def test_the_schedule_creates_the_seed_demo_fleet(client):
    run_schedule(client, 2)
    status, body = get(client, "/chargepoints")
    assert status == 200 and body["nextToken"] is None
    points = {cp["chargePointId"]: cp for cp in body["chargePoints"]}
    assert sorted(points) == ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]
    first = points["CP-DEMO-001"]
    assert (first["location"], first["model"], first["vendor"], first["connectors"], first["maxPower"]) == (
        "Demo Location 1",
        "FastCharge Pro",
        "EV Solutions Inc",
        2,
        50,
    )
    assert first["lastSeen"].endswith("Z") and set(first["connectorStatus"]) == {"0", "1", "2"}
    status, one = get(client, "/chargepoints/CP-DEMO-001")
    assert status == 200 and one["chargePointId"] == "CP-DEMO-001"


def test_stats_agree_with_the_lists(client):
    run_schedule(client, 2)
    for cp in ("CP-DEMO-001", "CP-DEMO-003"):
        post(client, "/simulate", {"chargePointId": cp, "messageType": "StartTransaction"})
    _, stats = get(client, "/stats")
    _, points = get(client, "/chargepoints")
    _, active = get(client, "/sessions?status=Active")
    _, completed = get(client, "/sessions?status=Completed")
    assert stats["totalChargePoints"] == len(points["chargePoints"]) == 3
    assert stats["availableChargePoints"] == sum(cp["status"] == "Available" for cp in points["chargePoints"])
    assert stats["chargingChargePoints"] == sum(cp["status"] == "Charging" for cp in points["chargePoints"])
    assert stats["activeSessions"] == len(active["sessions"]) == 2
    assert stats["completedSessions"] == len(completed["sessions"])
    assert stats["currency"] == "EUR" and stats["rejectedMessages"] == 0
    _, by_status = get(client, "/chargepoints?status=Available")
    assert len(by_status["chargePoints"]) == stats["availableChargePoints"]


def test_sessions_page_newest_first_with_opaque_tokens(client):
    run_schedule(client)
    for n in range(5):
        ocpp(client, "CP-X", [2, f"b{n}", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
        ocpp(
            client,
            "CP-X",
            [
                2,
                f"s{n}",
                "StartTransaction",
                {"connectorId": n + 1, "idTag": "T", "meterStart": n, "timestamp": f"2026-11-2{n}T10:00:00Z"},
            ],
        )
    seen, token = [], None
    while True:
        status, page = get(client, "/sessions?limit=2" + (f"&nextToken={token}" if token else ""))
        assert status == 200 and len(page["sessions"]) <= 2
        seen += page["sessions"]
        token = page["nextToken"]
        if not token:
            break
    starts = [s["startTime"] for s in seen]
    assert len(seen) == 5 and starts == sorted(starts, reverse=True)
    _, by_cp = get(client, "/sessions?chargePointId=CP-X&status=Active")
    assert len(by_cp["sessions"]) == 5 and {s["chargePointId"] for s in by_cp["sessions"]} == {"CP-X"}
    ocpp(
        client,
        "CP-X",
        [
            2,
            "stop",
            "StopTransaction",
            {"transactionId": seen[-1]["transactionId"], "meterStop": 9, "timestamp": "2026-11-24T11:00:00Z"},
        ],
    )
    _, first_page = get(client, "/sessions?chargePointId=CP-X&status=Completed&limit=1")
    assert [s["sessionId"] for s in first_page["sessions"]] == [seen[-1]["sessionId"]]  # a full page, no filtering
    _, active_page = get(client, "/sessions?chargePointId=CP-X&status=Active&limit=4")
    assert len(active_page["sessions"]) == 4
    status, one = get(client, f"/sessions/{seen[0]['sessionId']}")
    assert status == 200 and one == seen[0]


@pytest.mark.parametrize(
    "path,fragment",
    [
        ("/chargepoints?limit=0", "limit must be a whole number from 1 to 100"),
        ("/chargepoints?limit=101", "limit must be a whole number from 1 to 100"),
        ("/chargepoints?limit=ten", "limit must be a whole number"),
        ("/chargepoints?status=Sleeping", "status must be one of"),
        ("/chargepoints?colour=red", "unknown query parameter 'colour'"),
        ("/sessions?status=Paused", "status must be one of Active, Completed"),
        ("/sessions?nextToken=abc", "nextToken is not valid"),
        ("/sessions?chargePointId=%20", "chargePointId must be"),
    ],
)
def test_bad_parameters_get_400_with_a_message(client, path, fragment):
    status, body = get(client, path)
    assert status == 400 and fragment in body["Message"]


def test_a_token_from_another_query_or_tampered_with_is_refused(client):
    run_schedule(client, 2)
    for cp in ("CP-DEMO-001", "CP-DEMO-002"):
        post(client, "/simulate", {"chargePointId": cp, "messageType": "StartTransaction"})
    _, page = get(client, "/sessions?limit=1&status=Active")
    token = page["nextToken"]
    assert token
    assert get(client, f"/sessions?limit=1&status=Completed&nextToken={token}")[0] == 400
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert get(client, f"/sessions?limit=1&status=Active&nextToken={forged}")[0] == 400
    assert get(client, f"/sessions?limit=1&status=Active&nextToken={token}")[0] == 200


def test_unknown_things_are_404(client):
    assert get(client, "/chargepoints/NOPE")[0] == 404
    assert get(client, "/sessions/00000000-0000-0000-0000-000000000000")[0] == 404
    assert get(client, "/assets/secrets.py")[0] == 404


def test_simulate_runs_a_tick_and_returns_every_frame_it_published(client):
    status, body = post(client, "/simulate")
    assert status == 200
    assert [m["message"][2] for m in body["messages"]] == ["BootNotification"] * 3
    for message in body["messages"]:
        frame = message["message"]
        assert frame[0] == 2 and len(frame) == 4
        ocpp_frames.validate(ocpp_frames.CALL, frame[2], frame[3])


def test_simulate_with_the_seed_manual_trigger_payload(client):
    run_schedule(client)
    status, body = post(client, "/simulate", {"chargePointId": "CP-DEMO-001", "messageType": "StatusNotification"})
    assert status == 200
    assert [(m["chargePointId"], m["message"][2]) for m in body["messages"]] == [("CP-DEMO-001", "StatusNotification")]


@pytest.mark.parametrize(
    "body,status,fragment",
    [
        ({"chargePointId": "CP-DEMO-009", "messageType": "Heartbeat"}, 404, "not a simulated charge point"),
        ({"chargePointId": "CP-DEMO-001", "messageType": "Teleport"}, 400, "messageType must be one of"),
        ({"chargePointId": "CP-DEMO-001"}, 400, "go together"),
        ({"messageType": None}, 400, "must be strings"),
        ({"chargePointId": 7, "messageType": "Heartbeat"}, 400, "must be strings"),
        ({"colour": "red"}, 400, "body must be a JSON object"),
        ([1, 2], 400, "body must be a JSON object"),
        ({"chargePointId": "CP-DEMO-001", "messageType": "StopTransaction"}, 409, "no transaction"),
    ],
)
def test_simulate_refuses_what_it_cannot_do(client, body, status, fragment):
    run_schedule(client)
    got, answer = post(client, "/simulate", body)
    assert got == status and fragment in answer["Message"]


def test_simulate_while_a_tick_runs_is_409(client):
    import time

    from chalicelib import storage

    storage.acquire_lease(simulator.LEASE, "a-scheduled-tick", time.time(), 60)
    status, body = post(client, "/simulate")
    assert status == 409 and "already running" in body["Message"]


def test_play_a_charger_over_http(client):
    boot = [2, "1", "BootNotification", {"chargePointVendor": "Me", "chargePointModel": "Curl"}]
    status, answer = ocpp(client, "MY-CHARGER", boot)
    assert status == 200
    valid_answer(boot, answer)
    status, answer = ocpp(client, "MY-CHARGER", [2, "2", "Heartbeat", {"oops": 1}])
    assert status == 400 and answer[:3] == [4, "2", "FormatViolation"]
    response = client.http.post("/ocpp/MY-CHARGER", headers=JSON, body="{not json")
    assert response.status_code == 400 and response.json_body[2] == "FormatViolation"
    assert client.http.post("/ocpp/bad%20id", headers=JSON, body=json.dumps(boot)).status_code == 400
    assert get(client, "/chargepoints/MY-CHARGER")[1]["model"] == "Curl"


def test_cors_is_on_for_the_api(client):
    response = client.http.get("/stats")
    assert response.headers.get("Access-Control-Allow-Origin") == "*"


def test_the_dashboard_is_served_from_the_same_origin(client):
    page = client.http.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert b"assets/dashboard.js" in page.body
    script = client.http.get("/assets/dashboard.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
