"""The Sites panel: a site declared over the API shows its limit, its live total and a chart of its power
against the limit line."""

import json
import time
import urllib.error
import urllib.request

CHARGERS = ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]


def put_site(base: str, site_id: str, body: dict) -> int:
    request = urllib.request.Request(
        f"{base}sites/{site_id}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_site_shows_its_limit_live_total_and_chart(new_page, live_server):
    body = {"name": "Depot", "maxPowerKw": 60, "chargePointIds": CHARGERS}
    deadline = time.monotonic() + 60
    while (status := put_site(live_server, "browser-depot", body)) != 200:  # until the demo fleet has booted
        assert status == 400 and time.monotonic() < deadline, status
        time.sleep(1)
    page = new_page()
    page.goto(live_server + "?refresh=2")
    card = page.locator("[data-testid=site-card][data-site=browser-depot]")
    card.wait_for(timeout=30000)
    assert card.locator("h3").inner_text() == "Depot"
    assert card.locator("[data-testid=site-limit]").inner_text().startswith("60")
    assert card.locator("[data-testid=site-total]").inner_text().endswith("kW")
    assert card.locator("[data-testid=site-chart] [data-testid=site-limit-line]").count() == 1
    page.wait_for_function(  # a second poll draws the power line
        "() => document.querySelector('[data-site=browser-depot] .site-power')", timeout=30000
    )
