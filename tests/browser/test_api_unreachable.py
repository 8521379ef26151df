"""The API-unreachable banner, on a private server of its own (`own_server`) that the test stops and
restarts: the shared `live_server` is not touched, so the test may run in any order."""


def test_banner_appears_when_server_stops_and_clears_when_back(new_page, own_server):
    page = new_page()
    # ?refresh=2: auto-refresh every 2 s instead of 30 s so the outage is noticed quickly.
    page.goto(own_server.url + "?refresh=2")
    page.wait_for_function("() => document.querySelector('[data-testid=last-updated]').dataset.ts")
    banner = page.locator("[data-testid=api-banner]")
    assert banner.is_hidden()

    own_server.stop()
    banner.wait_for(state="visible", timeout=15000)
    assert banner.get_attribute("role") == "alert"
    assert "Cannot reach the API" in banner.inner_text()

    own_server.start()  # same port
    banner.wait_for(state="hidden", timeout=20000)
    assert "Last updated" in page.locator("[data-testid=last-updated]").inner_text()
