"""System-generated AuthorizationKeys (authorization_key.py): rotated on a WebSocket charger through the
gateway with raw frames, made its credential only once it answers Accepted, and never shown, stored or
logged in clear."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import pytest
import websockets
from websockets.asyncio.client import connect

from chalicelib import auth, authorization_key, commands, settings, storage
from tests.ocpp_builders import BOOT, get_command, get_json, post_command, registered
from tests.support import basic, exchange, wait_for

PASSWORD = "the-operators-password-1"


def rotate(client, charge_point_id: str):
    return client.http.post(f"/chargepoints/{charge_point_id}/authorizationKey")


def test_a_key_is_a_fast_salted_hash_and_a_refusal_still_costs_a_slow_one(aws, monkeypatch):
    """Only the charger's own key gets in without PBKDF2; a wrong one takes as long as an unknown charger."""
    key = "k" * authorization_key.KEY_LENGTH
    storage.put_password_hash("CP-KEYED", auth.hash_key(key), "2026-12-03T16:00:00Z")
    assert storage.get_password_hash("CP-KEYED").startswith("hmac_sha256$")
    assert auth.hash_key(key) != auth.hash_key(key)  # salted
    real_pbkdf2, slow_hashes = hashlib.pbkdf2_hmac, []
    monkeypatch.setattr(auth.hashlib, "pbkdf2_hmac", lambda *args: slow_hashes.append(1) or real_pbkdf2(*args))
    auth.hash_of_nobody()
    slow_hashes.clear()
    assert auth.check_basic_auth("CP-KEYED", basic("CP-KEYED", key)["Authorization"]) and slow_hashes == []
    assert not auth.check_basic_auth("CP-KEYED", basic("CP-KEYED", "K" * 32)["Authorization"])
    assert not auth.check_basic_auth("CP-NOBODY", basic("CP-NOBODY", key)["Authorization"])
    assert slow_hashes == [1, 1]


@pytest.mark.parametrize("stored", ["hmac_sha256$AA==", "hmac_sha256$%%%$AA==", "hmac_sha256$AA==$ééé"])
def test_a_broken_key_hash_never_verifies(stored):
    assert not auth.verify_password("k" * 32, stored)


def test_an_authorization_key_is_set_only_by_rotation_and_only_on_a_connected_charger(client):
    registered(client, "CP-K-OFF", online=False)
    response = rotate(client, "CP-K-OFF")
    assert response.status_code == 409 and "offline" in response.json_body["Message"]
    assert rotate(client, "CP-K-NONE").status_code == 404
    registered(client, "CP-K-ON")
    status, refused = post_command(
        client,
        "CP-K-ON",
        {"action": "ChangeConfiguration", "payload": {"key": "authorizationkey", "value": "x" * 20}},
    )
    assert status == 400 and "/chargepoints/CP-K-ON/authorizationKey" in refused["Message"]


def test_a_key_sealed_under_another_secret_is_never_sent(client, monkeypatch):
    """A gateway whose PAGINATION_SECRET is not the API's would send the charger a key nobody knows."""
    registered(client, "CP-K-SEAL")
    given = rotate(client, "CP-K-SEAL").json_body
    command = storage.get_command("CP-K-SEAL", given["commandId"])
    assert given["authorizationKey"] not in json.dumps(command, default=str)
    assert commands.call_frame(command)[3]["value"] == given["authorizationKey"]
    monkeypatch.setenv("PAGINATION_SECRET", "another-stack")
    settings.get.cache_clear()
    with pytest.raises(authorization_key.SealError, match="PAGINATION_SECRET"):
        commands.call_frame(command)


def test_a_charger_that_reports_its_key_anyway_does_not_have_it_stored(client):
    registered(client, "CP-K-TELLS")
    _, queued = post_command(client, "CP-K-TELLS", {"action": "GetConfiguration", "payload": {}})
    reported = [{"key": "AuthorizationKey", "readonly": False, "value": "written-only-says-the-whitepaper"}]
    assert commands.record_answer(
        "CP-K-TELLS", queued["commandId"], [3, queued["commandId"], {"configurationKey": reported}]
    )
    configuration = get_json(client, "/chargepoints/CP-K-TELLS")[1]["configuration"]
    assert configuration["AuthorizationKey"]["value"] == authorization_key.SEALED


def test_a_rotated_key_replaces_the_password_only_when_the_charger_accepts_it(gateway, client, monkeypatch, caplog):
    """Rejected: the old password still gets in. Accepted: the new key gets in, the old password (and the
    key refused before) no longer. The key is shown once, in the 202, and in no view, listing or log."""
    caplog.set_level(logging.INFO)
    monkeypatch.setenv("OCPP_AUTH", "basic")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    auth.set_password("CP-KEY", PASSWORD)
    url = gateway.url + "CP-KEY"

    async def answered(command_id: str) -> dict:
        async def done() -> dict | None:
            view = (await asyncio.to_thread(get_command, client, "CP-KEY", command_id))[1]
            return view if view["status"] == "answered" else None

        return await wait_for(done)

    async def rotated(ws, status: str) -> tuple[str, str]:
        """The key the operator was given and its command, which the charger answers with `status`."""
        response = await asyncio.to_thread(rotate, client, "CP-KEY")
        assert response.status_code == 202 and response.headers["Cache-Control"] == "no-store"
        given = response.json_body
        call = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert call == [
            2,
            given["commandId"],
            "ChangeConfiguration",
            {"key": "AuthorizationKey", "value": given["authorizationKey"]},
        ]
        await ws.send(json.dumps([3, call[1], {"status": status}]))
        view = await answered(given["commandId"])
        assert view["payload"] == {"key": "AuthorizationKey", "value": authorization_key.SEALED}
        return given["authorizationKey"], given["commandId"]

    async def refused(password: str) -> int:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refusal:
            async with connect(url, subprotocols=["ocpp1.6"], additional_headers=basic("CP-KEY", password)):
                pass
        return refusal.value.response.status_code

    async def scenario() -> list[str]:
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=basic("CP-KEY", PASSWORD)) as ws:
            await exchange(ws, BOOT)
            rejected_key, _ = await rotated(ws, "Rejected")
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=basic("CP-KEY", PASSWORD)) as ws:
            assert (await exchange(ws, [2, "h1", "Heartbeat", {}]))[0] == 3
            key, command_id = await rotated(ws, "Accepted")
        async with connect(url, subprotocols=["ocpp1.6"], additional_headers=basic("CP-KEY", key)) as ws:
            assert (await exchange(ws, [2, "h2", "Heartbeat", {}]))[0] == 3
        assert await refused(PASSWORD) == 401
        assert await refused(rejected_key) == 401
        return [rejected_key, key, command_id]

    rejected_key, key, command_id = asyncio.run(scenario())
    assert storage.get_password_hash("CP-KEY").startswith("hmac_sha256$")
    shown = json.dumps(
        [
            get_json(client, "/chargepoints/CP-KEY/commands"),
            get_json(client, f"/chargepoints/CP-KEY/commands/{command_id}"),
        ]
    ) + json.dumps(get_json(client, "/chargepoints/CP-KEY"))
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    for secret in (rejected_key, key):
        assert secret not in shown and secret not in logged
