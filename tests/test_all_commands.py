"""The 19 central-system commands of OCPP 1.6 (moto): each one queued, sent over a real WebSocket to a fake
charger written with `websockets`, answered with a valid CALLRESULT, and its meaning visible in the API;
the schema checks, the list of a charger's commands, the schema route, and the hooks features register."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import ocpp
import pytest
from websockets.asyncio.client import connect

from chalicelib import command_effects, commands, settings, storage
from tests.ocpp_builders import BOOT, get_command, get_json, post_command, registered
from tests.support import exchange, wait_for

TAG_INFO = {"status": "Accepted"}
PROFILE = {
    "chargingProfileId": 1,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {
        "startSchedule": "2026-01-01T00:00:00Z",  # an Absolute schedule starts somewhere (checked before queuing)
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 7400}],
    },
}


def configuration_reported(charge_point: dict, command: dict) -> None:
    assert charge_point["configuration"] == {
        "HeartbeatInterval": {"readonly": False, "value": "300"},
        "Vendor.Key.With.Dots": {"readonly": True},
    }
    assert (charge_point["unknownKeys"], charge_point["configurationAt"]) == (["Nope"], command["answeredAt"])


def configuration_changed(charge_point: dict, command: dict) -> None:
    entry = {"value": "120", "readonly": False, "changedAt": command["answeredAt"], "rebootRequired": True}
    assert charge_point["configuration"] == {"HeartbeatInterval": entry}


def availability_scheduled(charge_point: dict, command: dict) -> None:
    assert charge_point["availability"] == {
        "1": {"type": "Inoperative", "status": "Scheduled", "at": command["answeredAt"]}
    }


def triggered_status_applied(charge_point: dict, command: dict) -> None:
    assert charge_point["connectorStatus"]["1"]["status"] == "Unavailable"


def local_list_version_reported(charge_point: dict, command: dict) -> None:
    assert charge_point["localList"] == {
        "chargerVersion": 3,
        "sentVersion": None,
        "status": "Reported",
        "updatedAt": command["answeredAt"],
    }


def local_list_accepted(charge_point: dict, command: dict) -> None:
    assert charge_point["localList"] == {
        "chargerVersion": 4,
        "sentVersion": None,
        "status": "Accepted",
        "updatedAt": command["answeredAt"],
    }


# action -> (payload, the fake charger's answer, what the charge point then shows, when it shows something)
CASES: dict[str, tuple[dict, dict, Callable[[dict, dict], None] | None]] = {
    "ChangeAvailability": ({"connectorId": 1, "type": "Inoperative"}, {"status": "Scheduled"}, availability_scheduled),
    "ChangeConfiguration": (
        {"key": "HeartbeatInterval", "value": "120"},
        {"status": "RebootRequired"},
        configuration_changed,
    ),
    "ClearCache": ({}, {"status": "Accepted"}, None),
    "DataTransfer": (
        {"vendorId": "acme", "messageId": "ping", "data": "x"},
        {"status": "Accepted", "data": "pong"},
        None,
    ),
    "GetConfiguration": (
        {"key": ["HeartbeatInterval", "Vendor.Key.With.Dots", "Nope"]},
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "Vendor.Key.With.Dots", "readonly": True},
            ],
            "unknownKey": ["Nope"],
        },
        configuration_reported,
    ),
    "RemoteStartTransaction": ({"idTag": "TAG-1", "connectorId": 1}, {"status": "Accepted"}, None),
    "RemoteStopTransaction": ({"transactionId": 42}, {"status": "Accepted"}, None),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}, None),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}, None),
    "GetDiagnostics": ({"location": "https://example.com/upload"}, {"fileName": "diag.log"}, None),
    "UpdateFirmware": ({"location": "https://example.com/fw.bin", "retrieveDate": "2026-12-04T00:00:00Z"}, {}, None),
    "GetLocalListVersion": ({}, {"listVersion": 3}, local_list_version_reported),
    "SendLocalList": (
        {"listVersion": 4, "updateType": "Full", "localAuthorizationList": [{"idTag": "TAG-1", "idTagInfo": TAG_INFO}]},
        {"status": "Accepted"},
        local_list_accepted,
    ),
    "ReserveNow": (
        {"connectorId": 1, "expiryDate": "2026-12-04T00:00:00Z", "idTag": "TAG-1", "reservationId": 7},
        {"status": "Accepted"},
        None,
    ),
    "CancelReservation": ({"reservationId": 7}, {"status": "Accepted"}, None),
    "SetChargingProfile": ({"connectorId": 1, "csChargingProfiles": PROFILE}, {"status": "Accepted"}, None),
    "ClearChargingProfile": ({"id": 1}, {"status": "Accepted"}, None),
    "GetCompositeSchedule": ({"connectorId": 1, "duration": 3600}, {"status": "Rejected"}, None),
    "TriggerMessage": (
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        {"status": "Accepted"},
        triggered_status_applied,
    ),
}
# What the fake charger sends after its answer: the message a TriggerMessage asked for, applied as usual.
FOLLOW_UPS = {
    "TriggerMessage": [
        [2, "t1", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Unavailable"}]
    ]
}


def test_the_cases_cover_the_19_commands():
    assert sorted(CASES) == sorted(commands.COMMAND_ACTIONS) and len(CASES) == 19


@pytest.mark.parametrize("action", commands.COMMAND_ACTIONS)
def test_each_command_reaches_a_websocket_charger_and_its_answer_is_applied(gateway, client, action):
    payload, result, shows = CASES[action]
    cp = "CP-W1"

    async def answered(command_id: str) -> dict | None:
        _, view = await asyncio.to_thread(get_command, client, cp, command_id)
        return view if view["status"] != "pending" else None

    async def charger() -> tuple[dict, dict]:
        async with connect(gateway.url + cp, subprotocols=["ocpp1.6"]) as ws:
            assert (await exchange(ws, BOOT))[2]["status"] == "Accepted"
            body = {"action": action, "payload": payload}
            status, queued = await asyncio.to_thread(post_command, client, cp, body)
            assert (status, queued["status"]) == (200, "pending")
            call = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert call == [2, queued["commandId"], action, payload]
            sent = (await asyncio.to_thread(get_command, client, cp, queued["commandId"]))[1]
            assert sent["status"] == "pending" and "sentAt" in sent
            await ws.send(json.dumps([3, call[1], result]))
            done = await wait_for(lambda: answered(queued["commandId"]), 5)
            for frame in FOLLOW_UPS.get(action, []):
                assert (await exchange(ws, frame))[:2] == [3, frame[1]]
            return sent, done

    sent, command = asyncio.run(charger())
    assert (command["status"], command["result"], command["sentAt"]) == ("answered", result, sent["sentAt"])
    if shows is not None:
        shows(get_json(client, f"/chargepoints/{cp}")[1], command)


def test_a_payload_breaking_the_schema_or_too_large_to_keep_is_400_for_every_command(client):
    registered(client, "CP-W2")
    for action in commands.COMMAND_ACTIONS:
        status, error = post_command(client, "CP-W2", {"action": action, "payload": {"notAField": 1}})
        assert status == 400, action
        assert error["Message"].startswith(f"payload does not match the OCPP 1.6 schema: {action} "), error
    entries = [{"idTag": f"TAG-{n:05d}", "idTagInfo": TAG_INFO} for n in range(2000)]
    too_large = {"listVersion": 1, "updateType": "Full", "localAuthorizationList": entries}
    status, error = post_command(client, "CP-W2", {"action": "SendLocalList", "payload": too_large})
    assert status == 400 and "payload over 100000 bytes" in error["Message"]
    assert get_json(client, "/chargepoints/CP-W2/commands")[1]["commands"] == []


def answer(cp: str, body: dict, result: dict) -> dict:
    """A command queued (as POST .../commands does) and answered by the charger, wherever its socket is."""
    queued = commands.queue(cp, body["action"], body["payload"])
    assert commands.record_answer(cp, queued["commandId"], [3, queued["commandId"], result]) == "answered"
    return queued


def test_a_chargers_commands_are_listed_newest_first_a_page_at_a_time(client):
    registered(client, "CP-W3")
    registered(client, "CP-W4")
    ids = []
    for _ in range(5):
        ids.append(
            answer("CP-W3", {"action": "Reset", "payload": {"type": "Soft"}}, {"status": "Accepted"})["commandId"]
        )
        time.sleep(0.002)  # createdAt has millisecond precision: one per millisecond keeps the order exact
    answer("CP-W4", {"action": "ClearCache", "payload": {}}, {"status": "Accepted"})
    listed, token = [], None
    for _ in range(3):
        query = "?limit=2" + (f"&nextToken={token}" if token else "")
        with storage.counting_requests() as counted:
            status, page = get_json(client, f"/chargepoints/CP-W3/commands{query}")
        assert status == 200 and len(page["commands"]) <= 2
        assert counted["Query"] == 1 and counted["BatchGetItem"] == 1 and sum(counted.values()) == 2
        listed += page["commands"]
        token = page["nextToken"]
        if token is None:
            break
    assert [command["commandId"] for command in listed] == ids[::-1]
    assert {(c["action"], c["status"], c["result"]["status"]) for c in listed} == {("Reset", "answered", "Accepted")}
    # The token is bound to its charger, and the parameters are checked.
    other_token = get_json(client, "/chargepoints/CP-W3/commands?limit=1")[1]["nextToken"]
    status, error = get_json(client, f"/chargepoints/CP-W4/commands?limit=2&nextToken={other_token}")
    assert status == 400 and "nextToken" in error["Message"]
    assert get_json(client, "/chargepoints/CP-W3/commands?limit=0")[0] == 400
    assert get_json(client, "/chargepoints/CP-W3/commands?status=answered")[0] == 400
    assert get_json(client, "/chargepoints/CP-NEVER/commands") == (200, {"commands": [], "nextToken": None})


def test_the_schema_route_serves_the_official_request_schema_of_each_command_only(client):
    schemas = Path(ocpp.__file__).parent / "v16" / "schemas"
    for action in commands.COMMAND_ACTIONS:
        status, schema = get_json(client, f"/ocpp/schemas/{action}")
        assert (status, schema) == (200, json.loads((schemas / f"{action}.json").read_text())), action
    for other in ("BootNotification", "StartTransaction", "SignCertificate", "Nope", "Reset.json"):
        status, error = get_json(client, f"/ocpp/schemas/{other}")
        assert status == 404 and "no command" in error["Message"], other


def test_configuration_changes_and_availability_keep_the_snapshot_current_and_bounded(client):
    cp = "CP-W5"
    registered(client, cp)
    get_configuration = {"action": "GetConfiguration", "payload": {}}
    many = [{"key": f"Key{n:03d}", "readonly": False, "value": "v" * 200} for n in range(300)]
    answer(cp, get_configuration, {"configurationKey": many, "unknownKey": [f"U{n}" for n in range(70)]})
    shown = get_json(client, f"/chargepoints/{cp}")[1]
    assert len(shown["configuration"]) == command_effects.MAX_CONFIGURATION_KEYS
    assert len(shown["unknownKeys"]) == command_effects.MAX_UNKNOWN_KEYS
    assert shown["configurationKeysNotKept"] == 300 - 256 + 70 - 64
    # Listed, a result that large is left out (a page stays small); the command's own route has it.
    [listed] = get_json(client, f"/chargepoints/{cp}/commands")[1]["commands"]
    assert "result" not in listed and listed["omitted"] == ["result"] and listed["payload"] == {}
    assert len(get_command(client, cp, listed["commandId"])[1]["result"]["configurationKey"]) == 300
    # A full snapshot takes changes to its keys, not new keys; a refused change changes nothing.
    change = {"action": "ChangeConfiguration", "payload": {"key": "Key001", "value": "1"}}
    answer(cp, change, {"status": "Accepted"})
    answer(cp, {**change, "payload": {"key": "Key002", "value": "2"}}, {"status": "Rejected"})
    answer(cp, {**change, "payload": {"key": "Brand.New", "value": "3"}}, {"status": "Accepted"})
    configuration = get_json(client, f"/chargepoints/{cp}")[1]["configuration"]
    assert configuration["Key001"]["value"] == "1" and configuration["Key002"]["value"] == "v" * 200
    assert "Brand.New" not in configuration and "rebootRequired" not in configuration["Key001"]
    # A new snapshot replaces the old one whole.
    answer(cp, get_configuration, {"configurationKey": [{"key": "Only", "readonly": True, "value": "x"}]})
    shown = get_json(client, f"/chargepoints/{cp}")[1]
    assert (shown["configuration"], shown["unknownKeys"]) == ({"Only": {"readonly": True, "value": "x"}}, [])
    # Availability per connector; a Rejected answer changes nothing; connector 0 is the whole charger.
    availability = {"action": "ChangeAvailability", "payload": {"connectorId": 2, "type": "Inoperative"}}
    answer(cp, availability, {"status": "Accepted"})
    answer(cp, {**availability, "payload": {"connectorId": 1, "type": "Inoperative"}}, {"status": "Rejected"})
    assert list(get_json(client, f"/chargepoints/{cp}")[1]["availability"]) == ["2"]
    answer(cp, {**availability, "payload": {"connectorId": 0, "type": "Operative"}}, {"status": "Accepted"})
    assert get_json(client, f"/chargepoints/{cp}")[1]["availability"]["0"]["type"] == "Operative"
    assert list(get_json(client, f"/chargepoints/{cp}")[1]["availability"]) == ["0"]


def test_features_check_payloads_before_queueing_and_a_failing_effect_leaves_the_answer(client, monkeypatch, caplog):
    registered(client, "CP-W6")
    reset = {"action": "Reset", "payload": {"type": "Soft"}}

    def refuse(charge_point_id: str, payload: dict) -> dict:
        raise commands.CommandConflict(f"{charge_point_id} may not be reset now")

    monkeypatch.setitem(command_effects.BEFORE_SUBMIT, "Reset", refuse)
    assert post_command(client, "CP-W6", reset) == (
        409,
        {"Code": "ConflictError", "Message": "CP-W6 may not be reset now"},
    )
    monkeypatch.setitem(command_effects.BEFORE_SUBMIT, "Reset", lambda cp, payload: {"type": "Violent"})
    status, error = post_command(client, "CP-W6", reset)
    assert status == 400 and "does not match the OCPP 1.6 schema" in error["Message"]
    monkeypatch.setitem(command_effects.BEFORE_SUBMIT, "Reset", lambda cp, payload: {"type": "Hard"})

    def broken(command: dict, result: dict) -> None:
        raise RuntimeError("a feature's bug")

    monkeypatch.setitem(command_effects.EFFECTS, "Reset", broken)
    queued = answer("CP-W6", reset, {"status": "Accepted"})
    command = get_command(client, "CP-W6", queued["commandId"])[1]
    assert (command["payload"], command["status"]) == ({"type": "Hard"}, "answered")
    assert "command-effect-failed" in caplog.text and "a feature's bug" in caplog.text


def test_local_data_from_before_the_commands_index_gets_it(client):
    """`make run` keeps its tables: one made before an index was declared is given it at start."""
    table, index = settings.get().commands_table, "chargepoint-created-index"

    def indexes() -> set[str]:
        described = storage.client().describe_table(TableName=table)["Table"]
        return {declared["IndexName"] for declared in described.get("GlobalSecondaryIndexes", [])}

    storage.client().update_table(TableName=table, GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": index}}])
    registered(client, "CP-W7")
    queued = answer("CP-W7", {"action": "ClearCache", "payload": {}}, {"status": "Accepted"})
    assert index not in indexes()
    storage.ensure_tables()
    assert index in indexes()
    listed = get_json(client, "/chargepoints/CP-W7/commands")[1]["commands"]
    assert [command["commandId"] for command in listed] == [queued["commandId"]]


def test_the_storage_of_commands_and_settings_holds_on_the_aws_engine_too(backend):
    """The commands index's pages, nested map paths with dotted keys, size() of a map, the first entry of a
    map: on moto and on DynamoDB Local."""
    assert storage.create_charge_point({"chargePointId": "CP-W8", "status": "Unknown"}, 0)
    entry = {"value": "1", "readonly": False}
    assert storage.set_configuration_key("CP-W8", "Vendor.A", entry, max_keys=2)  # the first key makes the item
    assert storage.set_configuration_key("CP-W8", "Vendor.B", entry, max_keys=2)
    assert not storage.set_configuration_key("CP-W8", "Vendor.C", entry, max_keys=2)  # full
    assert storage.set_configuration_key("CP-W8", "Vendor.A", {**entry, "value": "2"}, max_keys=2)  # a known key
    for connector_id in (2, 1):
        assert storage.set_availability("CP-W8", connector_id, {"type": "Inoperative"})
    assert not storage.set_availability("CP-NOBODY", 1, {"type": "Inoperative"})
    charge_point, configuration = storage.get_charge_point_and_configuration("CP-W8")
    assert configuration is not None and charge_point is not None
    assert {key: value["value"] for key, value in configuration["configuration"].items()} == {
        "Vendor.A": "2",
        "Vendor.B": "1",
    }
    assert sorted(charge_point["availability"]) == ["1", "2"]
    assert storage.get_charge_point_and_configuration("CP-NOBODY") == (None, None)
    assert storage.set_online("CP-W8", True, "2026-12-03T00:00:00.000Z", "conn-1", "gw-1")
    for n in range(3):
        command = {"chargePointId": "CP-W8", "commandId": f"c{n}", "createdAt": f"2026-12-03T00:00:0{n}.000Z"}
        # A slot older than the year 3000 is free: each command may take it.
        assert storage.create_command({**command, "status": "pending"}, "conn-1", stale_before="3000")
    first = storage.list_commands("CP-W8", 2, None)
    second = storage.list_commands("CP-W8", 2, first.last_key)
    assert [c["commandId"] for c in first.items + second.items] == ["c2", "c1", "c0"] and second.last_key is None
