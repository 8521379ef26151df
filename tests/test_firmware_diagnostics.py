"""Firmware Management: UpdateFirmware and the charger's status sequences kept on the charge point, and
diagnostics uploads: the location the system provides, this app's upload route (local mode) and the
pre-signed S3 URL (moto), and the listing of a charger's files."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib import commands, diagnostics, firmware, ocpp_frames, settings, storage
from chalicelib.storage import files
from tests.ocpp_builders import boot, post_command, send
from tests.support import T0


def online(cp: str) -> None:
    boot(cp, T0)
    assert storage.set_online(cp, True, ocpp_frames.format_timestamp(T0), "conn-1", "gw-elsewhere")


def charge_point(client, cp: str) -> dict:
    return json.loads(client.http.get(f"/chargepoints/{cp}").body)


def test_update_firmware_and_the_status_sequence_are_kept_the_history_bounded(client):
    online("CP-F1")
    payload = {"location": "https://firmware.example/v2.bin", "retrieveDate": "2026-11-24T13:00:00Z"}
    status, queued = post_command(client, "CP-F1", {"action": "UpdateFirmware", "payload": payload})
    assert status == 200
    assert commands.record_answer("CP-F1", queued["commandId"], [3, queued["commandId"], {}]) == "answered"
    update = charge_point(client, "CP-F1")["firmwareUpdate"]
    assert update == {**payload, "requestedAt": update["requestedAt"], "commandId": queued["commandId"]}

    sequence = ["Downloading", "Downloaded", "Installing", "Installed"] * 3
    for n, value in enumerate(sequence, start=1):
        send("CP-F1", "FirmwareStatusNotification", {"status": value}, T0 + timedelta(seconds=n))
    # One heard late (sent before the last one) joins the history in its place and is not the current status.
    send("CP-F1", "FirmwareStatusNotification", {"status": "InstallationFailed"}, T0 + timedelta(seconds=11.5))
    view = charge_point(client, "CP-F1")
    history = view["firmwareHistory"]
    assert len(history) == firmware.HISTORY and view["firmwareStatus"] == "Installed"
    assert [entry["status"] for entry in history[-3:]] == ["Installing", "InstallationFailed", "Installed"]
    assert [entry["at"] for entry in history] == sorted(entry["at"] for entry in history)

    for n, value in enumerate(["Uploading", "Uploaded"], start=20):
        send("CP-F1", "DiagnosticsStatusNotification", {"status": value}, T0 + timedelta(seconds=n))
    view = charge_point(client, "CP-F1")
    assert [entry["status"] for entry in view["diagnosticsHistory"]] == ["Uploading", "Uploaded"]
    assert view["diagnosticsStatus"] == "Uploaded"


def upload(client, url: str, body: bytes, method: str = "put") -> tuple[int, dict]:
    where = urlsplit(url)
    path = where.path + (f"?{where.query}" if where.query else "")
    response = getattr(client.http, method)(path, body=body, headers={"Content-Type": "application/octet-stream"})
    return response.status_code, json.loads(response.body)


def test_a_charger_uploads_to_the_location_it_was_given_and_the_file_is_listed(client, local_files):
    online("CP-D1")
    response = client.http.get("/chargepoints/CP-D1/diagnostics/location", headers={"Host": "cs.example:8000"})
    assert response.status_code == 200
    given = json.loads(response.body)
    assert given["location"].startswith("http://cs.example:8000/diagnostics/CP-D1/")
    ocpp_frames.validate(ocpp_frames.CALL, "GetDiagnostics", {"location": given["location"]})

    status, kept = upload(client, given["location"], b"\x00\x01log lines\xff")
    assert status == 200 and kept["fileName"] == given["fileName"] and kept["size"] == 12
    assert (local_files / "diagnostics" / "CP-D1" / given["fileName"]).read_bytes() == b"\x00\x01log lines\xff"
    status, again = upload(client, given["location"], b"second", method="post")  # POST, same file: replaced
    assert status == 200 and again["size"] == 6
    listed = json.loads(client.http.get("/chargepoints/CP-D1/diagnostics").body)
    assert [(f["fileName"], f["size"]) for f in listed["files"]] == [(given["fileName"], 6)]
    assert client.http.get("/chargepoints/CP-NOBODY/diagnostics").status_code == 404


def test_an_upload_needs_its_token_stays_in_bounds_and_in_its_directory(client, local_files):
    online("CP-D2")
    given = json.loads(client.http.get("/chargepoints/CP-D2/diagnostics/location").body)
    path = urlsplit(given["location"]).path
    token = parse_qs(urlsplit(given["location"]).query)["token"][0]
    assert upload(client, path, b"x")[0] == 403  # no token
    assert upload(client, f"{path}?token=1.{token.split('.')[1]}", b"x")[0] == 403  # expired
    assert upload(client, f"/diagnostics/CP-D2/other.log?token={token}", b"x")[0] == 403  # another file
    assert upload(client, f"/diagnostics/CP-OTHER/{given['fileName']}?token={token}", b"x")[0] == 403
    status, error = upload(client, given["location"], b"x" * 2049)
    assert status == 413 and "2048 bytes" in error["Message"]
    for name in ("..", ".hidden", "a%2F..%2F..%2Fetc", "a b"):
        signed = diagnostics.upload_token("CP-D2", name, 2**40)
        assert upload(client, f"/diagnostics/CP-D2/{name}?token={signed}", b"x")[0] in (400, 404), name
    assert list(local_files.rglob("*")) == []  # nothing was written


@pytest.fixture
def bucket(aws, monkeypatch):
    """A stage with its diagnostics bucket (moto's S3): the client S3 uploads are listed with."""
    monkeypatch.setenv("DIAGNOSTICS_BUCKET", "ev-test-diagnostics")
    settings.get.cache_clear()
    settings.get()
    files.reset_client()
    s3 = files._s3()
    s3.create_bucket(Bucket="ev-test-diagnostics")
    yield s3
    files.reset_client()


def test_in_the_cloud_the_location_is_a_presigned_put_to_the_bucket_and_the_bucket_is_listed(client, bucket):
    s3 = bucket
    online("CP-D3")
    given = json.loads(client.http.get("/chargepoints/CP-D3/diagnostics/location").body)
    where = urlsplit(given["location"])
    key = f"diagnostics/CP-D3/{given['fileName']}"
    assert where.scheme == "https" and "ev-test-diagnostics" in where.netloc + where.path
    assert where.path.endswith("/" + key)
    query = parse_qs(where.query)
    assert query["X-Amz-Expires"] == [str(files.URL_SECONDS)] and "X-Amz-Signature" in query
    s3.put_object(Bucket="ev-test-diagnostics", Key=key, Body=b"diagnostics")
    s3.put_object(Bucket="ev-test-diagnostics", Key="diagnostics/CP-OTHER/theirs.log", Body=b"not ours")
    listed = json.loads(client.http.get("/chargepoints/CP-D3/diagnostics").body)["files"]
    assert [(f["fileName"], f["size"]) for f in listed] == [(given["fileName"], 11)]
    # This stage's uploads go to the bucket, never to the app.
    token = diagnostics.upload_token("CP-D3", "x.log", 2**40)
    assert upload(client, f"/diagnostics/CP-D3/x.log?token={token}", b"x")[0] == 400
