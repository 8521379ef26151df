"""Local lists sized to what the charger says it can take (LocalAuthListMaxLength, SendLocalListMaxLength,
from its GetConfiguration answer): the split and version rules as plain functions, the parts' life as
commands (each sent only once the part before it was Accepted), and the whole round with a demo charger
on the bus. Every SendLocalList payload is checked against the official 1.6 schema."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import jsonschema
import pytest
from websockets.asyncio.client import connect

from chalicelib import charger_config, commands, local_list, ocpp_frames, openapi, storage
from tests.ocpp_builders import BOOT, get_command, get_json, post_command, registered
from tests.support import exchange, wait_for
from tests.test_local_list import answered, put_tag, send_list


def entry(tag: str, version: int, deleted: bool = False) -> dict:
    """A registry item as the version index gives it."""
    return {"spelling": tag, "version": version, **({"deleted": True} if deleted else {"status": "Accepted"})}


def valid(payloads: list[dict]) -> list[dict]:
    for payload in payloads:
        ocpp_frames.validate(ocpp_frames.CALL, "SendLocalList", payload)
    return payloads


def test_a_long_full_list_goes_as_a_full_part_then_differentials_each_versioned_by_its_newest_change():
    entries = [entry("e", 9), entry("A", 2), entry("d", 7), entry("b", 4), entry("C", 5)]
    parts = valid(local_list.split("Full", entries, 11, per_message=2))
    assert [(p["updateType"], p["listVersion"]) for p in parts] == [
        ("Full", 4),
        ("Differential", 7),
        ("Differential", 11),  # the last one carries the whole list's version (a tombstone's, 11)
    ]
    assert [[e["idTag"] for e in p["localAuthorizationList"]] for p in parts] == [["A", "b"], ["C", "d"], ["e"]]
    # Versions only grow, so no part is refused as a VersionMismatch by the charger holding the one before.
    versions = [p["listVersion"] for p in parts]
    assert versions == sorted(set(versions))


def test_a_difference_splits_with_its_removals_and_a_short_or_empty_list_stays_one_message():
    parts = valid(local_list.split("Differential", [entry("X", 6, deleted=True), entry("Y", 8)], 8, 1))
    assert parts == [
        {"listVersion": 6, "updateType": "Differential", "localAuthorizationList": [{"idTag": "X"}]},
        {
            "listVersion": 8,
            "updateType": "Differential",
            "localAuthorizationList": [{"idTag": "Y", "idTagInfo": {"status": "Accepted"}}],
        },
    ]
    assert valid(local_list.split("Full", [], 3, 50)) == [
        {"listVersion": 3, "updateType": "Full", "localAuthorizationList": []}
    ]
    assert len(local_list.split("Full", [entry("A", 1), entry("B", 2)], 2, 2)) == 1


@pytest.mark.parametrize(
    ("keys", "limits"),
    [
        ({"LocalAuthListMaxLength": "100", "SendLocalListMaxLength": " 50 "}, (100, 50)),
        ({"LocalAuthListMaxLength": "0", "SendLocalListMaxLength": "lots"}, (None, None)),
        ({"SendLocalListMaxLength": "20"}, (None, 20)),
        (None, (None, None)),
    ],
)
def test_the_chargers_limits_are_whole_numbers_from_its_configuration_snapshot(keys, limits):
    snapshot = None if keys is None else {"configuration": {k: {"value": v, "readonly": True} for k, v in keys.items()}}
    found = local_list.charger_limits(snapshot)
    assert (found.capacity, found.per_message) == limits
    assert ("note" in found.view()) is (None in limits)


def configured(cp: str, capacity: str, per_message: str) -> None:
    """What the charger's GetConfiguration answer left in its snapshot."""
    keys = {"LocalAuthListMaxLength": capacity, "SendLocalListMaxLength": per_message}
    snapshot = {key: {"value": value, "readonly": True} for key, value in keys.items()}
    storage.put_configuration(cp, snapshot, [], ocpp_frames.format_timestamp(ocpp_frames.now()), not_kept=0)


def parts_of(client, cp: str, sent: dict) -> list[dict]:
    """Every command a POST .../localList queued, as GET shows it, each payload valid by the official schema."""
    views = [get_command(client, cp, command["commandId"])[1] for command in sent["commands"]]
    valid([view["payload"] for view in views])
    return views


def in_sync(client, cp: str) -> dict:
    return get_json(client, f"/chargepoints/{cp}/localList")[1]


def test_each_part_goes_once_the_one_before_is_accepted_and_a_refused_part_stops_the_rest(client):
    registered(client, "CP-PARTS")
    configured("CP-PARTS", "6", "2")
    for tag in ("T1", "T2", "T3", "T4", "T5"):
        put_tag(client, tag, {"status": "Accepted"})
    status, sent = send_list(client, "CP-PARTS", "Full")
    assert status == 200, sent
    assert sent["chargerLimits"] == {"LocalAuthListMaxLength": 6, "SendLocalListMaxLength": 2}
    jsonschema.validate(sent, openapi.document()["components"]["schemas"]["LocalListSent"])
    assert [(c["status"], c["updateType"], c["listVersion"], c["entries"]) for c in sent["commands"]] == [
        ("pending", "Full", 2, 2),
        ("waiting", "Differential", 4, 2),
        ("waiting", "Differential", 5, 1),
    ]
    first, second, third = (c["commandId"] for c in sent["commands"])
    assert sent["commandId"] == first and sent["status"] == "pending", "the single-command shape still holds"
    assert [(v["part"], v["parts"], v["status"]) for v in parts_of(client, "CP-PARTS", sent)] == [
        (1, 3, "pending"),
        (2, 3, "waiting"),
        (3, 3, "waiting"),
    ]
    assert post_command(client, "CP-PARTS", {"action": "ClearCache"})[0] == 409, "a list in parts holds the slot"

    answered("CP-PARTS", first, {"status": "Accepted"})
    state = in_sync(client, "CP-PARTS")
    assert (state["chargerVersion"], state["sentVersion"], state["inSync"]) == (2, 5, False)
    assert get_command(client, "CP-PARTS", second)[1]["status"] == "pending"
    assert storage.get_charge_point("CP-PARTS")["pendingCommand"]["commandId"] == second, "handed straight on"

    answered("CP-PARTS", second, {"status": "Failed"})
    state = in_sync(client, "CP-PARTS")
    assert (state["chargerVersion"], state["status"], state["inSync"]) == (2, "Failed", False)
    last = get_command(client, "CP-PARTS", third)[1]
    assert last["status"] == "failed" and last["error"]["errorDescription"] == (
        "not sent: part 2 of 3 was answered Failed"
    )
    assert "pendingCommand" not in storage.get_charge_point("CP-PARTS"), "the slot is free again"

    # The charger holds version 2: a Differential carries the rest, and its last part brings it in sync.
    status, sent = send_list(client, "CP-PARTS", "Differential")
    assert [(c["updateType"], c["listVersion"]) for c in sent["commands"]] == [("Differential", 4), ("Differential", 5)]
    assert [v["payload"]["localAuthorizationList"][0]["idTag"] for v in parts_of(client, "CP-PARTS", sent)] == [
        "T3",
        "T5",
    ]
    for command in sent["commands"]:
        answered("CP-PARTS", command["commandId"], {"status": "Accepted"})
    assert in_sync(client, "CP-PARTS")["inSync"] is True


def test_a_part_that_gets_a_callerror_leaves_the_later_ones_unsent_and_shown_timed_out(client, monkeypatch):
    registered(client, "CP-PARTS-ERR")
    configured("CP-PARTS-ERR", "10", "1")
    put_tag(client, "A", {"status": "Accepted"})
    put_tag(client, "B", {"status": "Accepted"})
    sent = send_list(client, "CP-PARTS-ERR", "Full")[1]
    first, second = (view["commandId"] for view in parts_of(client, "CP-PARTS-ERR", sent))
    error = [4, first, "FormationViolation", "too long", {}]
    assert commands.record_answer("CP-PARTS-ERR", first, error) == "failed"
    assert get_command(client, "CP-PARTS-ERR", second)[1]["status"] == "waiting"
    state = in_sync(client, "CP-PARTS-ERR")
    assert (state["chargerVersion"], state["status"]) == (None, "Sent")
    later = ocpp_frames.now() + timedelta(seconds=2 * 60)  # part 2's turn: two command timeouts
    monkeypatch.setattr(ocpp_frames, "now", lambda: later)
    assert get_command(client, "CP-PARTS-ERR", second)[1]["status"] == "timedOut"


def test_a_list_the_charger_cannot_hold_is_refused_naming_its_length_and_nothing_is_queued(client):
    registered(client, "CP-SMALL")
    configured("CP-SMALL", "2", "1")
    for tag in ("S1", "S2", "S3"):
        put_tag(client, tag, {"status": "Accepted"})
    status, error = send_list(client, "CP-SMALL", "Full")
    assert status == 409
    assert error["Message"] == "the list would hold 3 entries, more than the charger's LocalAuthListMaxLength of 2"
    # A Differential ends with the charger holding the whole registry too.
    storage.note_local_list("CP-SMALL", {local_list.FIELDS["chargerVersion"]: 2})
    status, error = send_list(client, "CP-SMALL", "Differential")
    assert status == 409 and "3 entries, more than the charger's LocalAuthListMaxLength of 2" in error["Message"]
    assert get_json(client, "/chargepoints/CP-SMALL/commands")[1]["commands"] == []


def test_parts_refused_with_their_first_leave_nothing_behind(client):
    registered(client, "CP-OFF", online=False)
    configured("CP-OFF", "10", "1")
    put_tag(client, "A", {"status": "Accepted"})
    put_tag(client, "B", {"status": "Accepted"})
    status, error = send_list(client, "CP-OFF", "Full")
    assert status == 409 and "is offline" in error["Message"]
    assert get_json(client, "/chargepoints/CP-OFF/commands")[1]["commands"] == []


def test_a_websocket_charger_gets_each_part_from_its_gateway_once_it_accepted_the_one_before(gateway, client):
    cp = "CP-PARTS-WS"
    for tag in ("W1", "W2", "W3"):
        put_tag(client, tag, {"status": "Accepted"})

    async def charger() -> None:
        async with connect(gateway.url + cp, subprotocols=["ocpp1.6"]) as ws:
            assert (await exchange(ws, BOOT))[2]["status"] == "Accepted"
            configured(cp, "10", "2")
            status, sent = await asyncio.to_thread(send_list, client, cp, "Full")
            assert status == 200 and len(sent["commands"]) == 2
            for command in sent["commands"]:
                call = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert call[:3] == [2, command["commandId"], "SendLocalList"]
                valid([call[3]])
                assert call[3]["listVersion"] == command["listVersion"]
                await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))

            async def synced() -> bool:
                return (await asyncio.to_thread(in_sync, client, cp))["inSync"]

            await wait_for(synced, 5)

    asyncio.run(charger())


CP = "CP-DEMO-001"


@pytest.fixture
def watched() -> str:
    return CP


def test_a_demo_charger_gets_its_list_in_parts_once_its_configuration_is_known(client, fleet, monkeypatch):
    _, wire = fleet
    monkeypatch.setitem(charger_config.FIXED, "SendLocalListMaxLength", "2")
    monkeypatch.setitem(charger_config.FIXED, "LocalAuthListMaxLength", "5")
    for tag in ("D1", "D2", "D3", "D4"):
        put_tag(client, tag, {"status": "Accepted"})

    # Not known yet: one message, as before, which the charger refuses; the answer says how to learn them.
    status, sent = send_list(client, CP, "Full")
    assert status == 200 and len(sent["commands"]) == 1
    assert "a GetConfiguration command reads them" in sent["chargerLimits"]["note"]
    assert (in_sync(client, CP)["status"], in_sync(client, CP)["inSync"]) == ("Failed", False)

    asked = post_command(client, CP, {"action": "GetConfiguration", "payload": {}})[1]
    assert get_command(client, CP, asked["commandId"])[1]["status"] == "answered"
    status, sent = send_list(client, CP, "Full")
    assert status == 200, sent
    assert sent["chargerLimits"] == {"LocalAuthListMaxLength": 5, "SendLocalListMaxLength": 2}
    assert [c["entries"] for c in sent["commands"]] == [2, 2]
    assert [(v["status"], v["result"]) for v in parts_of(client, CP, sent)] == [
        ("answered", {"status": "Accepted"})
    ] * 2
    state = in_sync(client, CP)
    assert (state["chargerVersion"], state["status"], state["inSync"]) == (4, "Accepted", True)
    version = post_command(client, CP, {"action": "GetLocalListVersion", "payload": {}})[1]
    assert get_command(client, CP, version["commandId"])[1]["result"] == {"listVersion": 4}

    put_tag(client, "D5", {"status": "Accepted"})
    put_tag(client, "D6", {"status": "Blocked"})
    status, error = send_list(client, CP, "Differential")
    assert status == 409 and error["Message"] == (
        "the list would hold 6 entries, more than the charger's LocalAuthListMaxLength of 5"
    )
    # The wire hears a nested delivery (the next part goes while the bus still delivers the one before) first.
    on_the_wire = valid([d["message"][3] for d in wire.heard if d["message"][2:3] == ["SendLocalList"]])
    assert sorted((p["listVersion"], p["updateType"], len(p["localAuthorizationList"])) for p in on_the_wire) == [
        (2, "Full", 2),
        (4, "Differential", 2),
        (4, "Full", 4),
    ]
