"""Local authorization lists built from the idTag registry (moto): POST /chargepoints/{id}/localList queues a
SendLocalList (Full, or Differential since the charger's version), every payload checked against the
official 1.6 schema; the charger's answers (SendLocalList, GetLocalListVersion) track its version, shown by
GET /chargepoints/{id}/localList and GET /chargepoints/{id}; and the whole round over a real WebSocket."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from chalicelib import commands, ocpp_frames, settings
from tests.ocpp_builders import BOOT, get_command, get_json, registered
from tests.support import exchange, wait_for

JSON = {"Content-Type": "application/json"}


def put_tag(client, id_tag: str, body: dict) -> None:
    assert client.http.put(f"/idtags/{id_tag}", headers=JSON, body=json.dumps(body)).status_code == 200


def send_list(client, cp: str, update_type: str) -> tuple[int, dict]:
    response = client.http.post(
        f"/chargepoints/{cp}/localList", headers=JSON, body=json.dumps({"updateType": update_type})
    )
    return response.status_code, json.loads(response.body)


def queued_list(client, cp: str, update_type: str) -> tuple[str, dict]:
    """A SendLocalList queued by the route: its commandId and its payload, valid by the official schema."""
    status, queued = send_list(client, cp, update_type)
    assert status == 200, queued
    payload = get_command(client, cp, queued["commandId"])[1]["payload"]
    ocpp_frames.validate(ocpp_frames.CALL, "SendLocalList", payload)
    return queued["commandId"], payload


def answered(cp: str, command_id: str, result: dict) -> None:
    assert commands.record_answer(cp, command_id, [3, command_id, result]) == "answered"


def test_full_then_differential_lists_follow_the_registry_and_the_chargers_version(client):
    registered(client, "CP-LL")
    put_tag(client, "Alice", {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00Z"})
    put_tag(client, "BOB", {"status": "Blocked", "parentIdTag": "FLEET"})
    status, error = send_list(client, "CP-LL", "Differential")
    assert status == 409 and "the charger's list version is not known: send a Full update" in error["Message"]

    command_id, payload = queued_list(client, "CP-LL", "Full")
    assert payload == {
        "listVersion": 2,
        "updateType": "Full",
        "localAuthorizationList": [
            {"idTag": "Alice", "idTagInfo": {"status": "Accepted", "expiryDate": "2030-01-01T00:00:00.000Z"}},
            {"idTag": "BOB", "idTagInfo": {"status": "Blocked", "parentIdTag": "FLEET"}},
        ],
    }
    assert get_json(client, "/chargepoints/CP-LL/localList")[1] == {
        "chargePointId": "CP-LL",
        "registryVersion": 2,
        "chargerVersion": None,
        "sentVersion": 2,
        "status": "Sent",
        "updatedAt": get_json(client, "/chargepoints/CP-LL/localList")[1]["updatedAt"],
        "inSync": False,
    }
    answered("CP-LL", command_id, {"status": "Accepted"})
    view = get_json(client, "/chargepoints/CP-LL")[1]["localList"]
    assert (view["chargerVersion"], view["sentVersion"], view["status"]) == (2, 2, "Accepted")
    assert get_json(client, "/chargepoints/CP-LL/localList")[1]["inSync"] is True

    put_tag(client, "carol", {"status": "Accepted"})
    assert client.http.delete("/idtags/alice").status_code == 200
    put_tag(client, "BOB", {"status": "Accepted"})
    assert get_json(client, "/chargepoints/CP-LL/localList")[1]["inSync"] is False
    command_id, payload = queued_list(client, "CP-LL", "Differential")
    assert payload == {
        "listVersion": 5,
        "updateType": "Differential",
        "localAuthorizationList": [
            {"idTag": "Alice"},  # no idTagInfo: removed from the charger's list
            {"idTag": "BOB", "idTagInfo": {"status": "Accepted"}},
            {"idTag": "carol", "idTagInfo": {"status": "Accepted"}},
        ],
    }
    answered("CP-LL", command_id, {"status": "VersionMismatch"})
    state = get_json(client, "/chargepoints/CP-LL/localList")[1]
    assert (state["chargerVersion"], state["status"], state["inSync"]) == (None, "VersionMismatch", False)

    asked = commands.queue("CP-LL", "GetLocalListVersion", {})
    answered("CP-LL", asked["commandId"], {"listVersion": 5})
    assert get_json(client, "/chargepoints/CP-LL/localList")[1]["inSync"] is True
    status, error = send_list(client, "CP-LL", "Differential")
    assert status == 409 and error["Message"] == "the charger holds version 5: nothing changed since"


def test_a_list_beyond_the_maximum_a_bad_body_and_an_unknown_charger_are_refused(client, monkeypatch):
    monkeypatch.setenv("LOCAL_LIST_MAX_LENGTH", "2")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    registered(client, "CP-LM")
    for tag in ("T1", "T2", "T3"):
        put_tag(client, tag, {"status": "Accepted"})
    status, error = send_list(client, "CP-LM", "Full")
    assert status == 409 and "the registry holds more than 2 entries (LOCAL_LIST_MAX_LENGTH)" in error["Message"]
    status, error = send_list(client, "CP-LM", "Partial")
    assert status == 400 and error["Message"] == 'body must be a JSON object {"updateType": "Full" | "Differential"}'
    assert send_list(client, "CP-NOBODY", "Full")[0] == 404
    assert get_json(client, "/chargepoints/CP-NOBODY/localList")[0] == 404
    assert get_json(client, "/chargepoints/CP-LM/commands")[1]["commands"] == [], "nothing was queued"


def test_a_websocket_charger_takes_the_list_and_its_version_is_tracked(gateway, client):
    put_tag(client, "WS-TAG", {"status": "Accepted", "maxActiveTransactions": 1})
    cp = "CP-LL-WS"

    async def charger() -> None:
        async with connect(gateway.url + cp, subprotocols=["ocpp1.6"]) as ws:
            assert (await exchange(ws, BOOT))[2]["status"] == "Accepted"
            status, queued = await asyncio.to_thread(send_list, client, cp, "Full")
            assert status == 200
            call = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert call[:3] == [2, queued["commandId"], "SendLocalList"]
            ocpp_frames.validate(ocpp_frames.CALL, "SendLocalList", call[3])
            assert call[3]["localAuthorizationList"] == [{"idTag": "WS-TAG", "idTagInfo": {"status": "Accepted"}}]
            await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))

            async def in_sync() -> bool:
                return (await asyncio.to_thread(get_json, client, f"/chargepoints/{cp}/localList"))[1]["inSync"]

            await wait_for(in_sync, 5)

    asyncio.run(charger())
    assert get_json(client, f"/chargepoints/{cp}")[1]["localList"]["chargerVersion"] == 1
