"""GET /exports/sessions.csv (issue 15): the completed sessions stopped in [from, to) as RFC 4180 CSV, with
the figures of GET /sessions, read a page at a time from an index (never a Scan), safe to open in a
spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib import events, export_jobs, exports, ocpp_frames, pricing, rest_exports, settings, storage, url_tokens
from chalicelib.storage import files, operations
from tests.ocpp_builders import boot, start, stop, ts
from tests.test_firmware_diagnostics import bucket  # noqa: F401  (moto's S3 with the stage's bucket)
from tests.test_request_budget import api  # noqa: F401  (the client that fails the test on any Scan)


@pytest.fixture(autouse=True)
def inline_budget(monkeypatch):
    """The longest time to answer inline (20 s, not the stage's 8): on a loaded machine moto reads a few
    hundred sessions a second at best, and these tests say when they want a job."""
    monkeypatch.setenv("EXPORT_INLINE_SECONDS", "20")
    settings.get.cache_clear()


def export(client, start: str, end: str):
    return client.http.get(f"/exports/sessions.csv?from={start}&to={end}")


def rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.body.decode(), newline="")))


def test_the_export_has_every_completed_session_stopped_in_the_range_with_the_figures_of_get_sessions(api):  # noqa: F811
    for cp in ("CP-1", "CP-2"):
        boot(cp)
    stopped_at = {}
    for n, seconds in enumerate((50, 100, 200, 299.999, 300)):  # `from` is T0+100 s, `to` T0+300 s
        cp = f"CP-{n % 2 + 1}"
        tx = start(cp, meter=1000, at=seconds - 30, tag=f"TAG-{n}")
        stop(cp, tx, 1000 + 1234 * (n + 1), at=seconds, reason="EVDisconnected")
        stopped_at[ts(seconds)] = tx
    start("CP-1", connector=2, at=150)  # active: never exported

    response = export(api, ts(100), ts(300))

    assert response.status_code == 200, response.body
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="sessions_20261124T120140Z_20261124T120500Z.csv"'
    )
    assert response.body.startswith(b"sessionId,transactionId,chargePointId,")
    assert response.body.count(b"\r\n") == 4 and b"\n" not in response.body.replace(b"\r\n", b"")
    exported = rows(response)
    assert [r["stopTime"] for r in exported] == [ts(100), ts(200), ts(299.999)]
    for r in exported:
        view = json.loads(api.http.get(f"/sessions/{r['sessionId']}").body)
        assert view["status"] == "Completed" and int(r["transactionId"]) == stopped_at[r["stopTime"]]
        assert float(r["energyKwh"]) == view["currentEnergy"] and float(r["cost"]) == view["cost"]
        for column in ("chargePointId", "idTag", "startTime", "stopTime", "currency", "stopReason"):
            assert r[column] == view[column], column
        assert int(r["connectorId"]) == view["connectorId"] and r["anomalies"] == ""
    # The figures themselves: 1.234 kWh per step at the configured tariff.
    tariff = settings.get().tariff
    assert exported[0]["cost"] == str(pricing.session_cost(2468, tariff))


def test_quotes_commas_and_line_breaks_in_an_idtag_are_quoted_and_formulas_are_defused(api):  # noqa: F811
    def call(action: str, payload: dict) -> list:
        frame = json.dumps([2, f"u-{action}", action, payload])
        response = api.http.post("/ocpp/CP-7", body=frame, headers={"Content-Type": "application/json"})
        return json.loads(response.body)

    call("BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"})
    tags = ['say "hi",\r\nok', "=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "plain"]
    for connector, tag in enumerate(tags, start=1):
        started = call(
            "StartTransaction", {"connectorId": connector, "idTag": tag, "meterStart": 0, "timestamp": ts(10)}
        )
        tx = started[2]["transactionId"]
        call("StopTransaction", {"transactionId": tx, "meterStop": 500, "timestamp": ts(20 + connector)})

    response = export(api, ts(0), ts(60))

    assert b'"say ""hi"",\r\nok"' in response.body  # RFC 4180: quoted, inner quotes doubled, CRLF kept
    assert [r["idTag"] for r in rows(response)] == [
        'say "hi",\r\nok',
        "'=HYPERLINK(1)",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "plain",
    ]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("", "from is required"),
        ("?from=2026-12-01", "to is required"),
        ("?from=yesterday&to=2026-12-01", "from is not an ISO 8601"),
        ("?from=2026-12-01&to=2026-13-01", "to is not an ISO 8601"),
        ("?from=2026-12-01T00:00+01:00&to=2026-12-02", "send it as %2B"),
        ("?from=0001-01-01T00:00%2B01:00&to=2026-12-02", "from is not an ISO 8601"),
        ("?from=2026-12-02&to=2026-12-01", "is after to"),
        ("?from=2025-01-01&to=2026-01-03", "at most 366 days"),
        ("?from=2026-12-01&to=2026-12-02&limit=5", "unknown query parameter 'limit'"),
    ],
)
def test_a_bad_range_is_a_400_that_says_what_is_wrong(client, query, says):
    response = client.http.get("/exports/sessions.csv" + query)
    assert response.status_code == 400
    assert says in json.loads(response.body)["Message"]


def test_an_empty_range_and_offsets_and_bare_dates(client):
    empty = export(client, "2026-12-01T10:00:00%2B01:00", "2026-12-01T09:00:00Z")
    assert empty.status_code == 200 and empty.body == (",".join(exports.COLUMNS) + "\r\n").encode()
    assert exports.time_range("2026-12-01", "2026-12-02T00:00:00.0005+00:00").end.microsecond == 0


def _load_completed(count: int) -> exports.TimeRange:
    """count completed sessions: one through the central system, then copies of its stored item (other
    ids, stopped on 2026-01-01 from 01:00 on, every 37 s) written straight into the table."""
    boot("CP-1")
    stop("CP-1", start("CP-1", at=10), 5000, at=20)
    (template,) = storage.list_sessions(1, None, "Completed").items
    first_stop = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    copies = []
    for n in range(count):
        stopped = ocpp_frames.format_timestamp(first_stop + timedelta(seconds=37 * n))
        session_id = f"{template['sessionId']}-{n}"
        copies.append({**template, "sessionId": session_id, "transactionId": n, "stopTime": stopped})
    storage.load_sessions(copies)
    return exports.time_range("2026-01-01", "2026-01-02")


def _settings(monkeypatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's


def test_many_pages_are_read_a_page_at_a_time_in_constant_memory(api, local_files, monkeypatch):  # noqa: F811
    alive = Counter()

    class Tracked(dict):
        """A session item that counts the items alive: what the export holds at once."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            alive["now"] += 1
            alive["peak"] = max(alive["peak"], alive["now"])

        def __del__(self):
            alive["now"] -= 1

    period = _load_completed(250)
    plain_item = operations.from_item
    monkeypatch.setattr(operations, "from_item", lambda item: Tracked(plain_item(item)))
    with storage.counting_requests() as counted:
        lines = sum(1 for _ in exports.lines(period, page_size=10))
    assert lines == 251
    # A page of 10, and the item of the row written last while the next page is read.
    assert alive["peak"] == 11, f"{alive['peak']} session items alive at once"
    # 1 Query + 1 BatchGetItem a page; DynamoDB may name a next key after a full last page: 1 Query more.
    assert counted["BatchGetItem"] == 25 and 25 <= counted["Query"] <= 26 and set(counted) == {"Query", "BatchGetItem"}

    # Written to a file by the worker: the same bound on items, and one part of CSV, given away when full.
    _settings(monkeypatch, EXPORT_PART_BYTES="4096")
    alive["peak"], parts = 0, []
    plain_add = files._LocalExport.add
    monkeypatch.setattr(files._LocalExport, "add", lambda self, part: (parts.append(len(part)), plain_add(self, part)))
    written = exports.write_file(period, "0" * 32, lambda rows, size: None, page_size=10)
    assert written.rows == 250 and written.bytes == sum(parts) and alive["peak"] == 11
    longest = max(len(line.encode()) for line in exports.lines(period))
    assert len(parts) > 5 and all(4096 <= size < 4096 + longest for size in parts[:-1]) and parts[-1] < 4096 + longest


def _job(response) -> dict:
    assert response.status_code == 202, response.body
    job = json.loads(response.body)
    assert response.headers["Location"] == job["location"] and response.headers["Cache-Control"] == "no-store"
    assert job["location"] == f"http://localhost/exports/jobs/{job['jobId']}" and job["status"] == "running"
    return job


def _completed_sessions(client) -> list[dict]:
    """Every completed session as GET /sessions lists it, page after page."""
    found, token = [], ""
    while True:
        page = json.loads(client.http.get(f"/sessions?status=Completed&limit=100{token}").body)
        found += page["sessions"]
        if not page.get("nextToken"):
            return found
        token = f"&nextToken={page['nextToken']}"


def test_an_export_past_one_part_is_a_job_whose_file_equals_the_inline_answer_behind_a_303(
    api,  # noqa: F811
    app_module,
    local_files,
    monkeypatch,
):
    _load_completed(120)
    full = export(api, "2026-01-01", "2026-01-02")
    assert full.status_code == 200 and len(rows(full)) == 120
    listed = _completed_sessions(api)
    _settings(monkeypatch, EXPORT_PART_BYTES=str(len(full.body) + 1))  # ends inside its first part: inline
    assert export(api, "2026-01-01", "2026-01-02").body == full.body

    _settings(monkeypatch, EXPORT_PART_BYTES=str(len(full.body) // 3))  # three parts and a short last one
    with storage.counting_requests() as counted:
        job = _job(export(api, "2026-01-01", "2026-01-02"))
    assert (job["from"], job["to"]) == ("2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z")
    # The API read a part's worth (1 page), then the worker (at once here: the tests' bus) all 120 (2 pages).
    assert counted["Query"] == 3 and counted["PutItem"] == 1

    done = api.http.get(f"/exports/jobs/{job['jobId']}")
    assert done.status_code == 303 and done.headers["Cache-Control"] == "no-store"
    shown = json.loads(done.body)
    assert shown["location"] == done.headers["Location"]
    assert (shown["status"], shown["rows"], shown["bytes"]) == ("done", 120, len(full.body))
    location = urlsplit(done.headers["Location"])
    assert (location.scheme, location.netloc) == ("http", "localhost")  # this app, as the caller reached it
    got = api.http.get(f"{location.path}?{location.query}")
    assert got.status_code == 200 and got.body == full.body  # the same bytes as the inline answer
    exported = {r["sessionId"]: (r["stopTime"], float(r["energyKwh"]), float(r["cost"])) for r in rows(got)}
    assert exported == {
        s["sessionId"]: (s["stopTime"], s["currentEnergy"], s["cost"])
        for s in listed
        if "2026-01-01" <= s["stopTime"] < "2026-01-02"
    }
    assert got.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert got.headers["Content-Disposition"] == full.headers["Content-Disposition"]
    assert [path.name for path in local_files.rglob("*") if path.is_file()] == [location.path.split("/")[-1]]

    # The dashboard asks for JSON: the file's URL to open without its API key, not a redirect to follow.
    as_json = api.http.get(f"/exports/jobs/{job['jobId']}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and json.loads(as_json.body)["fileName"] == shown["fileName"]
    assert urlsplit(json.loads(as_json.body)["location"]).path == location.path

    # A redelivered event finds the job claimed: no second file, the job unchanged.
    with storage.counting_requests() as again:
        app_module.export_worker(events.envelope(events.export_entry(job["jobId"])), None)
    assert dict(again) == {"UpdateItem": 1}
    assert len([path for path in local_files.rglob("*") if path.is_file()]) == 1
    assert (
        json.loads(api.http.get(f"/exports/jobs/{job['jobId']}", headers={"Accept": "application/json"}).body)["rows"]
        == 120
    )

    # The token opens this file only, and only until it expires.
    _, _, export_id, file_name = location.path.strip("/").split("/")
    assert export_id == job["jobId"]
    token = parse_qs(location.query)["token"][0]
    other = "sessions_20260101T000000Z_20260102T000001Z.csv"
    expired = url_tokens.token("export-download", (export_id, file_name), int(time.time()) - 1)
    for path, status in [
        (f"{location.path}", 403),
        (f"{location.path}?token={token[:-2]}xx", 403),
        (f"{location.path}?token={expired}", 403),
        (f"/exports/files/{export_id}/{other}?token={token}", 403),
        (f"/exports/files/{export_id}/..%2F..%2Fsecrets.csv?token={token}", 404),
        (
            f"/exports/files/{'0' * 32}/{file_name}?"
            + "token="
            + url_tokens.token("export-download", ("0" * 32, file_name), 2**40),
            404,
        ),
        (f"/exports/jobs/{'0' * 32}", 404),
        ("/exports/jobs/not-a-job", 404),
    ]:
        assert api.http.get(path).status_code == status, path


def test_an_export_past_the_time_budget_or_an_answer_is_a_job_too(api, local_files, monkeypatch):  # noqa: F811
    _load_completed(30)
    full = export(api, "2026-01-01", "2026-01-02")
    _settings(monkeypatch, EXPORT_INLINE_SECONDS="0")  # no time to answer inline: however small, a job
    slow = _job(export(api, "2026-01-01", "2026-01-02"))
    _settings(monkeypatch, EXPORT_INLINE_SECONDS="20")
    monkeypatch.setattr(exports, "MAX_BODY_CHARS", len(full.body) - 1)  # JSON escapes: "\r\n" is 4 characters
    big = _job(export(api, "2026-01-01", "2026-01-02"))
    for job in (slow, big):
        done = api.http.get(f"/exports/jobs/{job['jobId']}")
        assert done.status_code == 303
        assert api.http.get(done.headers["Location"].removeprefix("http://localhost")).body == full.body


@pytest.fixture
def s3_parts(monkeypatch):
    """moto takes parts as small as S3's 5 MiB rule would, scaled down for the tests."""
    from moto.s3 import models

    monkeypatch.setattr(models, "S3_UPLOAD_PART_MIN_SIZE", 1024)


def test_in_the_cloud_the_file_is_a_multipart_upload_and_a_presigned_get(api, bucket, s3_parts, monkeypatch):  # noqa: F811
    s3 = bucket
    _load_completed(60)
    full = export(api, "2026-01-01", "2026-01-02")
    assert full.status_code == 200
    _settings(monkeypatch, EXPORT_PART_BYTES=str(len(full.body) // 3))  # two full parts (a line past) and a third
    job = _job(export(api, "2026-01-01", "2026-01-02"))
    done = api.http.get(f"/exports/jobs/{job['jobId']}")
    assert done.status_code == 303
    location = urlsplit(done.headers["Location"])
    query = parse_qs(location.query)
    assert location.scheme == "https" and "ev-test-diagnostics" in location.netloc + location.path
    assert query["X-Amz-Expires"] == [str(files.EXPORT_URL_SECONDS)] and "X-Amz-Signature" in query
    key = location.path.split("ev-test-diagnostics/")[-1].lstrip("/")
    assert key == f"exports/{job['jobId']}/sessions_20260101T000000Z_20260102T000000Z.csv"
    stored = s3.get_object(Bucket="ev-test-diagnostics", Key=key)
    assert stored["Body"].read() == full.body
    assert stored["ETag"].endswith('-3"')  # S3's mark of a multipart object: 3 parts
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    assert stored["ContentDisposition"] == full.headers["Content-Disposition"]
    as_json = api.http.get(f"/exports/jobs/{job['jobId']}", headers={"Accept": "application/json"})
    assert as_json.status_code == 200 and urlsplit(json.loads(as_json.body)["location"]).path == location.path


@pytest.mark.parametrize("where", ["bucket", "local"])
def test_a_failure_mid_export_fails_the_job_aborts_the_upload_and_leaves_nothing(
    api,  # noqa: F811
    where,
    request,
    s3_parts,
    monkeypatch,
):
    s3 = request.getfixturevalue("bucket") if where == "bucket" else None
    directory = request.getfixturevalue("local_files") if where == "local" else None
    _load_completed(50)
    _settings(monkeypatch, EXPORT_PART_BYTES="2048")
    plain = storage.completed_sessions

    def failing(*args, **kwargs):
        for n, item in enumerate(plain(*args, **kwargs)):
            if n == 40:  # after two parts were written
                raise RuntimeError("the table went away")
            yield item

    monkeypatch.setattr(storage, "completed_sessions", failing)
    job = _job(export(api, "2026-01-01", "2026-01-02"))
    failed = api.http.get(f"/exports/jobs/{job['jobId']}")
    assert failed.status_code == 200
    shown = json.loads(failed.body)
    assert (shown["status"], shown["error"]) == ("failed", "the export failed: RuntimeError")
    assert "location" not in shown and "fileName" not in shown
    if s3 is not None:
        assert s3.list_multipart_uploads(Bucket="ev-test-diagnostics").get("Uploads", []) == []
        assert s3.list_objects_v2(Bucket="ev-test-diagnostics", Prefix="exports/").get("KeyCount") == 0
    else:
        assert [path for path in directory.rglob("*") if path.is_file()] == []


class _Lambda:
    """A worker's context: 125 s past the margin it keeps, 12 sessions read at the clock of `steps`."""

    def get_remaining_time_in_millis(self) -> int:
        return int((export_jobs.MARGIN_SECONDS + 125) * 1000)


@pytest.fixture
def steps(request, monkeypatch):
    """A job written in steps, its events delivered by hand: the export's clock moves 10 s a session read
    (no sleeping), so a step stops inside its second part with one part written (parts of 1024 bytes, ~8
    rows), and the events the API and the workers publish are kept in order. In the bucket (moto's S3,
    parts as small as 256 bytes) or in local files, as the test's `where` says."""
    from moto.s3 import models

    monkeypatch.setattr(models, "S3_UPLOAD_PART_MIN_SIZE", 256)
    request.getfixturevalue("bucket" if request.node.callspec.params["where"] == "bucket" else "local_files")
    now = [0.0]
    plain = storage.completed_sessions

    def ticking(*args):
        for item in plain(*args):
            now[0] += 10
            yield item

    monkeypatch.setattr(storage, "completed_sessions", ticking)
    monkeypatch.setattr(exports, "clock", lambda: now[0])
    sent: list[dict] = []
    monkeypatch.setattr(events, "publish", sent.extend)
    return sent


def _export_file(api, job_id: str) -> bytes:  # noqa: F811
    shown = json.loads(api.http.get(f"/exports/jobs/{job_id}", headers={"Accept": "application/json"}).body)
    location = shown["location"]
    if location.startswith("https://"):  # the bucket's pre-signed URL: read the object it names
        key = urlsplit(location).path.split("ev-test-diagnostics/")[-1].lstrip("/")
        return files._s3().get_object(Bucket="ev-test-diagnostics", Key=key)["Body"].read()
    return api.http.get(location.removeprefix("http://localhost")).body


def _left_behind() -> list:
    """Unfinished uploads, objects and local files of exports."""
    if settings.get().diagnostics_bucket:
        s3 = files._s3()
        uploads = s3.list_multipart_uploads(Bucket="ev-test-diagnostics").get("Uploads", [])
        return uploads + s3.list_objects_v2(Bucket="ev-test-diagnostics", Prefix="exports/").get("Contents", [])
    return [path for path in (files.ROOT / settings.get().diagnostics_dir).rglob("*") if path.is_file()]


@pytest.mark.parametrize("where", ["bucket", "local"])
def test_an_export_longer_than_a_worker_goes_on_in_steps_to_the_same_file(api, app_module, where, steps, monkeypatch):  # noqa: F811
    full = "".join(exports.lines(_load_completed(30))).encode()  # the file as one step writes it
    listed = _completed_sessions(api)
    _settings(monkeypatch, EXPORT_PART_BYTES="1024")
    job_id = _job(export(api, "2026-01-01", "2026-01-02"))["jobId"]
    delivered, rows_shown = [], []
    while steps:
        event = events.envelope(steps.pop(0))
        app_module.export_worker(event, _Lambda())
        delivered.append(event["detail"]["step"])
        if not steps:
            break
        shown = json.loads(api.http.get(f"/exports/jobs/{job_id}").body)
        assert (shown["status"], shown["step"]) == ("running", len(delivered) + 1)
        rows_shown.append(shown["rows"])
        # EventBridge delivers the step again: it is claimed, nothing changes and nothing more is sent.
        before = storage.get_job(job_id)
        with storage.counting_requests() as again:
            app_module.export_worker(event, _Lambda())
        assert dict(again) == {"UpdateItem": 1} and storage.get_job(job_id) == before and len(steps) == 1

    assert delivered == [1, 2, 3, 4]
    shown = json.loads(api.http.get(f"/exports/jobs/{job_id}", headers={"Accept": "application/json"}).body)
    assert (shown["status"], shown["rows"], shown["bytes"], shown["step"]) == ("done", 30, len(full), 4)
    assert 0 < rows_shown[0] < rows_shown[1] < rows_shown[2] < 30  # the rows count on across steps
    assert _export_file(api, job_id) == full  # no row lost or repeated where a step took over
    exported = csv.DictReader(io.StringIO(full.decode(), newline=""))
    assert len(listed) == 31 and {r["sessionId"] for r in exported} == {
        s["sessionId"] for s in listed if s["stopTime"].startswith("2026-01-01")
    }
    assert len(_left_behind()) == 1  # the file alone: no upload left open


@pytest.mark.parametrize("where", ["bucket"])
def test_a_failure_in_a_later_step_aborts_the_upload_of_every_step(api, app_module, where, steps, monkeypatch):  # noqa: F811
    _load_completed(30)
    _settings(monkeypatch, EXPORT_PART_BYTES="1024")
    plain = storage.completed_sessions

    def failing(first, last, page_size, after=None):
        for n, item in enumerate(plain(first, last, page_size, after)):
            if after is not None and n == 10:  # the second step, after one part of its own
                raise RuntimeError("the table went away")
            yield item

    monkeypatch.setattr(storage, "completed_sessions", failing)
    job_id = _job(export(api, "2026-01-01", "2026-01-02"))["jobId"]
    app_module.export_worker(events.envelope(steps.pop()), _Lambda())
    assert _left_behind() != []  # step 1 left its two parts for step 2
    app_module.export_worker(events.envelope(steps.pop()), _Lambda())

    shown = json.loads(api.http.get(f"/exports/jobs/{job_id}").body)
    assert (shown["status"], shown["error"], shown["step"]) == ("failed", "the export failed: RuntimeError", 2)
    assert steps == [] and _left_behind() == []


def test_behind_api_gateway_the_jobs_location_keeps_the_stages_path():
    """API Gateway's request path starts with the stage (/api), which the route's own path lacks."""
    headers = {"host": "abc.execute-api.eu-west-1.amazonaws.com", "x-forwarded-proto": "https"}
    context = {"path": "/api/exports/sessions.csv", "resourcePath": "/exports/sessions.csv"}
    assert rest_exports._api_url(headers, context) == "https://abc.execute-api.eu-west-1.amazonaws.com/api"


def test_a_worker_out_of_time_or_gone_fails_its_job(api, app_module, local_files, monkeypatch):  # noqa: F811
    _load_completed(5)
    period = exports.time_range("2026-01-01", "2026-01-02")
    monkeypatch.setattr(events, "publish", lambda entries: None)  # the worker is started by hand below
    job = export_jobs.start(period)
    running = json.loads(api.http.get(f"/exports/jobs/{job['jobId']}").body)
    assert (running["status"], "rows" in running) == ("running", False)

    class Lambda:  # 19 s left: less than the margin the worker keeps to abort and say why
        def get_remaining_time_in_millis(self) -> int:
            return 19_000

    app_module.export_worker(events.envelope(events.export_entry(job["jobId"])), Lambda())
    shown = json.loads(api.http.get(f"/exports/jobs/{job['jobId']}").body)
    assert shown["status"] == "failed" and "not a part written within the worker's time" in shown["error"]
    assert [path for path in local_files.rglob("*") if path.is_file()] == []

    # A step that started 16 minutes ago and never finished was stopped (its Lambda killed).
    gone = export_jobs.start(period)
    long_ago = ocpp_frames.format_timestamp(ocpp_frames.now() - timedelta(minutes=16))
    storage.claim_job(gone["jobId"], 1, {"startedAt": long_ago, "stepStartedAt": long_ago})
    shown = json.loads(api.http.get(f"/exports/jobs/{gone['jobId']}").body)
    assert shown["status"] == "failed" and "stopped without finishing" in shown["error"]


def test_the_range_ends_are_exact_to_the_millisecond(api):  # noqa: F811
    _load_completed(3)
    first_stop = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)

    def stops(start: datetime, end: datetime) -> list[str]:
        response = export(api, ocpp_frames.format_timestamp(start), ocpp_frames.format_timestamp(end))
        return [r["stopTime"] for r in rows(response)]

    millisecond = timedelta(milliseconds=1)
    assert stops(first_stop - millisecond, first_stop) == []
    assert stops(first_stop, first_stop + millisecond) == [ocpp_frames.format_timestamp(first_stop)]


def test_a_sessions_table_kept_from_before_the_export_gets_its_index(client):
    """Local data (.local/dynamodb) outlives a release: starting again adds the index the export reads."""
    name = settings.get().sessions_table
    dynamodb = storage.client()
    dynamodb.update_table(TableName=name, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "completed-index"}}])
    assert storage.ensure_tables() == []
    indexes = dynamodb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]
    assert "completed-index" in {index["IndexName"] for index in indexes}
    assert export(client, "2026-01-01", "2026-01-02").status_code == 200


def test_the_range_and_the_pages_are_exact_on_dynamodb_local_too(backend):
    """BETWEEN on the index's sort key and the next page's key as DynamoDB itself applies them."""
    _load_completed(30)  # stopped at 01:00:00 + 37 s × n
    first_stop = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    stop_times = [ocpp_frames.format_timestamp(first_stop + timedelta(seconds=37 * n)) for n in range(30)]
    # From the 2nd stop on, the last one excluded: 28 sessions in pages of 7 (a full last page).
    period = exports.TimeRange(first_stop + timedelta(seconds=37), first_stop + timedelta(seconds=37 * 29))
    exported = list(csv.DictReader(exports.lines(period, page_size=7)))
    assert [r["stopTime"] for r in exported] == stop_times[1:29]
    # An export's next step reads on after a session's index key (exclusive), from a key it built itself.
    tenth = (exported[9]["stopTime"], exported[9]["sessionId"])
    resumed = [key for key, _ in exports._keyed_lines(period, 7, header=False, after=tenth)]
    assert [stop for stop, _ in resumed] == stop_times[11:29]
