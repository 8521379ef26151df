"""Sites over the REST API and the site loop against raw OCPP frames: a charger on at most one site, the safe
default at once, TxProfiles as sessions start, read and stop, and a busy charger's share sent later."""

from __future__ import annotations

import json

import pytest

from chalicelib import commands, site_loop, storage
from tests.ocpp_builders import boot, meter, registered, send, start, stop


def put_site(client, site_id: str, body: object) -> tuple[int, dict]:
    response = client.http.put(f"/sites/{site_id}", headers={"Content-Type": "application/json"}, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def get(client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def site(limit_kw: float, *chargers: str, name: str = "Depot") -> dict:
    return {"name": name, "maxPowerKw": limit_kw, "chargePointIds": list(chargers)}


def outstanding(cp: str) -> dict | None:
    """The charger's command outstanding, answered Accepted (as the charger would): what it was sent."""
    slot = storage.get_charge_point(cp, consistent=True).get("pendingCommand")
    if slot is None:
        return None
    command = storage.get_command(cp, slot["commandId"])
    commands.record_answer(cp, command["commandId"], [3, command["commandId"], {"status": "Accepted"}])
    return command["payload"]


def limit_of(payload: dict | None) -> tuple[str, int, float] | None:
    if payload is None:
        return None
    profile = payload["csChargingProfiles"]
    limit = profile["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
    return profile["chargingProfilePurpose"], payload["connectorId"], float(limit)


@pytest.mark.parametrize(
    ("site_id", "body", "message"),
    [
        ("bad id!", site(10), "siteId must be"),
        ("S1", ["not", "an object"], "body must be a JSON object"),
        ("S1", {"name": "x", "maxPowerKw": 10}, "body must be a JSON object"),
        ("S1", site(10, name=""), "name must be"),
        ("S1", site(0), "maxPowerKw must be"),
        ("S1", site(True), "maxPowerKw must be"),
        ("S1", site(10**6), "maxPowerKw must be"),
        ("S1", site(5e-324), "maxPowerKw must be"),  # a 500 once (found by schemathesis): no watt to share
        ("S1", {**site(10), "chargePointIds": "CP-1"}, "chargePointIds must be a list"),
        ("S1", site(10, "CP 1"), "each of chargePointIds"),
        ("S1", site(10, "CP-1", "CP-1"), "lists a charger twice"),
        ("S1", site(10, "CP-NEVER-BOOTED"), "unknown charge point 'CP-NEVER-BOOTED'"),
    ],
)
def test_a_bad_site_is_refused_with_a_clear_400(client, site_id, body, message):
    status, answer = put_site(client, site_id, body)
    assert status == 400 and message in answer["Message"], answer


def test_a_charger_is_on_at_most_one_site_and_the_sites_are_listed(client):
    for cp in ("CP-1", "CP-2"):
        registered(client, cp, online=False)
    assert put_site(client, "north", site(40, "CP-1"))[0] == 200
    status, answer = put_site(client, "south", site(40, "CP-2", "CP-1"))
    assert status == 409 and "CP-1 is on site 'north'" in answer["Message"]
    assert get(client, "/sites/south")[0] == 404  # nothing of a refused site is kept
    assert put_site(client, "north", site(40, "CP-2", name="North"))[0] == 200  # lets go of CP-1
    assert put_site(client, "south", site(25.5, "CP-1"))[0] == 200
    assert storage.site_of("CP-1") == "south" and storage.site_of("CP-2") == "north"
    status, listed = get(client, "/sites?limit=10")
    assert status == 200 and listed["nextToken"] is None
    assert {(s["siteId"], s["name"], s["maxPowerKw"], tuple(s["chargePointIds"])) for s in listed["sites"]} == {
        ("north", "North", 40, ("CP-2",)),
        ("south", "Depot", 25.5, ("CP-1",)),
    }
    assert get(client, "/sites/nowhere") == (404, {"Code": "NotFoundError", "Message": "no site 'nowhere'"})


def test_the_loop_keeps_a_site_within_its_limit_with_txprofiles(client):
    """20 kW over two chargers (one connector known each): a 10 kW safe default each at once; a session's
    TxProfile once it reads; a second session halves the first; a car that draws less leaves the rest to
    the other; a busy charger gets the latest share at its next reading; a stop gives all to the other."""
    for cp in ("CP-A", "CP-B"):
        registered(client, cp)
        send(cp, "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available"})
    status, view = put_site(client, "depot", site(20, "CP-A", "CP-B"))
    assert status == 200 and view["currentPowerKw"] == 0 and view["allocation"] == []
    assert limit_of(outstanding("CP-A")) == limit_of(outstanding("CP-B")) == ("TxDefaultProfile", 0, 10000)

    tx_a = start("CP-A", at=10)
    assert outstanding("CP-A") is None, "no TxProfile before the charger has read in its transaction"
    meter("CP-A", tx_a, 1100, at=70, power_w=19000)
    assert limit_of(outstanding("CP-A")) == ("TxProfile", 1, 20000)

    tx_b = start("CP-B", at=100)
    assert limit_of(outstanding("CP-A")) == ("TxProfile", 1, 10000), "the first session's share goes down at once"
    meter("CP-B", tx_b, 1100, at=160, power_w=9500)
    assert limit_of(outstanding("CP-B")) == ("TxProfile", 1, 10000)

    commands.queue("CP-B", "ClearCache", {})  # B is busy with a command of the operator's
    meter("CP-A", tx_a, 1300, at=170, power_w=3000)  # the car on A takes 3 kW of its 10
    assert limit_of(outstanding("CP-A")) == ("TxProfile", 1, 4000)
    _, view = get(client, "/sites/depot")
    b_share = next(entry for entry in view["allocation"] if entry["chargePointId"] == "CP-B")
    assert (b_share["allocationKw"], b_share["sentKw"]) == (16, 10)
    assert view["currentPowerKw"] == 12.5 and view["allocatedKw"] == 20
    assert outstanding("CP-B") == {}  # ClearCache answered: B's slot is free again
    meter("CP-B", tx_b, 1900, at=250, power_w=9800)
    assert limit_of(outstanding("CP-B")) == ("TxProfile", 1, 16000), "the latest share, once B is free"

    stop("CP-B", tx_b, 2500, at=300)
    meter("CP-A", tx_a, 1500, at=310, power_w=3900)  # A draws close to its cap: it may want more
    assert limit_of(outstanding("CP-A")) == ("TxProfile", 1, 20000)
    _, view = get(client, "/sites/depot")
    assert [(s["chargePointId"], s["allocationKw"]) for s in view["activeSessions"]] == [("CP-A", 20)]


def test_a_charger_on_no_site_costs_the_loop_nothing(aws):
    boot("CP-1")
    with storage.counting_requests() as counted:
        tx = start("CP-1", at=10)
    assert counted == {"GetItem": 2, "TransactWriteItems": 1}  # the charge point and the idTag, as without sites
    with storage.counting_requests() as counted:
        meter("CP-1", tx, 1500, at=70, power_w=7000)
    assert counted == {"UpdateItem": 1}  # the session, as without sites
    assert site_loop.default_limit_w({"maxPowerKw": 50, "connectors": 3}) == 16666
