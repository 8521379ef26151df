"""Reservations (ReserveNow, CancelReservation, a StartTransaction with a reservationId) through the
commands API and the charger's answers: over POST /ocpp/{id} and over a WebSocket to the gateway (moto)."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
from websockets.asyncio.client import connect

from chalicelib import commands, ocpp_frames, storage
from tests.ocpp_builders import boot, get_command, post_command, valid_answer
from tests.support import T0, exchange

BOOT = [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


@pytest.fixture
def clock(monkeypatch):
    """The central system's clock, at T0 until moved."""
    now = [T0]
    monkeypatch.setattr(ocpp_frames, "now", lambda: now[0])
    return now


def online(cp: str, gateway_id: str = "gw-elsewhere") -> None:
    """A booted charger whose socket another gateway holds."""
    boot(cp, T0)
    assert storage.set_online(cp, True, ocpp_frames.format_timestamp(T0), "conn-1", gateway_id)


def reserve(client, cp: str, reservation_id: int, connector: int = 1, minutes: int = 30) -> tuple[int, dict]:
    expiry = ocpp_frames.format_timestamp(T0 + timedelta(minutes=minutes))
    payload = {"connectorId": connector, "expiryDate": expiry, "idTag": "TAG-R", "reservationId": reservation_id}
    return post_command(client, cp, {"action": "ReserveNow", "payload": payload})


def answer(cp: str, command_id: str, result: dict) -> None:
    """The charger's CALLRESULT, as the gateway (or the bus) records it."""
    assert commands.record_answer(cp, command_id, [3, command_id, result]) == "answered"


def reservation(client, reservation_id: int) -> dict:
    response = client.http.get(f"/reservations/{reservation_id}")
    assert response.status_code == 200, response.body
    return json.loads(response.body)


def start_with(client, cp: str, reservation_id: int, uid: str = "s1") -> list:
    """The charger's StartTransaction naming the reservation, over POST /ocpp/{id}."""
    payload = {
        "connectorId": 1,
        "idTag": "TAG-R",
        "meterStart": 0,
        "timestamp": ocpp_frames.format_timestamp(T0 + timedelta(seconds=60)),
        "reservationId": reservation_id,
    }
    frame = [2, uid, "StartTransaction", payload]
    response = client.http.post(f"/ocpp/{cp}", headers={"Content-Type": "application/json"}, body=json.dumps(frame))
    return valid_answer(frame, json.loads(response.body))


def test_a_reservation_is_pending_active_shown_on_its_connector_and_used_by_its_start(client, clock):
    online("CP-R1")
    status, queued = reserve(client, "CP-R1", 101)
    assert status == 200 and reservation(client, 101)["status"] == "Pending"
    answer("CP-R1", queued["commandId"], {"status": "Accepted"})
    view = reservation(client, 101)
    assert (view["status"], view["commandId"], view["connectorId"]) == ("Active", queued["commandId"], 1)
    shown = json.loads(client.http.get("/chargepoints/CP-R1").body)["reservations"]
    assert shown == [{"connectorId": 1, "reservationId": 101, "idTag": "TAG-R", "expiryDate": view["expiryDate"]}]

    started = start_with(client, "CP-R1", 101)
    used = reservation(client, 101)
    session = json.loads(client.http.get("/sessions?chargePointId=CP-R1").body)["sessions"][0]
    assert (used["status"], used["sessionId"], used["usedOnConnector"]) == ("Used", session["sessionId"], 1)
    assert session["transactionId"] == started[2]["transactionId"]
    assert json.loads(client.http.get("/chargepoints/CP-R1").body)["reservations"] == []
    # The charger resends its start (no answer reached it): the same transaction, the reservation as it was.
    assert start_with(client, "CP-R1", 101, uid="s1-again")[2] == started[2]
    assert reservation(client, 101) == used


def test_a_reservation_id_in_use_is_409_and_a_bad_expiry_400(client, clock):
    online("CP-R2")
    _, first = reserve(client, "CP-R2", 202)
    answer("CP-R2", first["commandId"], {"status": "Accepted"})
    status, error = reserve(client, "CP-R2", 202, connector=2)
    assert status == 409 and "202 is in use" in error["Message"]
    status, error = reserve(client, "CP-R2", 203, minutes=-1)
    assert status == 400 and "has passed" in error["Message"]
    assert reserve(client, "CP-R2", 2**31)[0] == 400
    assert client.http.get("/reservations/203").status_code == 404
    assert client.http.get("/reservations/not-a-number").status_code == 404


def test_the_chargers_refusals_are_recorded_and_cancel_ends_a_reservation(client, clock):
    online("CP-R3")
    _, occupied = reserve(client, "CP-R3", 301)
    answer("CP-R3", occupied["commandId"], {"status": "Occupied"})
    assert reservation(client, 301)["status"] == "Occupied"
    _, accepted = reserve(client, "CP-R3", 302, connector=0)
    answer("CP-R3", accepted["commandId"], {"status": "Accepted"})
    assert [r["connectorId"] for r in json.loads(client.http.get("/chargepoints/CP-R3").body)["reservations"]] == [0]
    _, cancel = post_command(client, "CP-R3", {"action": "CancelReservation", "payload": {"reservationId": 302}})
    answer("CP-R3", cancel["commandId"], {"status": "Accepted"})
    assert reservation(client, 302)["status"] == "Cancelled"
    assert json.loads(client.http.get("/chargepoints/CP-R3").body)["reservations"] == []
    # A cancelled reservation is not used by a start that names it: one refused UpdateItem more, no more.
    with storage.counting_requests() as counted:
        start_with(client, "CP-R3", 302)
    assert counted == {"GetItem": 1, "TransactWriteItems": 1, "UpdateItem": 1}
    assert reservation(client, 302)["status"] == "Cancelled"


def test_an_expired_reservation_shows_expired_and_the_listing_filters_by_status(client, clock):
    online("CP-R4")
    for reservation_id, minutes in ((401, 5), (402, 60)):
        _, queued = reserve(client, "CP-R4", reservation_id, minutes=minutes)
        answer("CP-R4", queued["commandId"], {"status": "Accepted"})
        clock[0] += timedelta(seconds=1)  # created in this order
    clock[0] = T0 + timedelta(minutes=10)
    assert reservation(client, 401)["status"] == "Expired"
    assert [r["reservationId"] for r in json.loads(client.http.get("/chargepoints/CP-R4").body)["reservations"]] == [
        402
    ]

    def listed(query: str) -> list[int]:
        response = client.http.get("/reservations" + query)
        assert response.status_code == 200, response.body
        return [r["reservationId"] for r in json.loads(response.body)["reservations"]]

    assert listed("?chargePointId=CP-R4") == [402, 401]  # newest first
    assert listed("?chargePointId=CP-R4&status=Expired") == [401]
    assert listed("?status=Active") == [402]
    assert listed("?status=Used") == []
    first = json.loads(client.http.get("/reservations?limit=1").body)
    second = json.loads(client.http.get(f"/reservations?limit=1&nextToken={first['nextToken']}").body)
    assert [r["reservationId"] for r in first["reservations"] + second["reservations"]] == [402, 401]
    assert client.http.get("/reservations?status=Sleeping").status_code == 400


def test_a_charger_on_the_gateway_reserves_and_starts_with_the_reservation(gateway, client):
    async def charger():
        async with connect(gateway.url + "CP-R5", subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, BOOT)
            expiry = ocpp_frames.format_timestamp(ocpp_frames.now() + timedelta(minutes=30))
            payload = {"connectorId": 1, "expiryDate": expiry, "idTag": "TAG-R", "reservationId": 501}
            status, queued = await asyncio.to_thread(
                post_command, client, "CP-R5", {"action": "ReserveNow", "payload": payload}
            )
            assert status == 200, queued
            call = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert call[2:] == ["ReserveNow", payload]
            await ws.send(json.dumps([3, call[1], {"status": "Accepted"}]))
            for _ in range(100):
                if (await asyncio.to_thread(get_command, client, "CP-R5", queued["commandId"]))[1][
                    "status"
                ] != "pending":
                    break
                await asyncio.sleep(0.05)
            started = await exchange(
                ws,
                [
                    2,
                    "st1",
                    "StartTransaction",
                    {
                        "connectorId": 1,
                        "idTag": "TAG-R",
                        "meterStart": 0,
                        "timestamp": ocpp_frames.format_timestamp(ocpp_frames.now()),
                        "reservationId": 501,
                    },
                ],
            )
            return started

    started = asyncio.run(charger())
    assert started[0] == 3 and started[2]["idTagInfo"]["status"] == "Accepted"
    assert reservation(client, 501)["status"] == "Used"


def test_the_reservations_storage_behaves_alike_on_moto_and_dynamodb_local(backend):
    """The conditions, the filter deriving Expired and the pages, on both engines."""

    def item(reservation_id: int, expiry: str, created: str) -> dict:
        return {
            "reservationId": reservation_id,
            "chargePointId": "CP-S",
            "connectorId": 1,
            "idTag": "TAG",
            "expiryDate": f"2026-11-24T{expiry}.000Z",
            "status": "Pending",
            "createdAt": f"2026-11-24T{created}.000Z",
        }

    long_ago = "2026-11-24T11:00:00.000Z"
    for reservation_id, expiry, created in (
        (1, "12:05:00", "12:00:01"),
        (2, "13:00:00", "12:00:02"),
        (3, "13:00:00", "12:00:03"),
    ):
        assert storage.create_reservation(item(reservation_id, expiry, created), long_ago)
    assert not storage.create_reservation(item(2, "13:00:00", "12:00:04"), long_ago)  # in use
    assert storage.move_reservation(2, "CP-S", {"status": "Active"}, ("Pending",))["status"] == "Active"
    assert storage.move_reservation(2, "CP-OTHER", {"status": "Used"}, storage.OPEN_RESERVATION) is None
    used = {"status": "Used", "sessionId": "s-1"}
    assert storage.move_reservation(3, "CP-S", used, storage.OPEN_RESERVATION, or_session="s-1") is not None
    assert storage.move_reservation(3, "CP-S", used, storage.OPEN_RESERVATION, or_session="s-1") is not None
    assert storage.move_reservation(3, "CP-S", {"status": "Cancelled"}, storage.OPEN_RESERVATION) is None

    now = "2026-11-24T12:10:00.000Z"

    def ids(status: str | None = None, charge_point_id: str | None = None) -> list[int]:
        return [
            int(i["reservationId"]) for i in storage.list_reservations(10, None, now, charge_point_id, status).items
        ]

    assert ids() == [3, 2, 1] and ids(charge_point_id="CP-S") == [3, 2, 1]
    assert (ids("Expired"), ids("Active"), ids("Used", "CP-S"), ids("Pending")) == ([1], [2], [3], [])
    first = storage.list_reservations(1, None, now)
    assert [int(i["reservationId"]) for i in storage.list_reservations(1, first.last_key, now).items] == [2]
    # A Pending one whose ReserveNow can no longer be answered gives its id up.
    assert storage.create_reservation(item(1, "13:00:00", "12:00:05"), "2026-11-24T12:00:02.000Z")
