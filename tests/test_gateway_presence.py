"""Presence with several gateways on one table, over raw sockets (gateway_presence.py): a charger whose socket
was lost on one gateway, that went to another and came back within the grace, ends recorded where it is
(and takes commands there); a reconnect storm to the same gateway still writes no presence."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection, connect

from chalicelib import ocpp_gateway, storage
from tests.ocpp_builders import BOOT, post_command
from tests.support import exchange, wait_for

OCPP = ["ocpp1.6"]


@pytest.fixture
def writes(monkeypatch) -> list[tuple[str, str, bool, str, bool]]:
    """Every presence write the gateways make: (charger, gateway, online, connection, written)."""
    made: list[tuple[str, str, bool, str, bool]] = []
    real = storage.set_online

    def set_online(charge_point_id: str, online: bool, seen: str, connection_id: str, gateway_id: str = "") -> bool:
        written = real(charge_point_id, online, seen, connection_id, gateway_id)
        made.append((charge_point_id, gateway_id, online, connection_id, written))
        return written

    monkeypatch.setattr(storage, "set_online", set_online)
    return made


async def lose(ws: ClientConnection, gateway: ocpp_gateway.GatewayThread, charge_point_id: str) -> None:
    """The socket drops as a network failure drops it (no close frame), and the gateway has noticed."""
    ws.transport.abort()

    async def noticed() -> bool:
        return charge_point_id not in gateway.gateway.links

    await wait_for(noticed)


def recorded(charge_point_id: str) -> tuple[bool, str, str]:
    item = storage.get_charge_point(charge_point_id, consistent=True) or {}
    return item.get("online"), item.get("gatewayId"), item.get("connectionId")


def test_a_charger_back_from_another_gateway_within_the_grace_is_recorded_here_and_takes_commands(
    gateway, client, writes
):
    # The second gateway's grace is short, so that its late offline write comes within the test.
    other = ocpp_gateway.GatewayThread("127.0.0.1", 0, ocpp_gateway.Gateway(offline_grace=2.0))
    here, there = gateway.gateway.gateway_id, other.gateway.gateway_id

    async def scenario():
        ws = await connect(gateway.url + "CP-ROAM", subprotocols=OCPP)
        assert (await exchange(ws, BOOT))[2]["status"] == "Accepted"
        connection, booted = writes[-1][3], len(writes)  # recorded online once the boot created the charge point
        await lose(ws, gateway, "CP-ROAM")
        ws = await connect(other.url + "CP-ROAM", subprotocols=OCPP)

        async def moved() -> bool:
            return recorded("CP-ROAM")[:2] == (True, there)

        await wait_for(moved)
        await lose(ws, other, "CP-ROAM")
        ws = await connect(gateway.url + "CP-ROAM", subprotocols=OCPP)  # back within this gateway's grace

        async def reclaimed() -> bool:
            return gateway.gateway.counts["reclaimed"] == 1

        await wait_for(reclaimed)
        assert recorded("CP-ROAM") == (True, here, connection)

        async def refused_offline() -> bool:
            return writes[-1][1:3] == (there, False)

        await wait_for(refused_offline)  # the other gateway's grace ends: its offline write is refused
        elsewhere = writes[booted][3]
        assert [write[1:] for write in writes[booted:]] == [
            (there, True, elsewhere, True),
            (here, True, connection, True),
            (there, False, elsewhere, False),
        ]
        assert recorded("CP-ROAM") == (True, here, connection)
        status, queued = await asyncio.to_thread(
            post_command, client, "CP-ROAM", {"action": "Reset", "payload": {"type": "Soft"}}
        )
        assert status == 200
        assert json.loads(await asyncio.wait_for(ws.recv(), 10)) == [2, queued["commandId"], "Reset", {"type": "Soft"}]
        await ws.close()

    try:
        asyncio.run(scenario())
    finally:
        other.stop()
    assert gateway.gateway.counts["resumed"] == 1


def test_a_reconnect_storm_to_the_same_gateway_writes_no_presence(gateway, client, writes):
    chargers = [f"CP-STORM-{n}" for n in range(10)]

    async def scenario():
        sockets = [await connect(gateway.url + cp, subprotocols=OCPP) for cp in chargers]
        for ws in sockets:
            await exchange(ws, BOOT)
        booted = list(writes)
        connections = {cp: connection for cp, _, _, connection, written in booted if written}
        for ws, cp in zip(sockets, chargers, strict=True):
            await lose(ws, gateway, cp)
        with storage.counting_requests() as requests:
            sockets = [await connect(gateway.url + cp, subprotocols=OCPP) for cp in chargers]

            async def checked() -> bool:
                return gateway.gateway.counts["presenceChecked"] == len(chargers)

            await wait_for(checked)
        assert writes == booted and gateway.gateway.counts["resumed"] == len(chargers)
        # What the storm cost besides the outbox's polls: the resumed connections read back together.
        assert not {"UpdateItem", "PutItem", "TransactWriteItems"} & set(requests)
        assert 1 <= requests["BatchGetItem"] <= 2 and gateway.gateway.counts["reclaimed"] == 0
        for ws, cp in zip(sockets, chargers, strict=True):
            assert recorded(cp) == (True, gateway.gateway.gateway_id, connections[cp])
            await ws.close()

    asyncio.run(scenario())
