"""Browser tests of the dashboard page (static/). See conftest.py for how the server is chosen."""

import json
import re
import time
from pathlib import Path

import pytest

from chalicelib.charging_rules import CONNECTOR_STATUSES

STATIC = Path(__file__).resolve().parents[2] / "static"
STAT_KEYS = [
    "totalChargePoints",
    "availableChargePoints",
    "chargingChargePoints",
    "activeSessions",
    "completedSessions",
    "totalEnergyKwh",
    "totalRevenue",
    "rejectedMessages",
]
STATUSES = list(CONNECTOR_STATUSES)
DEMO_IDS = ["CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003"]
# static/'s files: 60 KiB until issue 14's command dialog, schema forms and idTag and reservation views (31 KB)
# and issue 15's billing export (panel-export.js, its form, api.js's download: 3.4 KB), charts drawn from the
# stored history (history.js, the loading in panel-charts.js: 3 KB), and the charger detail dialog
# (panel-detail.js, detail.js: 13.6 KB, not in the first load; its button and styles: 1.4 KB), the export
# job's polling and download (panel-export.js, api.js: 1.6 KB), and the idTags view's pages, which reach every
# tag of a registry past the 500 it showed (panel-idtags.js's pager, config.js's ?pageSize: 1.6 KB), and the
# energy chart's last bar drawn at its live figure's time (history.js: 119 bytes): 121,173 bytes; then a local list
# sent in parts followed to its last part, each part's state in the command dialog (runCommand, panel-commands.js,
# schema-form.js, dashboard.css: 2.2 KB, 530 bytes of it in the first load), and the idTags view's find box, which
# reaches one tag of thousands by its id (panel-idtags.js: 1.4 KB): 124,827 bytes; then every refusal of a command
# (Failed, NotSupported, ...) shown as one, not only Rejected (state.js: 250 bytes).
STATIC_BUDGET = 123 * 1024
# What the first load fetches: those load when their dialog or view opens, so it grows by their buttons only
# (and by the export form, the history charts and the Sites panel, which are on the page from the start).
FIRST_LOAD_BUDGET = 78 * 1024
LAZY_MODULES = {
    "panel-commands.js",
    "panel-idtags.js",
    "panel-reservations.js",
    "schema-form.js",
    "form-view.js",
    "records.js",
    "panel-detail.js",
    "detail.js",
}


def open_dashboard(page, url, query=""):
    page.goto(url + query)
    wait_updated(page)
    return page


def last_ts(page):
    return page.get_attribute("[data-testid=last-updated]", "data-ts")


def wait_updated(page, previous=None, timeout=20000):
    """Wait until a refresh has completed (after `previous` when given)."""
    page.wait_for_function(
        "prev => { const ts = document.querySelector('[data-testid=last-updated]').dataset.ts;"
        " return ts && ts !== prev; }",
        arg=previous,
        timeout=timeout,
    )
    return last_ts(page)


def click_refresh(page):
    before = last_ts(page)
    page.click("[data-testid=refresh-button]")
    return wait_updated(page, before)


def card_values(page):
    return page.evaluate(
        """keys => Object.fromEntries(keys.map(k =>
        [k, document.querySelector(`[data-testid=stat-${k}]`).dataset.value]))""",
        STAT_KEYS,
    )


def as_number(v):
    return None if v in (None, "null", "undefined") else float(v)


def wait_for_demo_grid(page, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        ids = page.eval_on_selector_all("[data-testid=cp-card]", "els => els.map(e => e.dataset.cpId)")
        if all(i in ids for i in DEMO_IDS) or time.monotonic() > deadline:
            return ids
        time.sleep(2)
        click_refresh(page)


def test_page_loads_without_console_errors(page, live_server):
    open_dashboard(page, live_server)
    page.wait_for_selector("[data-testid=cp-card], [data-testid=cp-empty]")
    assert page.title() == "EV Charging Dashboard"
    assert page.locator("[data-testid=api-banner]").is_hidden()
    assert page.locator("[data-testid=last-updated]").inner_text().startswith("Last updated ")
    assert re.fullmatch(r"Last updated \d\d:\d\d:\d\d", page.locator("[data-testid=last-updated]").inner_text())
    page.wait_for_timeout(1500)  # let the ticker and charts run
    assert page.errors == []


def test_stat_cards_match_api(page, live_server):
    open_dashboard(page, live_server)
    mismatch = None
    for _ in range(10):
        with page.expect_response(lambda r: r.url.split("?")[0].endswith("/stats")) as resp_info:
            click_refresh(page)
        seen = resp_info.value.json()
        shown = card_values(page)
        # The cards always show exactly what the page's own GET stats returned ...
        for key in STAT_KEYS:
            assert as_number(shown[key]) == pytest.approx(seen[key]), key
        # ... and that is what the API says now (data changes with the simulator, so retry).
        api = page.request.get(live_server + "stats").json()
        assert as_number(shown["totalChargePoints"]) == api["totalChargePoints"]
        mismatch = {k: (shown[k], api[k]) for k in STAT_KEYS if as_number(shown[k]) != pytest.approx(api[k])}
        if not mismatch:
            break
        time.sleep(0.3)
    assert not mismatch, f"cards never matched GET stats: {mismatch}"
    revenue = page.locator("[data-testid=stat-totalRevenue]").inner_text()
    assert revenue and revenue != "—"
    assert "kWh" in page.locator("[data-testid=stat-totalEnergyKwh]").inner_text()


def test_grid_shows_demo_charge_points(page, live_server):
    open_dashboard(page, live_server)
    ids = wait_for_demo_grid(page)
    assert set(DEMO_IDS) <= set(ids)
    legend = page.locator("[data-testid=status-legend]").inner_text()
    for status in STATUSES:
        assert status in legend
    for cp_id in DEMO_IDS:
        card = page.locator(f"[data-testid=cp-card][data-cp-id='{cp_id}']")
        assert card.locator("[data-testid=cp-status]").inner_text().strip() in STATUSES + ["Unknown"]
        text = card.inner_text()
        for label in ("Model", "Vendor", "Connectors", "Max power", "Last seen"):
            assert label in text
        seen = card.locator("[data-testid=cp-last-seen]")
        assert seen.count() == 1, "every booted charge point has been seen"
        assert seen.get_attribute("title") == seen.get_attribute("datetime")
        assert re.fullmatch(r"\d+ (s|min|h|d) ago", seen.inner_text())
    # relative times tick every second
    before = page.locator("[data-testid=cp-last-seen]").first.inner_text()
    page.wait_for_function(
        "b => document.querySelector('[data-testid=cp-last-seen]').textContent !== b", arg=before, timeout=5000
    )


def test_sessions_table_filter_and_paging(page, live_server):
    open_dashboard(page, live_server)
    page.wait_for_selector("[data-testid=session-row], [data-testid=sessions-empty]")
    for status in ("Completed", "Active"):
        before = last_ts(page)
        page.select_option("[data-testid=session-filter]", status)
        wait_updated(page, before)
        statuses = page.eval_on_selector_all("[data-testid=session-row]", "els => els.map(e => e.dataset.status)")
        if statuses:
            assert all(s == status for s in statuses), statuses
        else:
            assert page.locator("[data-testid=sessions-empty]").is_visible()
    before = last_ts(page)
    page.select_option("[data-testid=session-filter]", "")
    wait_updated(page, before)
    assert page.locator("[data-testid=page-first]").is_disabled()
    if page.locator("[data-testid=page-next]").is_enabled():
        first_ids = page.eval_on_selector_all("[data-testid=session-row]", "els => els.map(e => e.dataset.sessionId)")
        before = last_ts(page)
        page.click("[data-testid=page-next]")
        wait_updated(page, before)
        assert page.locator("[data-testid=page-info]").inner_text() == "Page 2"
        assert page.locator("[data-testid=page-first]").is_enabled()
        second_ids = page.eval_on_selector_all("[data-testid=session-row]", "els => els.map(e => e.dataset.sessionId)")
        assert second_ids and not set(second_ids) & set(first_ids)
        before = last_ts(page)
        page.click("[data-testid=page-first]")
        wait_updated(page, before)
        assert page.locator("[data-testid=page-info]").inner_text() == "Page 1"


def ensure_a_session(base):
    """Have the simulator start a transaction now rather than wait for a car to arrive."""
    import urllib.error
    import urllib.request

    for cp_id in DEMO_IDS:
        body = json.dumps({"chargePointId": cp_id, "messageType": "StartTransaction"}).encode()
        request = urllib.request.Request(
            base + "simulate", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            return
        except urllib.error.HTTPError as error:
            assert error.code == 409, error.read()  # no free connector there, or a tick running


def test_selecting_a_session_charts_it(page, live_server):
    ensure_a_session(live_server)
    open_dashboard(page, live_server, "?refresh=2")
    page.wait_for_selector("[data-testid=session-row]", timeout=60000)
    active = page.locator("[data-testid=session-row][data-status=Active]")
    row = active.first if active.count() else page.locator("[data-testid=session-row]").first
    row.click()
    assert row.get_attribute("aria-selected") == "true"
    chart = page.locator("[data-testid=session-chart]")
    page.wait_for_function("() => +document.querySelector('[data-testid=session-chart]').dataset.points >= 2")
    assert chart.locator("path.chart-line").count() >= 1
    assert page.locator("#session-chart-info").inner_text() != "No session selected"
    if active.count():
        assert "then polled" in page.locator("#session-chart-caption").inner_text()


def test_simulate_shows_sent_frames(page, live_server):
    open_dashboard(page, live_server)
    before = last_ts(page)
    for _ in range(6):  # the background simulator may be mid-tick (409): try again
        page.click("[data-testid=simulate-button]")
        page.wait_for_selector("[data-testid=sim-log] > li.sim-entry >> nth=0")
        page.wait_for_function("() => !document.querySelector('[data-testid=simulate-button]').disabled")
        if page.locator("[data-testid=sim-log] [data-testid=sim-entry]").count():
            break
        time.sleep(1)
    entry = page.locator("[data-testid=sim-entry]").first
    assert re.search(r"Published \d+ frames?", entry.inner_text())
    frames = entry.locator("[data-testid=sim-frame]")
    for i in range(frames.count()):
        cp = frames.nth(i).locator(".sim-cp").inner_text()
        action = frames.nth(i).locator(".sim-action").inner_text()
        assert cp and action and action != "?"
    wait_updated(page, before)
    assert last_ts(page) != before


def test_auto_refresh_toggle_persists_and_refreshes(page, live_server):
    # ?refresh=2 shortens the page's 30 s auto-refresh interval to 2 s (test hook).
    open_dashboard(page, live_server, "?refresh=2")
    toggle = page.locator("[data-testid=auto-refresh]")
    assert toggle.is_checked()  # default: on
    wait_updated(page, last_ts(page), timeout=8000)  # refreshes by itself

    toggle.uncheck()
    page.reload()
    wait_updated(page)
    assert not page.locator("[data-testid=auto-refresh]").is_checked()
    assert page.evaluate("localStorage.getItem('evdash.autoRefresh')") == "0"
    ts = last_ts(page)
    page.wait_for_timeout(5000)
    assert last_ts(page) == ts, "refreshed although auto-refresh is off"

    page.locator("[data-testid=auto-refresh]").check()
    page.reload()
    wait_updated(page)
    assert page.locator("[data-testid=auto-refresh]").is_checked()
    wait_updated(page, last_ts(page), timeout=8000)


def test_banner_when_requests_fail(page, live_server):
    open_dashboard(page, live_server)
    assert page.locator("[data-testid=api-banner]").is_hidden()

    def is_api(url):
        path = url.split("?")[0]
        return path.startswith(live_server) and "/assets/" not in path and path != live_server

    page.route(is_api, lambda route: route.abort())
    page.click("[data-testid=refresh-button]")
    banner = page.locator("[data-testid=api-banner]")
    banner.wait_for(state="visible", timeout=10000)
    assert banner.get_attribute("role") == "alert"
    assert "Retrying" in banner.inner_text()
    page.unroute(is_api)
    banner.wait_for(state="hidden", timeout=12000)  # retried every 5 s by itself


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk comes first)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_screenshots_and_metrics(new_page, live_server, artifacts):
    page = new_page(1440, 900)
    responses = []
    page.on("response", lambda r: responses.append(r))
    page.goto(live_server)
    wait_updated(page)
    page.wait_for_load_state("load")
    page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint').length > 0")
    perf = page.evaluate("""() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const res = performance.getEntriesByType('resource');
        const fcp = performance.getEntriesByName('first-contentful-paint')[0];
        const sum = (list, f) => list.reduce((a, e) => a + (e[f] || 0), 0);
        const assets = res.filter(e => e.name.includes('/assets/'));
        return {
          assets: Object.fromEntries(assets.map(e => [e.name.split('/').pop(), e.decodedBodySize])),
          documentTransferBytes: nav.transferSize, documentBodyBytes: nav.decodedBodySize,
          resourceTransferBytes: sum(res, 'transferSize'), resourceBodyBytes: sum(res, 'decodedBodySize'),
          staticAssetBodyBytes: sum(assets, 'decodedBodySize') + nav.decodedBodySize,
          resourceCount: res.length,
          firstContentfulPaintMs: Math.round(fcp.startTime),
          domContentLoadedMs: Math.round(nav.domContentLoadedEventEnd),
          loadMs: Math.round(nav.loadEventEnd),
        };
    }""")
    body_bytes = 0
    for r in responses:
        try:
            sizes = r.request.sizes()
            body_bytes += sizes["responseBodySize"] + sizes["responseHeadersSize"]
        except Exception:  # noqa: BLE001 - a response without sizes (e.g. aborted) just does not count
            pass
    metrics = {
        "url": live_server,
        "responses": len(responses),
        "bytesTransferred": body_bytes,
        "transferBytes": perf["documentTransferBytes"] + perf["resourceTransferBytes"],
        **perf,
    }
    (artifacts / "dashboard-metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    # Every asset arrived whole (the files as they are in static/), and the page stays within its budget.
    # First contentful paint and the load times are figures for the artifact, not goals to assert here.
    assert {".css", ".js"} <= {Path(name).suffix for name in metrics["assets"]}, metrics["assets"]
    assert metrics["assets"] == {name: (STATIC / name).stat().st_size for name in metrics["assets"]}
    assert metrics["staticAssetBodyBytes"] < FIRST_LOAD_BUDGET
    assert not LAZY_MODULES & set(metrics["assets"]), "a module of a dialog or view came with the first load"
    assert metrics["bytesTransferred"] > metrics["staticAssetBodyBytes"]  # nothing came from a cache

    active = page.locator("[data-testid=session-row][data-status=Active]")
    if active.count():
        active.first.click()
        page.wait_for_timeout(4000)
    assert png_size(page.screenshot(path=str(artifacts / "dashboard-desktop.png"), full_page=True))[0] == 1440

    phone = new_page(390, 844)
    phone.goto(live_server)
    wait_updated(phone)
    phone.wait_for_selector("[data-testid=cp-card], [data-testid=cp-empty]")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390, "horizontal overflow at 390 px"
    width, height = png_size(phone.screenshot(path=str(artifacts / "dashboard-phone.png"), full_page=True))
    assert width == 390 and height >= 844, (width, height)  # the whole page, and no wider than the phone
    assert page.errors == [] and phone.errors == []


def test_static_files_are_light_and_safe():
    files = [p for p in STATIC.iterdir() if p.is_file()]
    assert {"index.html", "dashboard.css", "dashboard.js", *LAZY_MODULES} <= {p.name for p in files}
    assert sum(p.stat().st_size for p in files) < STATIC_BUDGET
    for p in files:
        if p.suffix == ".js":
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
                assert sink not in p.read_text(), f"{p.name} uses {sink}"
    html = (STATIC / "index.html").read_text()
    assert 'href="assets/dashboard.css"' in html and 'src="assets/dashboard.js"' in html
