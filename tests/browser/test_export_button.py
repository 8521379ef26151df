"""The dashboard's Export button (issue 15): the last 7 days by default, downloaded as the API's CSV file,
whether the API answers the CSV itself or a job (202, past one part) that the page polls and whose file it
then opens as a plain download, without the API key."""

import csv
import io
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.ocpp_frames import format_timestamp
from tests.browser.conftest import app_env
from tests.browser.test_dashboard import open_dashboard
from tests.live_server import ServerProcess, chalice_command, free_port

CHARGER = "CP-EXPORT-1"
TAG = 'tag,"quoted"'


def ocpp(url: str, action: str, payload: dict) -> list:
    """One raw CALL frame to the live server's POST /ocpp/{id}."""
    frame = json.dumps([2, f"export-{action}", action, payload]).encode()
    request = urllib.request.Request(
        f"{url}ocpp/{CHARGER}", data=frame, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def test_the_export_button_downloads_the_last_7_days_as_csv(page, live_server):
    now = datetime.now(UTC)
    ocpp(live_server, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    started = ocpp(
        live_server,
        "StartTransaction",
        {"connectorId": 1, "idTag": TAG, "meterStart": 0, "timestamp": format_timestamp(now - timedelta(minutes=30))},
    )
    stop = {"transactionId": started[2]["transactionId"], "meterStop": 7500, "timestamp": format_timestamp(now)}
    ocpp(live_server, "StopTransaction", stop)

    open_dashboard(page, live_server)
    today = page.evaluate(
        "() => { const d = new Date(); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());"
        " return d.toISOString().slice(0, 10); }"
    )
    assert page.input_value("[data-testid=export-to]") == today
    week_ago = datetime.fromisoformat(today) - timedelta(days=6)
    assert page.input_value("[data-testid=export-from]") == f"{week_ago:%Y-%m-%d}"

    with page.expect_request("**/exports/sessions.csv?*") as asked, page.expect_download() as downloaded:
        page.click("[data-testid=export-button]")
    query = parse_qs(urlsplit(asked.value.url).query)
    first, after = (datetime.fromisoformat(query[name][0]) for name in ("from", "to"))
    assert after - first == timedelta(days=7) and first <= now < after  # whole local days, today's included
    download = downloaded.value
    assert download.suggested_filename.startswith("sessions_") and download.suggested_filename.endswith(".csv")
    data = Path(download.path()).read_bytes()
    text = data.decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert data.startswith(b"sessionId,transactionId,chargePointId,connectorId,idTag,startTime,stopTime,")
    assert data.endswith(b"\r\n")
    (ours,) = [row for row in rows if row["chargePointId"] == CHARGER]
    assert ours["idTag"] == TAG and ours["energyKwh"] == "7.500" and ours["stopTime"] == stop["timestamp"]
    page.wait_for_selector("[data-testid=export-status]:has-text('Downloaded')")
    assert page.errors == []


@pytest.fixture
def small_parts_server(browser_requirements, tmp_path):
    """A server of its own whose exports past 1 KiB are jobs: the 202 the dashboard polls."""
    port = free_port()
    env = {**app_env(), "EXPORT_PART_BYTES": "1024", "DIAGNOSTICS_DIR": str(tmp_path)}
    server = ServerProcess(chalice_command(port), port, env=env).start()
    try:
        yield server.url
    finally:
        server.stop()


def test_an_export_past_one_part_is_a_job_polled_and_its_file_opened_without_the_key(
    page, small_parts_server, tmp_path
):
    now = datetime.now(UTC)
    ocpp(small_parts_server, "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    stops = []
    for n in range(8):  # about 1.3 KB of rows: past the 1 KiB part
        at = now - timedelta(minutes=30 - n)
        begin = {"connectorId": 1, "idTag": f"TAG-{n}", "meterStart": 0, "timestamp": format_timestamp(at)}
        started = ocpp(small_parts_server, "StartTransaction", begin)
        stops.append(format_timestamp(at + timedelta(seconds=30)))
        end = {"transactionId": started[2]["transactionId"], "meterStop": 1000, "timestamp": stops[-1]}
        ocpp(small_parts_server, "StopTransaction", end)

    open_dashboard(page, small_parts_server)
    # The operator's key as a deployed stage's page keeps it (local mode ignores it): it goes to the API only.
    page.evaluate("() => sessionStorage.setItem('evdash.apiKey:' + new URL('.', document.baseURI).pathname, 'k')")
    with (
        page.expect_response("**/exports/sessions.csv?*") as answered,
        page.expect_response("**/exports/jobs/**") as polled,
        page.expect_download() as downloaded,
    ):
        page.click("[data-testid=export-button]")
    assert answered.value.status == 202 and answered.value.headers["location"] == polled.value.url
    assert polled.value.status == 200 and polled.value.request.headers["accept"] == "application/json"
    assert polled.value.request.headers["x-api-key"] == "k"
    download = downloaded.value
    assert download.suggested_filename.startswith("sessions_") and download.suggested_filename.endswith(".csv")
    # Opened as a link (a navigation sends no x-api-key): the file's route and its token, the credential.
    opened = urlsplit(download.url)
    assert opened.path.startswith("/exports/files/") and "token" in parse_qs(opened.query)
    data = Path(download.path()).read_bytes()
    assert len(data) > 1024 and data.endswith(b"\r\n")
    ours = [row for row in csv.DictReader(io.StringIO(data.decode(), newline="")) if row["chargePointId"] == CHARGER]
    assert [row["stopTime"] for row in ours] == stops
    assert [path.name for path in tmp_path.rglob("*.csv")] == [download.suggested_filename]  # the file it wrote
    page.wait_for_selector("[data-testid=export-status]:has-text('Downloaded')")
    assert page.errors == []
