"""MeterValues from a charger a later boot left unaccepted, as raw OCPP-J frames on POST /ocpp/{id}: a
charger that is not Accepted meters nothing until it is again."""

from __future__ import annotations

from chalicelib import charging_rules, ocpp_frames, settings, storage
from tests.test_real_chargers import Charger, api, energy


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
