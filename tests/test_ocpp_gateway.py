"""The OCPP 1.6J WebSocket endpoint, driven over a real socket by an independent client: the `ocpp`
package's ChargePoint on the `websockets` package. The REST API (chalice's test client) reads the
same moto backend, so what the charger did is checked where an operator would see it."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import pytest
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, RegistrationStatus, RemoteStartStopStatus
from websockets.asyncio.client import connect

from chalicelib import ocpp_frames, ocpp_gateway, settings, storage
from tests.support import exchange, wait_for


def now_iso() -> str:
    return ocpp_frames.format_timestamp(datetime.now(UTC))


class Charger(ChargePoint):
    """A charger written with the ocpp package, answering RemoteStopTransaction like a real one."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requested: asyncio.Future = asyncio.get_running_loop().create_future()

    @on(Action.remote_stop_transaction)
    async def on_remote_stop(self, transaction_id: int):
        self.stop_requested.set_result(transaction_id)
        return call_result.RemoteStopTransaction(status=RemoteStartStopStatus.accepted)


async def rest(client, method: str, path: str, body: dict | None = None):
    """The REST API, off the event loop (chalice's test client is synchronous)."""

    def request():
        if method == "GET":
            return client.http.get(path)
        return client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(body))

    response = await asyncio.to_thread(request)
    return response.status_code, json.loads(response.body)


def test_a_charger_boots_charges_and_is_stopped_from_the_api(gateway, client):
    cp_id = "CP-WS-1"

    async def scenario():
        async with connect(gateway.url + cp_id, subprotocols=["ocpp1.6"]) as ws:
            assert ws.subprotocol == "ocpp1.6"
            cp = Charger(cp_id, ws)
            listener = asyncio.create_task(cp.start())
            boot = await cp.call(call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Acme"))
            assert boot.status == RegistrationStatus.accepted and boot.current_time.endswith("Z")
            status, view = await rest(client, "GET", f"/chargepoints/{cp_id}")
            assert status == 200 and view["online"] is True and view["vendor"] == "Acme"

            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Preparing", timestamp=now_iso())
            )
            assert (await cp.call(call.Authorize(id_tag="TAG-1"))).id_tag_info["status"] == "Accepted"
            started = await cp.call(
                call.StartTransaction(connector_id=1, id_tag="TAG-1", meter_start=1000, timestamp=now_iso())
            )
            tx = started.transaction_id
            await cp.call(
                call.StatusNotification(connector_id=1, error_code="NoError", status="Charging", timestamp=now_iso())
            )
            for register in (1500, 2500):
                await asyncio.sleep(0.01)
                await cp.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=tx,
                        meter_value=[
                            {
                                "timestamp": now_iso(),
                                "sampledValue": [
                                    {
                                        "value": str(register),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                    },
                                    {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                                ],
                            }
                        ],
                    )
                )
            status, sessions = await rest(client, "GET", f"/sessions?chargePointId={cp_id}&status=Active")
            assert [s["currentEnergy"] for s in sessions["sessions"]] == [1.5]

            status, queued = await rest(
                client,
                "POST",
                f"/chargepoints/{cp_id}/commands",
                {"action": "RemoteStopTransaction", "payload": {"transactionId": tx}},
            )
            assert status == 200 and queued["status"] == "pending"
            assert await asyncio.wait_for(cp.stop_requested, 10) == tx
            await cp.call(
                call.StopTransaction(transaction_id=tx, meter_stop=3000, timestamp=now_iso(), reason="Remote")
            )

            async def answered():
                status, command = await rest(client, "GET", f"/chargepoints/{cp_id}/commands/{queued['commandId']}")
                return command if command["status"] != "pending" else None

            command = await wait_for(answered)
            assert command["status"] == "answered" and command["result"] == {"status": "Accepted"}
            assert command["action"] == "RemoteStopTransaction" and command["sentAt"] >= command["createdAt"]
            listener.cancel()

        status, sessions = await rest(client, "GET", f"/sessions?chargePointId={cp_id}")
        [session] = sessions["sessions"]
        assert (
            session["status"] == "Completed" and session["currentEnergy"] == 2.0 and session["stopReason"] == "Remote"
        )

        async def offline():
            return (await rest(client, "GET", f"/chargepoints/{cp_id}"))[1]["online"] is False

        await wait_for(offline)

    asyncio.run(scenario())


def test_malformed_frames_get_the_spec_callerror_when_they_have_an_id(gateway, client):
    async def scenario():
        async with connect(gateway.url + "CP-WS-2", subprotocols=["ocpp1.6"]) as ws:
            assert (
                await exchange(ws, [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
            )[2]["status"] == "Accepted"
            assert (await exchange(ws, [2, "x1", "Heartbeat", {"extra": 1}]))[:3] == [4, "x1", "FormatViolation"]
            assert (await exchange(ws, [2, "x2", "NoSuchAction", {}]))[:3] == [4, "x2", "NotImplemented"]
            assert (await exchange(ws, [2, "x3", "StartTransaction", {"connectorId": 1}]))[:3] == [
                4,
                "x3",
                "ProtocolError",
            ]
            # Without an id nothing can be answered: the next answer is the heartbeat's.
            await ws.send("this is not json")
            await ws.send(json.dumps([2, None, "Heartbeat", {}]))
            assert (await exchange(ws, [2, "h1", "Heartbeat", {}]))[:2] == [3, "h1"]
            # An answer to a CALL the central system never sent is ignored, not answered.
            await ws.send(json.dumps([3, "nobody-asked", {}]))
            assert (await exchange(ws, [2, "h3", "Heartbeat", {}]))[:2] == [3, "h3"]
        assert gateway.gateway.counts["unanswerable"] == 2
        assert gateway.gateway.counts["unexpectedAnswers"] == 1

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "path, subprotocols, status",
    [
        ("/somewhere/CP-OK", ["ocpp1.6"], 404),  # not the OCPP path
        ("/ocpp/", ["ocpp1.6"], 404),  # no charge point id (not one named "ocpp")
        ("/ocpp", ["ocpp1.6"], 404),
        ("/ocpp/site-7/CP-OK", ["ocpp1.6"], 404),  # deeper than /ocpp/{id}
        ("/ocpp/bad%20id!", ["ocpp1.6"], 400),  # not a valid charge point id
        ("/ocpp/CP%2FOK", ["ocpp1.6"], 400),  # an encoded slash is part of the id, and not a valid one
    ],
)
def test_refused_upgrades(gateway, client, path, subprotocols, status):
    url = gateway.url.removesuffix("/ocpp/") + path

    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with connect(url, subprotocols=subprotocols):
                pass
        assert refused.value.response.status_code == status

    asyncio.run(scenario())


def test_the_charge_point_id_is_the_one_segment_after_ocpp():
    assert ocpp_gateway.charge_point_id_of("/ocpp/CP%3A1?x=1") == "CP:1"
    assert ocpp_gateway.charge_point_id_of("/ocpp/CP-1/") == "CP-1"
    for path in ("/other/CP-1", "/ocpp/", "/ocpp", "/ocpp//", "/ocpp/site-7/CP-1", "//host/ocpp/CP-1"):
        assert ocpp_gateway.charge_point_id_of(path) is None, path


def test_a_reconnect_replaces_the_old_socket_and_stays_online(gateway, client):
    async def scenario():
        first = await connect(gateway.url + "CP-WS-3", subprotocols=["ocpp1.6"])
        await exchange(first, [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])
        async with connect(gateway.url + "CP-WS-3", subprotocols=["ocpp1.6"]) as second:
            await first.wait_closed()
            assert first.close_code == 1000
            assert (await exchange(second, [2, "h1", "Heartbeat", {}]))[:2] == [3, "h1"]
            await asyncio.sleep(0.2)  # the old session's end has been recorded by now
            item = await asyncio.to_thread(storage.get_charge_point, "CP-WS-3", True)
            assert item["online"] is True and gateway.gateway.links["CP-WS-3"].websocket is not None

        async def offline() -> bool:
            return (await asyncio.to_thread(storage.get_charge_point, "CP-WS-3", True))["online"] is False

        await wait_for(offline)

    asyncio.run(scenario())


def test_security_profile_1_checks_basic_credentials_on_the_upgrade(gateway, client, monkeypatch):
    from chalicelib import auth

    monkeypatch.setenv("OCPP_AUTH", "basic")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    auth.set_password("CP-WS-4", "a-long-s3cret-for-cp4")

    async def scenario():
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with connect(gateway.url + "CP-WS-4", subprotocols=["ocpp1.6"]):
                pass
        assert refused.value.response.status_code == 401
        assert refused.value.response.headers["WWW-Authenticate"].startswith("Basic")
        wrong = {"Authorization": "Basic " + base64.b64encode(b"CP-WS-4:not-the-password-at-all").decode()}
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with connect(gateway.url + "CP-WS-4", subprotocols=["ocpp1.6"], additional_headers=wrong):
                pass
        assert refused.value.response.status_code == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"CP-WS-4:a-long-s3cret-for-cp4").decode()}
        async with connect(gateway.url + "CP-WS-4", subprotocols=["ocpp1.6"], additional_headers=good) as ws:
            assert (await exchange(ws, [2, "h", "Heartbeat", {}]))[:3] == [4, "h", "SecurityError"]

    asyncio.run(scenario())
