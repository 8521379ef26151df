"""Commands to the chargers on the event bus (the simulated fleet): the central system's side.

A charger that boots over the bus holds no socket: it is reachable on the bus itself, so an accepted boot
records it online with the gateway and connection "bus". A command to it is sent at once as a CALL on the
bus (`OCPP Command`); its answer (`OCPP Command Answer`) comes back to commands.record_answer like a
WebSocket charger's. No gateway polls an outbox for it.
"""

from __future__ import annotations

from chalicelib import events, ocpp_frames, storage

BUS = "bus"  # the gatewayId and connectionId of a charger reached over the event bus


def on_bus(charge_point: dict) -> bool:
    return charge_point.get("gatewayId") == BUS


def note_boot(charge_point_id: str, raw: str | bytes | list, answer: list) -> None:
    """After the answer to a CALL that came over the bus: an accepted BootNotification makes the charger
    reachable there (1 UpdateItem, at boot only)."""
    if answer[0] != ocpp_frames.CALLRESULT:
        return  # a CALLERROR: the frame may not even decode
    if ocpp_frames.decode(raw)[2] == "BootNotification" and answer[2]["status"] == "Accepted":
        storage.set_online(charge_point_id, True, answer[2]["currentTime"], BUS, BUS)


def send(charge_point_id: str, frame: list) -> None:
    """Publish a command's CALL (already marked sent) for the charger on the bus."""
    events.publish([events.command_entry(charge_point_id, frame, ocpp_frames.now())])
