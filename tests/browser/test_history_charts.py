"""The charts drawn from the server's stored history: a fresh tab shows a session's readings from before it
was opened, and the fleet's energy over the past hours (GET /stats/energy, from the stored snapshots)."""

import json
import time
import urllib.error
import urllib.request

from tests.browser.conftest import LIVE_FIGURE_SECONDS
from tests.browser.test_dashboard import ensure_a_session, open_dashboard


def get(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.load(response)


def simulate(base: str, charge_point_id: str, message_type: str) -> None:
    body = json.dumps({"chargePointId": charge_point_id, "messageType": message_type}).encode()
    request = urllib.request.Request(
        base + "simulate", data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 409, error.read()  # a tick running: the next one meters anyway


def session_with_readings(base: str, at_least: int = 2, seconds: float = 60) -> tuple[dict, int]:
    """An active session with `at_least` stored readings (asking its charger for MeterValues meanwhile)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for session in get(base, "sessions?status=Active")["sessions"]:
            readings = get(base, f"sessions/{session['sessionId']}/meterValues")["meterValues"]
            if len(readings) >= at_least:
                return session, len(readings)
            simulate(base, session["chargePointId"], "MeterValues")
        time.sleep(1.1)
    raise AssertionError("no active session got its readings stored")


def test_a_fresh_tab_draws_the_session_and_the_fleet_from_stored_history(page, live_server):
    ensure_a_session(live_server)
    session, stored = session_with_readings(live_server)
    open_dashboard(page, live_server, "?refresh=2")
    row = page.locator(f"[data-testid=session-row][data-session-id='{session['sessionId']}']")
    row.wait_for(timeout=30000)
    row.click()
    page.wait_for_function(
        "n => { const c = document.querySelector('[data-testid=session-chart]');"
        " return c.dataset.source === 'history' && +c.dataset.points >= n; }",
        arg=stored + 1,  # the start at 0 kWh, then every reading stored before the tab opened
    )
    assert "stored meter history" in page.locator("#session-chart-caption").inner_text()
    fleet = page.locator("[data-testid=fleet-chart]")
    # The interval under way comes from the live figure, shared by every viewer and taken again once it is
    # LIVE_FIGURE_SECONDS old: one an earlier test's tab asked for at 0 kWh can stand that long.
    page.wait_for_function(
        "() => +document.querySelector('[data-testid=fleet-chart]').dataset.energyKwh > 0",
        timeout=(LIVE_FIGURE_SECONDS + 15) * 1000,
    )
    # A fresh server has snapshots since its start only: the intervals they bound, the one under way among them.
    points = get(live_server, "stats/energy")["points"]
    assert 1 <= int(fleet.get_attribute("data-points")) <= len([p for p in points if p["energyKwh"] is not None])
    assert fleet.locator("path.chart-line").count() == 2
    assert page.errors == []
