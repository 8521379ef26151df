"""Remote commands: POST /chargepoints/{id}/commands and GET .../commands/{commandId} (moto).

The API, the gateway holding the socket and the answer may each be in another process; these tests
drive each step through the same functions those processes call, and the last ones over a real socket."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import connect

from chalicelib import commands, ocpp_frames, settings
from tests.ocpp_builders import BOOT, Clock, get_command, post_command, registered
from tests.support import exchange


@pytest.mark.parametrize(
    "body, message",
    [
        ("not json", "body must be JSON"),
        ({"payload": {}}, "body must be a JSON object"),
        ({"action": "Reset", "payload": {}, "extra": 1}, "body must be a JSON object"),
        ({"action": "FormatTheDisk", "payload": {}}, "action must be one of"),
        ({"action": "Reset", "payload": []}, "payload must be a JSON object"),
        ({"action": "Reset", "payload": {"type": "Gentle"}}, "does not match the OCPP 1.6 schema"),
        (
            {"action": "RemoteStartTransaction", "payload": {}},
            "does not match the OCPP 1.6 schema: RemoteStartTransaction payload: 'idTag'",
        ),
    ],
)
def test_bad_commands_are_400_with_the_reason(client, body, message):
    registered(client, "CP-C1")
    status, error = post_command(client, "CP-C1", body)
    assert status == 400 and message in error["Message"]


def test_unknown_charger_is_404_and_offline_charger_409(client):
    assert post_command(client, "CP-NOBODY", {"action": "Reset", "payload": {"type": "Soft"}})[0] == 404
    registered(client, "CP-C2", online=False)
    status, error = post_command(client, "CP-C2", {"action": "Reset", "payload": {"type": "Soft"}})
    assert status == 409 and "offline" in error["Message"]
    assert get_command(client, "CP-C2", "no-such-command")[0] == 404


def test_a_command_is_matched_to_its_answer_in_another_process_and_frees_the_slot(client):
    registered(client, "CP-C3", gateway_id="gw-a")
    status, queued = post_command(client, "CP-C3", {"action": "Reset", "payload": {"type": "Hard"}})
    assert status == 200
    # One outstanding command per charger: the next one waits for this answer.
    status, error = post_command(client, "CP-C3", {"action": "GetConfiguration", "payload": {}})
    assert status == 409 and queued["commandId"] in error["Message"]
    # The gateway holding the socket (process A) takes it from its outbox and sends it ...
    [command] = commands.queued_for("gw-a")
    assert commands.call_frame(command) == [2, queued["commandId"], "Reset", {"type": "Hard"}]
    assert commands.mark_sent(command) and not commands.mark_sent(command)
    assert commands.queued_for("gw-a") == []
    # ... and whichever process gets the answer records it by charge point id + uniqueId.
    answer = [3, queued["commandId"], {"status": "Accepted"}]
    assert commands.record_answer("CP-C3", queued["commandId"], answer) == "answered"
    assert commands.record_answer("CP-C3", queued["commandId"], answer) is None
    status, view = get_command(client, "CP-C3", queued["commandId"])
    assert (status, view["status"], view["result"], view["payload"]) == (
        200,
        "answered",
        {"status": "Accepted"},
        {"type": "Hard"},
    )
    assert post_command(client, "CP-C3", {"action": "GetConfiguration", "payload": {}})[0] == 200


def test_a_callerror_or_a_schema_breaking_answer_fails_the_command(client):
    registered(client, "CP-C4")
    _, first = post_command(client, "CP-C4", {"action": "UnlockConnector", "payload": {"connectorId": 1}})
    assert (
        commands.record_answer("CP-C4", first["commandId"], [4, first["commandId"], "NotSupported", "no lock", {}])
        == "failed"
    )
    assert get_command(client, "CP-C4", first["commandId"])[1]["error"] == {
        "errorCode": "NotSupported",
        "errorDescription": "no lock",
        "errorDetails": {},
    }
    _, second = post_command(client, "CP-C4", {"action": "UnlockConnector", "payload": {"connectorId": 1}})
    maybe = [3, second["commandId"], {"status": "Maybe"}]
    assert commands.record_answer("CP-C4", second["commandId"], maybe) == "failed"
    assert get_command(client, "CP-C4", second["commandId"])[1]["error"]["errorCode"] == "PropertyConstraintViolation"


def test_an_unanswered_command_times_out_and_frees_the_slot(client, monkeypatch):
    monkeypatch.setenv("COMMAND_TIMEOUT_SECONDS", "1")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    clock = Clock()
    clock.now = datetime.now(UTC)
    monkeypatch.setattr(ocpp_frames, "now", clock)
    registered(client, "CP-C5")
    _, queued = post_command(client, "CP-C5", {"action": "Reset", "payload": {"type": "Soft"}})
    assert get_command(client, "CP-C5", queued["commandId"])[1]["status"] == "pending"
    clock.now += timedelta(seconds=1.1)
    # Its gateway is gone and never said so: the view knows the deadline passed, and the slot is free.
    assert get_command(client, "CP-C5", queued["commandId"])[1]["status"] == "timedOut"
    assert post_command(client, "CP-C5", {"action": "Reset", "payload": {"type": "Soft"}})[0] == 200


def test_over_the_socket_timeout_and_disconnect_are_recorded(gateway, client, monkeypatch):
    monkeypatch.setenv("COMMAND_TIMEOUT_SECONDS", "1")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's

    async def wait_status(cp: str, command_id: str, wanted: str) -> dict:
        for _ in range(100):
            _, view = await asyncio.to_thread(get_command, client, cp, command_id)
            if view["status"] == wanted:
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"{command_id} never became {wanted}: {view}")

    async def scenario():
        async with connect(gateway.url + "CP-C6", subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, BOOT)
            _, queued = await asyncio.to_thread(
                post_command, client, "CP-C6", {"action": "Reset", "payload": {"type": "Soft"}}
            )
            call = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert call == [2, queued["commandId"], "Reset", {"type": "Soft"}]
            # The charger never answers: the gateway times the command out, and a late answer is ignored.
            assert "sentAt" in await wait_status("CP-C6", queued["commandId"], "timedOut")
            await ws.send(json.dumps([3, queued["commandId"], {"status": "Accepted"}]))
            _, second = await asyncio.to_thread(
                post_command, client, "CP-C6", {"action": "GetConfiguration", "payload": {}}
            )
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))[1] == second["commandId"]
        view = await wait_status("CP-C6", second["commandId"], "failed")
        assert "disconnected" in view["error"]["errorDescription"]
        assert gateway.gateway.counts["unexpectedAnswers"] == 1

    asyncio.run(scenario())
