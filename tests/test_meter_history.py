"""Meter history: every reading kept with its session (on moto and on DynamoDB Local), paged in time
order through the API, a redelivery adding nothing and a late reading sorted into place; kept for
METER_HISTORY_RETENTION_DAYS after its reading's time (a TTL on every item written), none shown past it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from chalicelib import meter_history, ocpp_frames, rest, settings, storage
from tests.ocpp_builders import boot, full_reading, send, start, stop, ts
from tests.support import T0


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The central system's clock at the readings' time (T0), not the machine's: readings are kept for the
    retention after their own time, which the machine's clock passes a year or so after T0."""
    monkeypatch.setattr(ocpp_frames, "now", lambda: T0 + timedelta(hours=1))


def send_reading(tx: int, wh: int, seconds: float, uid: str | None = None) -> list:
    payload = {"connectorId": 1, "transactionId": tx, "meterValue": [full_reading(wh, seconds)]}
    return send("CP-1", "MeterValues", payload, T0 + timedelta(seconds=seconds), uid)


def all_pages(session_id: str, limit: int) -> list[list[dict]]:
    pages, token = [], None
    while True:
        params = {"limit": str(limit), **({"nextToken": token} if token else {})}
        page = rest.session_meter_values(session_id, params)
        pages.append(page["meterValues"])
        token = page["nextToken"]
        if token is None:
            return pages


def test_every_reading_is_kept_once_in_time_order_and_adds_up_to_the_session(backend):
    boot()
    tx = start(meter=1000, at=10)
    session_id = storage.list_sessions(1, None).items[0]["sessionId"]
    times = [60 * n for n in range(1, 8)]
    for n, seconds in enumerate(times):
        if n == 3:
            continue  # arrives late, below
        answer = send_reading(tx, 1000 + 500 * n, seconds, uid=f"mv-{n}")
        if n == 2:
            assert send_reading(tx, 1000 + 500 * n, seconds, uid=f"mv-{n}") == answer  # the same frame again
            send_reading(tx, 1000 + 500 * n, seconds)  # the same reading, resent with a new uniqueId
    send_reading(tx, 2500, times[3])  # late: older than the latest applied
    data = [full_reading(5000, 450), full_reading(5100, 470)]
    stop("CP-1", tx, 5100, at=480, transactionData=data)

    pages = all_pages(session_id, limit=3)
    readings = [reading for page in pages for reading in page]
    assert [len(page) for page in pages[:-1]] == [3] * (len(pages) - 1)
    stamps = [reading["timestamp"] for reading in readings]
    assert stamps == sorted(stamps) == [ts(s) for s in [*times, 450, 470]], "each once, in time order"
    assert all(reading["sampledValue"] == _filled(reading) for reading in readings), "every value, every field"
    registers = [int(r["sampledValue"][0]["value"]) for r in readings]
    deltas = [b - a for a, b in zip([1000, *registers], registers, strict=False)]
    session = rest.get_session(session_id)
    assert sum(deltas) == round(session["currentEnergy"] * 1000) == 4100


def _filled(reading: dict) -> list[dict]:
    """What the API must show for a full reading: every value as sent, phase null where none was given."""
    sent = full_reading(int(reading["sampledValue"][0]["value"]), 0)["sampledValue"]
    return [{"phase": None, **value} for value in sent]


def test_an_unknown_session_another_sessions_token_and_a_bad_limit_are_refused(client):
    boot()
    boot("CP-2")
    tx = start(at=10)
    start("CP-2", at=20)
    other, session_id = (item["sessionId"] for item in storage.list_sessions(2, None).items)
    send_reading(tx, 1500, 60)
    send_reading(tx, 1600, 120)
    token = rest.session_meter_values(session_id, {"limit": "1"})["nextToken"]
    assert client.http.get("/sessions/no-such-session/meterValues").status_code == 404
    assert client.http.get(f"/sessions/{other}/meterValues?nextToken={token}").status_code == 400
    assert client.http.get(f"/sessions/{session_id}/meterValues?limit=0").status_code == 400
    page = json.loads(client.http.get(f"/sessions/{session_id}/meterValues?nextToken={token}&limit=1").body)
    assert [reading["timestamp"] for reading in page["meterValues"]] == [ts(120)]


def test_a_reading_stored_twice_by_an_interrupted_or_concurrent_flush_shows_once():
    """A flush that stopped between its chunk and the buffer's removal, an overlapping chunk from a
    concurrent flush, and a late row of an applied reading: each reading is shown once, as it was sent."""
    readings = [full_reading(1000 + n, 60 * n) for n in range(1, 5)]
    rows, _ = meter_history.rows("s-1", readings, T0 + timedelta(hours=1), 300)
    buffer = meter_history.buffered(rows)
    names = sorted(name for name in buffer if name.startswith(meter_history.READING))
    shapes = {name.removeprefix(meter_history.SHAPE): code for name, code in buffer.items() if name not in names}
    first = {"sampleKey": "a#chunk-1", "readings": {name: buffer[name] for name in names[:3]}, "shapes": shapes}
    overlapping = {"sampleKey": "b#chunk-2", "readings": {name: buffer[name] for name in names[1:]}, "shapes": shapes}
    session = {"sessionId": "s-1", **buffer}
    merged = meter_history.readings(session, [first, overlapping, rows[0]], T0 + timedelta(hours=1))
    assert merged == [{k: v for k, v in row.items() if k != storage.HISTORY_EXPIRES_AT} for row in rows]
    assert [meter_history.view(row) for row in merged] == [meter_history.view(row) for row in rows]


def retention(monkeypatch, days: int) -> None:
    monkeypatch.setenv("METER_HISTORY_RETENTION_DAYS", str(days))
    settings.get.cache_clear()


def newest_reading(item: dict) -> datetime:
    """The time of an item's newest reading: a row's own, a chunk's latest."""
    rows = meter_history.readings({"sessionId": item["sessionId"]}, [item], T0) if "readings" in item else [item]
    return max(ocpp_frames.parse_timestamp(row["timestamp"]) for row in rows)


def test_every_history_item_written_expires_after_its_newest_readings_time(aws, monkeypatch):
    """Chunks (a full buffer flushed), a late row uploaded two days on, and the stop's transactionData:
    each carries expiresAt = its newest reading + the retention, not its write time; a reading already
    past it (a clock years behind) expires when written."""
    retention(monkeypatch, 30)
    written = T0 + timedelta(days=2)
    monkeypatch.setattr(ocpp_frames, "now", lambda: written)
    boot()
    tx = start(at=10)
    for n in range(1, 8):  # 9-value readings: the 6th flushes a chunk of 6
        send_reading(tx, 1000 + 100 * n, 60 * n)
    late = [full_reading(1050, 90), full_reading(1010, -5 * 365 * 86400)]  # older than the latest applied
    send("CP-1", "MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": late}, written)
    stop("CP-1", tx, 1900, at=600, transactionData=[full_reading(1850, 590)])

    session_id = storage.list_sessions(1, None).items[0]["sessionId"]
    items = storage.history_items(session_id)
    kinds = sorted("chunk" if "readings" in item else item["timestamp"] for item in items)
    assert kinds == [ts(-5 * 365 * 86400), ts(90), ts(590), "chunk"], "a chunk, 2 late rows, the stop's row"
    for item in items:
        expected = max(newest_reading(item) + timedelta(days=30), written)
        assert item[storage.HISTORY_EXPIRES_AT] == int(expected.timestamp()), item["sampleKey"]
    [chunk] = [item for item in items if "readings" in item]
    assert newest_reading(chunk) == T0 + timedelta(seconds=360)


def test_readings_past_their_retention_are_not_shown_before_dynamodb_deletes_them(aws, monkeypatch):
    retention(monkeypatch, 1)
    monkeypatch.setattr(ocpp_frames, "now", lambda: T0 + timedelta(seconds=480))  # written as read
    boot()
    tx = start(at=10)
    for n in range(1, 9):  # a chunk of readings 1-6, readings 7 and 8 still buffered on the session
        send_reading(tx, 1000 + 100 * n, 60 * n)
    session_id = storage.list_sessions(1, None).items[0]["sessionId"]

    def shown(at: datetime) -> list[str]:
        monkeypatch.setattr(ocpp_frames, "now", lambda: at)
        return [reading["timestamp"] for page in all_pages(session_id, 100) for reading in page]

    day = timedelta(days=1)
    assert shown(T0 + day) == [ts(60 * n) for n in range(1, 9)]
    assert shown(T0 + day + timedelta(seconds=360)) == [ts(420), ts(480)], "the chunk's newest is 1 day old"
    assert shown(T0 + day + timedelta(seconds=480)) == [], "so is the buffer's"
    assert len(storage.history_items(session_id)) == 1, "still stored: DynamoDB's TTL deletes it later"


def test_a_retention_of_0_keeps_meter_history_forever(aws, monkeypatch):
    retention(monkeypatch, 0)
    boot()
    tx = start(at=10)
    for n in range(1, 8):
        send_reading(tx, 1000 + 100 * n, 60 * n)
    stop("CP-1", tx, 1900, at=600, transactionData=[full_reading(1850, 590)])
    session_id = storage.list_sessions(1, None).items[0]["sessionId"]
    assert not any(storage.HISTORY_EXPIRES_AT in item for item in storage.history_items(session_id))
    monkeypatch.setattr(ocpp_frames, "now", lambda: T0 + timedelta(days=3650))
    shown = [reading["timestamp"] for page in all_pages(session_id, 100) for reading in page]
    assert shown == [ts(60 * n) for n in range(1, 8)] + [ts(590)]


@pytest.mark.parametrize("raw", ["-1", "3651", "400.5", "a year"])
def test_a_retention_outside_0_to_3650_days_stops_the_app_at_start(raw):
    with pytest.raises(settings.SettingsError, match="METER_HISTORY_RETENTION_DAYS"):
        settings.load({"METER_HISTORY_RETENTION_DAYS": raw})
