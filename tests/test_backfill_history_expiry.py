"""scripts/backfill_history_expiry.py, on moto and on DynamoDB Local: history written before there was a
retention gets expiresAt from its newest reading (a chunk, late rows, a stop's row, a row years old), an item
that has one keeps it, a dry run and a rerun write nothing, and a writer's concurrent value or deletion wins."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from chalicelib import ocpp_frames, settings, storage
from deploy import templates
from scripts import backfill_history_expiry as backfill
from tests.ocpp_builders import boot, full_reading, send, start, stop, ts
from tests.support import T0

EXPIRES_AT = storage.HISTORY_EXPIRES_AT
BACKFILLED = T0 + timedelta(days=30)
YEARS_BEFORE = -5 * 365 * 86400  # a reading from a clock years behind: past 400 days when backfilled
WRITERS_VALUE = 1_900_000_000  # an expiresAt no backfill computes here


def retention(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    monkeypatch.setenv("METER_HISTORY_RETENTION_DAYS", str(days))
    settings.get.cache_clear()


def written_before_the_retention(monkeypatch: pytest.MonkeyPatch) -> str:
    """A session's history as the writer left it with no retention: a chunk of readings 1-6 (a minute
    apart), two late rows (one years old) and the stop's transactionData; then an item with no reading
    time, and a late row written since with its expiresAt. The retention is 400 days from then on."""
    retention(monkeypatch, 0)
    monkeypatch.setattr(ocpp_frames, "now", lambda: T0 + timedelta(hours=1))
    boot()
    tx = start(at=10)
    for n in range(1, 8):  # 9-value readings: the 6th flushes a chunk of 6
        reading = {"connectorId": 1, "transactionId": tx, "meterValue": [full_reading(1000 + 100 * n, 60 * n)]}
        send("CP-1", "MeterValues", reading, T0 + timedelta(seconds=60 * n))
    late = {
        "connectorId": 1,
        "transactionId": tx,
        "meterValue": [full_reading(1050, 90), full_reading(1010, YEARS_BEFORE)],
    }
    send("CP-1", "MeterValues", late, T0 + timedelta(seconds=480))
    stop("CP-1", tx, 1900, at=600, transactionData=[full_reading(1850, 590)])
    session_id = storage.list_sessions(1, None).items[0]["sessionId"]
    dated = {"sessionId": session_id, "sampleKey": f"{ts(100)}#0", "timestamp": ts(100), EXPIRES_AT: WRITERS_VALUE}
    storage.keep_history([{"sessionId": session_id, "sampleKey": "no-reading-time"}, dated])
    retention(monkeypatch, 400)
    monkeypatch.setattr(ocpp_frames, "now", lambda: BACKFILLED)
    return session_id


def expiries(session_id: str) -> dict[str, int | None]:
    """Each history item's expiresAt, by its reading time (a chunk: "chunk")."""
    return {
        "chunk" if "readings" in item else item.get("timestamp", item["sampleKey"]): item.get(EXPIRES_AT)
        for item in storage.history_items(session_id)
    }


def after_400_days(newest: datetime) -> int:
    return int((newest + timedelta(days=400)).timestamp())


def counted(outcome: backfill.Outcome) -> tuple:
    counts = outcome.counts
    return counts.scanned, counts.had, counts.set, counts.past, dict(counts.skipped), outcome.unfinished


def test_items_without_expiry_get_it_from_their_newest_reading_once_and_a_dry_run_writes_nothing(backend, monkeypatch):
    session_id = written_before_the_retention(monkeypatch)
    before = expiries(session_id)
    assert before == dict.fromkeys(["chunk", ts(90), ts(YEARS_BEFORE), ts(590), "no-reading-time"]) | {
        ts(100): WRITERS_VALUE
    }
    unset = (6, 1, 4, 1, {backfill.NO_TIME: 1}, [])  # items read, had it, set, of them past, skipped, unfinished

    dry = backfill.backfill([0, 1], 2, dry_run=True)
    assert counted(dry) == unset and dry.counts.write_units == 0
    assert expiries(session_id) == before, "a dry run writes nothing"

    done = backfill.backfill([0, 1], 2, dry_run=False, page_items=2)  # pages of 2 items
    assert counted(done) == unset
    assert expiries(session_id) == {
        "chunk": after_400_days(T0 + timedelta(seconds=360)),
        ts(90): after_400_days(T0 + timedelta(seconds=90)),
        ts(590): after_400_days(T0 + timedelta(seconds=590)),
        ts(YEARS_BEFORE): int(BACKFILLED.timestamp()),  # past its 400 days: expires at once
        ts(100): WRITERS_VALUE,
        "no-reading-time": None,
    }
    if backend == "dynamodb-local":  # moto reports no units for UpdateItem
        assert done.counts.write_units == 4, "1 write unit an item: each is under 1 KB"
        assert 0 < done.counts.read_units < 6

    again = backfill.backfill([0, 1], 2, dry_run=False)
    assert counted(again) == (6, 5, 0, 0, {backfill.NO_TIME: 1}, [])
    assert again.counts.write_units == 0, "a rerun writes nothing"


def test_a_writers_expiry_or_a_deletion_between_the_scan_and_the_write_wins(backend, monkeypatch):
    session_id = written_before_the_retention(monkeypatch)
    scan = storage.scan_without_expiry

    def scanned_then_changed(*args) -> storage.ExpiryScan:
        page = scan(*args)
        # the writer rewrites a redelivered reading with its expiry; TTL or an operator deletes another
        [row] = [item for item in page.items if item.get("timestamp") == ts(90)]
        storage.keep_history([{**row, EXPIRES_AT: WRITERS_VALUE}])
        [gone] = [item for item in page.items if item.get("timestamp") == ts(590)]
        key = {"sessionId": gone["sessionId"], "sampleKey": gone["sampleKey"]}
        storage.client().delete_item(TableName=settings.get().history_table, Key=storage.to_item(key))
        return page

    monkeypatch.setattr(storage, "scan_without_expiry", scanned_then_changed)
    outcome = backfill.backfill([0], 1, dry_run=False)
    skipped = {backfill.NO_TIME: 1, backfill.SKIPPED["had"]: 1, backfill.SKIPPED["gone"]: 1}
    assert counted(outcome) == (6, 1, 2, 1, skipped, [])
    found = expiries(session_id)
    assert found[ts(90)] == WRITERS_VALUE
    assert ts(590) not in found, "not written back"
    assert found["chunk"] == after_400_days(T0 + timedelta(seconds=360))


def test_the_command_backfills_the_stages_table_and_says_what_it_did_and_cost(aws, monkeypatch, capsys):
    for name, value in templates.stage_env("dev").items():
        monkeypatch.setenv(name, value)
    settings.get.cache_clear()
    storage.ensure_tables()
    monkeypatch.setattr(ocpp_frames, "now", lambda: BACKFILLED)
    storage.keep_history([{"sessionId": "s-1", "sampleKey": f"{ts(60)}#0", "timestamp": ts(60)}])

    assert backfill.main(["--stage", "dev", "--dry-run", "--segments", "2"]) == 0
    out = capsys.readouterr().out
    assert "ev-dev-meter-history in us-east-1: expiresAt = newest reading + 400 days" in out
    assert "1  expiresAt to be set (dry run: nothing written)" in out
    assert "read units (Scan)" in out and "write units (UpdateItem)" in out

    assert backfill.main(["--stage", "dev", "--segments", "2", "--segment", "1", "--segment", "0"]) == 0
    assert "1  expiresAt set" in capsys.readouterr().out
    assert storage.history_items("s-1")[0][EXPIRES_AT] == after_400_days(T0 + timedelta(seconds=60))

    assert backfill.main(["--stage", "dev", "--retention-days", "0"]) == 0
    assert "kept forever, so there is nothing to set" in capsys.readouterr().out
