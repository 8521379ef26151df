"""Issue 14's semantics on the dashboard: a demo charger's Details dialog shows what its answers left on the
central system (configuration, local list state, charging profiles and their composite), reloaded when reopened."""

import time
from datetime import UTC, datetime, timedelta

from tests.browser.test_command_forms import card
from tests.browser.test_dashboard import DEMO_IDS, open_dashboard, wait_for_demo_grid

CP = DEMO_IDS[1]  # the command forms' tests use the first and the third
PROFILE_ID = 71
TAG = "DETAIL-TAG"


def command(page, url, action, payload):
    """Sends one command through the API and waits until the charger has answered it."""
    base = f"{url}chargepoints/{CP}/commands"
    command_id = page.request.post(base, data={"action": action, "payload": payload}).json()["commandId"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        view = page.request.get(f"{base}/{command_id}").json()
        if view["status"] != "pending":
            assert view["status"] == "answered", view
            return view
        time.sleep(0.2)
    raise AssertionError(f"{action} still pending")


def open_details(page):
    button = f"{card(CP)} [data-testid=cp-details]"
    page.focus(button)
    page.keyboard.press("Enter")
    page.locator("[data-testid=detail-dialog] [data-testid=detail-profiles]").wait_for()
    return page.locator("[data-testid=detail-dialog]")


def test_details_show_configuration_local_list_and_profiles_refreshed_on_reopen(page, live_server):
    open_dashboard(page, live_server)
    wait_for_demo_grid(page)
    command(page, live_server, "GetConfiguration", {"key": ["HeartbeatInterval", "NoSuchKey"]})
    command(page, live_server, "GetLocalListVersion", {})

    dialog = open_details(page)
    assert page.evaluate("document.activeElement.dataset.testid") == "detail-close"
    row = dialog.locator("[data-testid=detail-config-table] tr[data-key=HeartbeatInterval]")
    assert row.locator("td").first.inner_text() == "HeartbeatInterval"
    assert "NoSuchKey" in dialog.locator("[data-testid=detail-config]").inner_text()  # the charger's unknownKey
    assert not dialog.locator(f"[data-profile-id='{PROFILE_ID}']").count()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")

    # A new registry version puts the charger's list out of sync; a profile limits connector 1 for an hour.
    assert page.request.put(f"{live_server}idtags/{TAG}", data={"status": "Accepted"}).ok
    start = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    profile = {
        "chargingProfileId": PROFILE_ID,
        "stackLevel": 1,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "startSchedule": start,
            "duration": 3600,
            "chargingRateUnit": "W",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
        },
    }
    try:
        assert command(page, live_server, "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": profile})[
            "result"
        ] == {"status": "Accepted"}

        dialog = open_details(page)
        item = dialog.locator(f"[data-testid=detail-profile-list] [data-profile-id='{PROFILE_ID}']")
        assert item.inner_text().startswith(f"#{PROFILE_ID} TxDefaultProfile, Absolute, stack level 1, connector 1")
        assert "#1: 11 kW until" in dialog.locator("[data-testid=detail-composite]").inner_text()
        assert dialog.locator("[data-testid=detail-chart] path.chart-line").count() == 1
        state = dialog.locator("[data-testid=detail-list-state]")
        assert state.inner_text() == "Out of sync"
        listed = page.request.get(f"{live_server}chargepoints/{CP}/localList").json()
        assert (
            f"registry is at {listed['registryVersion']}"
            in dialog.locator("[data-testid=detail-local-list]").inner_text()
        )
        page.keyboard.press("Escape")
    finally:
        page.request.delete(f"{live_server}idtags/{TAG}")
        command(page, live_server, "ClearChargingProfile", {"id": PROFILE_ID})
    assert page.errors == []
