"""MeterValues delivered more than once, and MeterValues from a charger a later boot left unaccepted, as
raw OCPP-J frames on POST /ocpp/{id}: a message's counts (anomalies, signed values) are made once however
often and however late it comes, and a charger that is not Accepted meters nothing until it is again."""

from __future__ import annotations

import pytest

from chalicelib import charging_rules, meter_history, ocpp_frames, settings, storage
from tests.test_real_chargers import Charger, api, energy, power, when

SIGNED = {"value": "OCMF|{}|{}", "format": "SignedData", "measurand": "Energy.Active.Import.Register"}
BAD = {"value": "twelve", "measurand": "SoC", "unit": "Percent"}  # notANumber: left out, counted


def frame(uid: str, tx: int, at: float, samples: list[dict]) -> list:
    """A MeterValues CALL built once, so that sending it again is the same message."""
    payload = {"connectorId": 1, "transactionId": tx, "meterValue": [{"timestamp": when(at), "sampledValue": samples}]}
    return [2, uid, "MeterValues", payload]


def requests(cp: Charger, sent: list) -> dict:
    with storage.counting_requests() as counted:
        answer = cp.raw(sent)
    assert answer == [ocpp_frames.CALLRESULT, sent[1], {}], answer
    return dict(counted)


@pytest.mark.parametrize("kept", ["buffered", "chunked"])
def test_a_message_redelivered_after_newer_readings_counts_its_anomaly_and_signed_value_once(client, monkeypatch, kept):
    if kept == "chunked":  # every applied reading moves to a chunk item at once: the late path reads chunks
        monkeypatch.setattr(meter_history, "ITEM_BUDGET", 0)
    cp = Charger("http", "CP-AGAIN", client, None)
    cp.boot()
    tx = cp.start(at=-60)
    applied = frame("m-applied", tx, -40, [energy("1500"), BAD, SIGNED])
    late = frame("m-late", tx, -30, [energy("1800"), BAD])
    newer = frame("m-newer", tx, -20, [energy("2000"), power("7000")])
    times = [late[3]["meterValue"][0]["timestamp"], newer[3]["meterValue"][0]["timestamp"]]
    cp.raw(applied)
    cp.raw(newer)
    # The applied one again (EventBridge at least once; a charger resending after a lost answer).
    again = {"UpdateItem": 1, "BatchGetItem": 1, "BatchWriteItem": 1, "TransactWriteItems": 1}
    assert requests(cp, applied) == (again if kept == "buffered" else {**again, "Query": 1})
    assert requests(cp, applied) == (again if kept == "buffered" else {**again, "Query": 1})
    # A late one, never applied: counted at its first delivery only.
    assert requests(cp, late) == {"UpdateItem": 2, "BatchGetItem": 1, "Query": 1, "BatchWriteItem": 1}
    assert requests(cp, late) == {"UpdateItem": 1, "BatchGetItem": 1, "BatchWriteItem": 1}
    # A charger whose clock is unusable: its reading is timed on receipt, so its resend would be newer.
    stuck = frame("m-stuck", tx, 0, [energy("2100")])
    stuck[3]["meterValue"][0]["timestamp"] = "1970-01-01T00:00:00Z"
    cp.raw(stuck)
    assert requests(cp, stuck) == {"UpdateItem": 1, "BatchGetItem": 1}, "a repeat, not a new reading"
    cp.stop(tx, 2500)
    cp.raw(late)
    cp.raw(applied)
    session = api(client, f"/sessions/{charging_rules.session_id(cp.cp_id, tx)}")
    counts = {"notANumber": 2, "clockUnusable": 1}
    assert session["anomalies"]["counts"] == counts, "one for each message, however often it came"
    assert session["signedMeterValues"] == 1 and session["currentEnergy"] == 1.5
    readings = api(client, f"/sessions/{session['sessionId']}/meterValues")["meterValues"]
    assert [r["timestamp"] for r in readings][:3] == [applied[3]["meterValue"][0]["timestamp"], *times]
    assert len(readings) == 4, "each reading once"


def test_a_charger_booted_pending_meters_nothing_until_accepted_again(client, monkeypatch):
    cp = Charger("http", "CP-REBOOT", client, None)
    cp.boot()
    tx = cp.start(at=-60)
    cp.meter(tx, [energy("1500")], at=-50)
    session_id = charging_rules.session_id(cp.cp_id, tx)

    def registration(status: str) -> None:
        monkeypatch.setenv("BOOT_POLICY", "allow-list" if status != "Accepted" else "accept-all")
        monkeypatch.setenv("BOOT_UNKNOWN_STATUS", "Rejected" if status == "Rejected" else "Pending")
        settings.get.cache_clear()
        settings.get()  # read now: during a test-client request the environment is the stage's
        with storage.counting_requests() as counted:
            assert cp.boot()["status"] == status
        marking = {"GetItem": 1, "UpdateItem": 2} if status != "Accepted" else {"UpdateItem": 1}
        assert counted == (marking if status == "Rejected" else {"TransactWriteItems": 1, **marking})

    for refusal, wh in (("Pending", 2000), ("Rejected", 2500)):
        registration(refusal)
        before = [storage.get_session(session_id, True), storage.get_charge_point(cp.cp_id, True)]
        history = storage.history_items(session_id)
        with storage.counting_requests() as counted:
            answer = cp.meter(tx, [energy(str(wh))], at=-45 + wh // 100)
        assert answer[0] == ocpp_frames.CALLERROR and answer[2] == "SecurityError" and refusal in answer[3], answer
        assert counted == {"UpdateItem": 2, "BatchGetItem": 1}, "refused, explained, the rejection counted"
        assert [storage.get_session(session_id, True), storage.get_charge_point(cp.cp_id, True)] == before
        assert storage.history_items(session_id) == history, "nor its history"
        registration("Accepted")
        with storage.counting_requests() as counted:
            cp.meter(tx, [energy(str(wh))], at=-44 + wh // 100)
        assert counted == {"UpdateItem": 3, "BatchGetItem": 1}, "the first reading clears the mark, once"
        with storage.counting_requests() as counted:
            cp.meter(tx, [energy(str(wh + 100))], at=-43 + wh // 100)
        assert counted == {"UpdateItem": 1}
    view = api(client, f"/sessions/{session_id}")
    assert view["status"] == "Active" and view["currentEnergy"] == 1.6
    assert storage.NOT_ACCEPTED_MARK not in storage.get_session(session_id, consistent=True)
