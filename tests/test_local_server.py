"""`chalice local --stage local` in a subprocess, used over HTTP as a curl user would."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from tests.live_server import ServerProcess, chalice_command, free_port, live_env


def call(url: str, body: dict | list | None = None) -> tuple[int, object]:
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def eventually(check, seconds: float = 60):
    deadline = time.time() + seconds
    while True:
        result = check()
        if result or time.time() > deadline:
            return result
        time.sleep(0.5)


@pytest.fixture(scope="module")
def server():
    """Ticks every second at thirty times real time (FLEET_SIZE and SIMULATOR_SPEED are left to the
    environment in the local stage), so a session shows rising energy within seconds."""
    port = free_port()
    process = ServerProcess(
        chalice_command(port), port, env=live_env(SIMULATOR_INTERVAL_SECONDS="1", SIMULATOR_SPEED="30")
    ).start()
    yield process.url
    process.stop()


def test_the_demo_fleet_appears_and_charges(server):
    fleet = eventually(lambda: len(call(server + "chargepoints")[1]["chargePoints"]) == 3)
    assert fleet, "the three demo charge points appear"
    status, _ = call(server + "simulate", {"chargePointId": "CP-DEMO-003", "messageType": "StartTransaction"})
    assert status in (200, 409)

    def charging_session():
        sessions = call(server + "sessions?status=Active")[1]["sessions"]
        return [s for s in sessions if s["currentEnergy"] > 0]

    first = eventually(charging_session, 90)
    assert first, "a session accumulates energy"
    later = eventually(
        lambda: [
            s
            for s in charging_session()
            if s["sessionId"] == first[0]["sessionId"] and s["currentEnergy"] > first[0]["currentEnergy"]
        ],
        30,
    )
    assert later and later[0]["cost"] >= first[0]["cost"]
    stats = call(server + "stats")[1]
    active = call(server + "sessions?status=Active")[1]["sessions"]
    assert stats["totalChargePoints"] == 3 and stats["activeSessions"] >= 1
    assert abs(stats["activeSessions"] - len(active)) <= 1  # the ticker may move between the two requests


def test_curl_can_play_a_charger(server):
    status, answer = call(
        server + "ocpp/CURL-1", [2, "1", "BootNotification", {"chargePointVendor": "Me", "chargePointModel": "Curl"}]
    )
    assert status == 200 and answer[2]["status"] == "Accepted"
    status, answer = call(server + "ocpp/CURL-1", [2, "2", "Heartbeat", {}])
    assert status == 200 and answer[2]["currentTime"].endswith("Z")
    status, answer = call(server + "ocpp/CURL-1", [2, "3", "Levitate", {}])
    assert status == 400 and answer[2] == "NotImplemented"
    status, point = call(server + "chargepoints/CURL-1")
    assert status == 200 and point["vendor"] == "Me"


def test_the_dashboard_page_is_served(server):
    with urllib.request.urlopen(server, timeout=10) as response:
        assert response.status == 200 and b"<title>" in response.read()
