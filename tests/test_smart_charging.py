"""The central system keeps what it has set on each charger: SetChargingProfile and ClearChargingProfile sent
to a WebSocket charger over a real socket (raw frames), the charger's answers applied, and
GET /chargepoints/{id}/chargingProfiles showing the profiles and the composite schedule it believes (moto)."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import connect

from chalicelib import charging_profiles, ocpp_frames, storage
from chalicelib.charging_profiles import MAX_PROFILE, TX, TX_DEFAULT
from tests.ocpp_builders import BOOT, boot, charging_profile, get_command, get_json, post_command, start
from tests.support import exchange, wait_for

CP = "CP-SMART-1"


def get_profiles(client, cp: str) -> tuple[int, dict]:
    return get_json(client, f"/chargepoints/{cp}/chargingProfiles")


def set_profile(connector_id: int, profile: dict) -> dict:
    return {"action": "SetChargingProfile", "payload": {"connectorId": connector_id, "csChargingProfiles": profile}}


def limits(view: dict, connector: str) -> list:
    return [(p["startPeriod"], p["limit"]) for p in view["compositeSchedule"][connector]["chargingSchedulePeriod"]]


def test_profiles_set_and_cleared_on_a_websocket_charger_are_kept_with_their_composite(gateway, client):
    now = ocpp_frames.now().replace(microsecond=0)
    at = ocpp_frames.format_timestamp(now)

    async def command(ws, body: dict, answer: dict) -> dict:
        """POST a command (once the previous one has freed the charger's slot), answer its CALL on the socket,
        wait until the answer is recorded."""

        async def posted():
            status, queued = await asyncio.to_thread(post_command, client, CP, body)
            assert status == 200 or "outstanding" in queued["Message"], queued
            return queued if status == 200 else None

        queued = await wait_for(posted, 5)
        call = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert call[:3] == [2, queued["commandId"], body["action"]]
        await ws.send(json.dumps([3, call[1], answer]))

        async def answered():
            _, view = await asyncio.to_thread(get_command, client, CP, queued["commandId"])
            return view if view["status"] == "answered" else None

        return await wait_for(answered, 5)

    async def profile_ids(wanted: list[int]) -> dict:
        """The view once the last answer's effect shows (it runs after the answer is recorded)."""

        async def shown():
            status, view = await asyncio.to_thread(get_profiles, client, CP)
            assert status == 200
            return view if [p["chargingProfileId"] for p in view["chargingProfiles"]] == wanted else None

        return await wait_for(shown, 5)

    async def scenario():
        async with connect(gateway.url + CP, subprotocols=["ocpp1.6"]) as ws:
            await exchange(ws, BOOT)
            start = {"connectorId": 1, "idTag": "TAG", "meterStart": 0, "timestamp": at}
            transaction = (await exchange(ws, [2, "s1", "StartTransaction", start]))[2]["transactionId"]
            cap = charging_profile(1, MAX_PROFILE, [(0, 11000)], unit="W", start=now)
            # 10.6 A: the schema's multipleOf 0.1, which a binary float fails, must let it through.
            default = charging_profile(2, TX_DEFAULT, [(0, 10.6)], start=now)
            tx = charging_profile(3, TX, [(0, 32), (3600, 8)], kind="Relative")
            await command(ws, set_profile(0, cap), {"status": "Accepted"})
            await command(ws, set_profile(0, default), {"status": "Accepted"})
            await command(ws, set_profile(1, tx), {"status": "Accepted"})
            # A refusal keeps nothing.
            await command(
                ws, set_profile(0, charging_profile(4, TX_DEFAULT, [(0, 6)], stack_level=3)), {"status": "Rejected"}
            )
            view = await profile_ids([1, 2, 3])
            assert [p["connectorId"] for p in view["chargingProfiles"]] == [0, 0, 1]
            assert view["chargingProfiles"][2]["transactionId"] == transaction
            # Connector 1 runs the TxProfile (from its transaction's start) under the 11 kW cap; connector 0,
            # the charge point as a whole, has the cap and the default (10.6 A x 230 V x 3 = 7314 W).
            (_, capped), (tx_change, lowered) = limits(view, "1")
            assert (capped, lowered) == (11000, 8 * 690) and 3590 <= tx_change <= 3600
            assert limits(view, "0") == [(0, 7314)]
            assert view["compositeSchedule"]["1"]["duration"] == 86400

            await command(
                ws,
                {"action": "ClearChargingProfile", "payload": {"chargingProfilePurpose": TX_DEFAULT}},
                {"status": "Accepted"},
            )
            view = await profile_ids([1, 3])
            assert limits(view, "0") == [(0, 11000)]

            # The transaction ends: its TxProfile is gone, as on the charger.
            stop = {"transactionId": transaction, "meterStop": 1000, "timestamp": at}
            assert (await exchange(ws, [2, "s2", "StopTransaction", stop]))[0] == 3
            await profile_ids([1])

            # Refused before they are sent: a rule any charger applies (400), the bound on what one keeps (409).
            status, error = await asyncio.to_thread(post_command, client, CP, set_profile(1, cap))
            assert status == 400 and "connector 0" in error["Message"]
            full = [
                {**charging_profile(n, TX_DEFAULT, [(0, 16)], stack_level=n), "connectorId": 0}
                for n in range(10, 10 + charging_profiles.MAX_PROFILES)
            ]
            await asyncio.to_thread(storage.change_charging_profiles, CP, lambda _: full)
            status, error = await asyncio.to_thread(post_command, client, CP, set_profile(0, default))
            assert status == 409 and "clear some first" in error["Message"]
            # Replacing one of them is still possible.
            replacing = charging_profile(10, TX_DEFAULT, [(0, 6)], stack_level=10)
            await command(ws, set_profile(0, replacing), {"status": "Accepted"})
            await profile_ids([*range(11, 10 + charging_profiles.MAX_PROFILES), 10])

    asyncio.run(scenario())


def test_an_unknown_charger_has_no_profiles_and_a_fresh_one_has_no_limits(client):
    assert get_profiles(client, "CP-NOBODY")[0] == 404
    assert get_profiles(client, "bad id!")[0] == 404
    client.http.post(f"/ocpp/{CP}", headers={"Content-Type": "application/json"}, body=json.dumps(BOOT))
    status, view = get_profiles(client, CP)
    assert status == 200 and view["chargingProfiles"] == []
    assert limits(view, "0") == [(0, None)]


def test_a_change_raced_by_another_is_made_again_on_the_list_that_won(aws):
    first, second = ({**charging_profile(n, TX_DEFAULT, [(0, 16)], stack_level=n), "connectorId": 0} for n in (1, 2))
    seen: list[int] = []

    def change(profiles: list[dict]) -> list[dict]:
        seen.append(len(profiles))
        if len(seen) == 1:  # another answer's effect writes between this one's read and write
            storage.change_charging_profiles(CP, lambda _: [first])
        return [*profiles, second]

    assert storage.change_charging_profiles(CP, change) == [first, second]
    assert seen == [0, 1]


def test_the_view_costs_one_request_unless_a_profile_depends_on_the_transactions(client):
    boot(CP)
    start(CP)
    storage.change_charging_profiles(CP, lambda _: [{**charging_profile(1, TX_DEFAULT, [(0, 16)]), "connectorId": 0}])
    with storage.counting_requests() as counts:
        assert get_profiles(client, CP)[0] == 200
    assert counts == {"BatchGetItem": 1}
    relative = {**charging_profile(2, TX_DEFAULT, [(0, 16)], kind="Relative", stack_level=1), "connectorId": 0}
    storage.change_charging_profiles(CP, lambda profiles: [*profiles, relative])
    with storage.counting_requests() as counts:
        assert get_profiles(client, CP)[0] == 200
    assert counts == {"BatchGetItem": 2}
