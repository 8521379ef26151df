"""The simulator as a real OCPP client over WebSocket (scripts/ws_chargers.py): it answers remote
commands the way a charger does; and the short version of the capacity run (docs/capacity.md): 200
chargers boot at once, run, drop every socket and reconnect, and lose nothing.

The load test runs the gateway as its own process (`python -m chalicelib.ocpp_gateway`) on DynamoDB
Local, so its memory is the gateway's alone. The figures (calls, latency p50/p99, memory per connection)
go to tests/artifacts/ws_load.json and the test output. They are reported, not asserted: speed is
measured, never pass/fail; what is asserted is that every CALL is answered and every session recorded."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from chalicelib import local_runtime, rest, settings, storage
from scripts import ws_chargers
from tests.backends import fresh_tables
from tests.ocpp_builders import get_command, post_command
from tests.support import ROOT, wait_for

LOAD_CHARGERS = 200
# Heartbeat and meter interval: 300 s in the capacity run, shorter here so that a short run sees both.
LOAD_INTERVAL = 60
LOAD_HOLD_SECONDS = float(os.environ.get("WS_LOAD_SECONDS", "15"))
STORM_SPREAD_SECONDS = 10


def test_simulated_chargers_answer_remote_start_and_stop(gateway, client):  # noqa: F811
    async def scenario():
        fleet = asyncio.create_task(
            ws_chargers.run_fleet(gateway.url, 2, prefix="CP-RS-", speed=1, duration=12, tick_seconds=0.2)
        )

        async def command(action: str, payload: dict) -> dict:
            status, queued = await asyncio.to_thread(
                post_command, client, "CP-RS-0001", {"action": action, "payload": payload}
            )
            assert status == 200, queued

            async def done():
                _, view = await asyncio.to_thread(get_command, client, "CP-RS-0001", queued["commandId"])
                return view if view["status"] != "pending" else None

            return await wait_for(done)

        async def booted():
            response = await asyncio.to_thread(client.http.get, "/chargepoints/CP-RS-0001")
            return response.status_code == 200 and json.loads(response.body).get("online")

        await wait_for(booted)

        started = await command("RemoteStartTransaction", {"idTag": "DASHBOARD", "connectorId": 1})
        assert started["result"] == {"status": "Accepted"}

        async def session(status: str):
            response = await asyncio.to_thread(client.http.get, f"/sessions?chargePointId=CP-RS-0001&status={status}")
            return [s for s in json.loads(response.body)["sessions"] if s["idTag"] == "DASHBOARD"]

        [active] = await wait_for(lambda: session("Active"))
        stopped = await command("RemoteStopTransaction", {"transactionId": active["transactionId"]})
        assert stopped["result"] == {"status": "Accepted"}
        [completed] = await wait_for(lambda: session("Completed"))
        assert completed["stopReason"] == "Remote"

        config = await command("GetConfiguration", {"key": ["HeartbeatInterval", "Nonsense"]})
        assert config["result"]["unknownKey"] == ["Nonsense"]
        reset = await command("Reset", {"type": "Soft"})
        assert reset["result"] == {"status": "Accepted"}
        counts = await fleet
        assert counts["unanswered"] == 0 and counts["callErrors"] == 0
        assert counts["connections"] >= 3  # two chargers, and one reconnected after its reset
        assert counts["call:BootNotification"] >= 3 and counts["commands"] == 4

    asyncio.run(scenario())


def _rss_mb(pid: int, field: str) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":"))) / 1024


def test_200_chargers_boot_at_once_reconnect_at_once_and_lose_nothing(dynamodb_local, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynamodb_local)
    fresh_tables(monkeypatch)
    port = local_runtime.free_port()
    gateway_process = subprocess.Popen(
        # The capacity this machine's gateway measures (docs/capacity.md), as an operator who knows it
        # would set it: the admission's slow start, which only a cold gateway needs, is the unit tests'.
        [sys.executable, "-m", "chalicelib.ocpp_gateway", "--port", str(port), "--capacity", "150"],
        cwd=ROOT,
        env={**os.environ, "HEARTBEAT_INTERVAL_SECONDS": str(LOAD_INTERVAL)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in gateway_process.stdout.readline()
        idle_mb = _rss_mb(gateway_process.pid, "VmRSS")
        counts = asyncio.run(
            ws_chargers.run_fleet(
                f"ws://127.0.0.1:{port}/ocpp",
                LOAD_CHARGERS,
                prefix="CP-LOAD-",
                duration=400,
                meter_interval=LOAD_INTERVAL,
                hold=LOAD_HOLD_SECONDS,
                reconnect_storm=True,
                storm_spread=STORM_SPREAD_SECONDS,
                after=5,
            )
        )
        peak_mb = _rss_mb(gateway_process.pid, "VmHWM")
        ids = [f"CP-LOAD-{n:04d}" for n in range(1, LOAD_CHARGERS + 1)]
        deadline = time.monotonic() + 30
        while (
            still_online := [cp for cp in ids if storage.get_charge_point(cp)["online"]]
        ) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        gateway_process.terminate()
        gateway_process.wait(timeout=15)
    figures = {
        **counts,
        "gatewayIdleRssMb": round(idle_mb, 1),
        "gatewayPeakRssMb": round(peak_mb, 1),
        "kbPerConnection": round((peak_mb - idle_mb) * 1024 / LOAD_CHARGERS, 1),
        "backend": "DynamoDB Local",
    }
    (ROOT / "tests" / "artifacts").mkdir(exist_ok=True)
    (ROOT / "tests" / "artifacts" / "ws_load.json").write_text(json.dumps(figures, indent=2))
    print("\nws load:", json.dumps(figures))

    # Every CALL answered with a CALLRESULT: none refused, none timed out, none unmatched.
    assert counts["booted"] == LOAD_CHARGERS and counts["calls"] == counts["answers"] > LOAD_CHARGERS * 5
    assert counts["unanswered"] == counts["callErrors"] == counts["unexpectedAnswers"] == 0
    # Each charger connected once (the boot storm is admitted at a rate: some after a Retry-After), and once
    # more after its socket dropped, refused no more.
    assert counts["connections"] == 2 * LOAD_CHARGERS and counts["stormReconnected"] == LOAD_CHARGERS
    assert counts["reconnects"] == counts["stormRefusals"] == 0
    # A charger told its slot is kept is let in when it comes back then (others are told to come back later).
    assert counts["refusals"] > 0 and counts["refusedAfterKeptSlot"] == 0
    # ... and recorded: every charger, and every transaction the chargers started and stopped.
    settings.get.cache_clear()
    stats = rest.stats()
    assert stats["totalChargePoints"] == LOAD_CHARGERS and stats["rejectedMessages"] == 0
    assert stats["activeSessions"] + stats["completedSessions"] == counts["transactionsStarted"] > 0
    assert stats["completedSessions"] == counts["transactionsStopped"]
    assert still_online == []  # every socket's close was recorded when the chargers left
