"""How a simulated charge point answers the central system's commands, the way a real one does: the answer
first, then what it does about it as ordinary CALLs (RemoteStart -> Accepted, then Authorize and
StartTransaction; RemoteStop -> StopTransaction reason Remote; Reset -> its transactions stopped, then a
reboot). Every one of the 19 commands of OCPP 1.6 is answered here; connectors and reservations are
charger_connectors.py, configuration and the local list charger_config.py, firmware and diagnostics
charger_maintenance.py, charging profiles charger_smart.py. Both transports use it: the bus simulator
(simulator.py) and the WebSocket chargers (scripts/ws_chargers.py)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib import (
    charger_config,
    charger_connectors,
    charger_maintenance,
    charger_messages,
    charger_smart,
    charger_transactions,
    charger_trigger,
    ocpp_frames,
)
from chalicelib.simulated_charger import Charger, NotPossible


class CommandRefused(Exception):
    """A central-system CALL this charger answers with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


def answer(charger: Charger, action: str, payload: dict) -> dict:
    """The CALLRESULT payload for a command from the central system, the way a charger answers it."""
    handler = HANDLERS.get(action)
    if handler is None:
        code = "NotSupported" if action in ocpp_frames.CENTRAL_SYSTEM_ACTIONS else "NotImplemented"
        raise CommandRefused(code, f"{action} is not supported by this simulated charger")
    return handler(charger, payload)


def answer_frame(charger: Charger, frame: list) -> list:
    """The answer to a command's CALL frame: a CALLRESULT, or the CALLERROR a charger sends for a command it
    cannot take (a payload the official schema refuses, an action it does not know)."""
    _, unique_id, action, payload = frame
    try:
        if action in ocpp_frames.CENTRAL_SYSTEM_ACTIONS:
            ocpp_frames.validate(ocpp_frames.CALL, action, payload, unique_id)
        result = answer(charger, action, payload)
    except ocpp_frames.FrameError as error:
        return error.frame()
    except CommandRefused as refused:
        return ocpp_frames.call_error(unique_id, refused.code, str(refused))
    try:
        ocpp_frames.validate(ocpp_frames.CALLRESULT, action, result, unique_id)
    except ocpp_frames.FrameError as error:
        return ocpp_frames.call_error(unique_id, "InternalError", error.description)
    return ocpp_frames.call_result(unique_id, result)


def _connectors_with_tx(charger: Charger) -> dict[str, dict]:
    return {c: e for c, e in charger.state["connectors"].items() if e["tx"]}


def _startable(entry: dict, id_tag: str) -> bool:
    return entry["status"] == "Available" or (
        entry["status"] == "Reserved" and charger_connectors.reserved_for(entry, id_tag)
    )


def _remote_start(charger: Charger, payload: dict) -> dict:
    """On the connector named, or the one reserved for this idTag, or the first free one."""
    connectors, id_tag = charger.state["connectors"], payload["idTag"]
    if "connectorId" in payload:
        wanted: str | None = str(payload["connectorId"])
    else:
        reserved = [c for c, e in connectors.items() if e["status"] == "Reserved" and _startable(e, id_tag)]
        wanted = next(iter(reserved + [c for c, e in connectors.items() if e["status"] == "Available"]), None)
    if charger.state["boot"] != "accepted" or wanted is None or wanted not in connectors:
        return {"status": "Rejected"}
    profile = payload.get("chargingProfile")
    if not _startable(connectors[wanted], id_tag) or (profile and profile["chargingProfilePurpose"] != "TxProfile"):
        return {"status": "Rejected"}
    if profile:
        connectors[wanted]["remoteProfile"] = profile  # the transaction's own, once it has an id
    charger_transactions.plug_in(charger, wanted, id_tag)
    return {"status": "Accepted"}


def _remote_stop(charger: Charger, payload: dict) -> dict:
    for connector, entry in _connectors_with_tx(charger).items():
        if entry["tx"]["txId"] == payload["transactionId"]:
            charger_transactions.stop(charger, connector, "Remote")
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def _reset(charger: Charger, payload: dict) -> dict:
    for connector in _connectors_with_tx(charger):
        charger_transactions.stop(charger, connector, "HardReset" if payload["type"] == "Hard" else "SoftReset")
    charger.reboot()
    return {"status": "Accepted"}


def _trigger(charger: Charger, payload: dict) -> dict:
    """Accepted, then the message; a StatusNotification for no connector is one for each of them."""
    requested, connector_id = payload["requestedMessage"], payload.get("connectorId") or None
    if connector_id is not None and str(connector_id) not in charger.state["connectors"]:
        return {"status": "Rejected"}
    try:
        if requested == "StatusNotification" and connector_id is None:
            for connector in charger.state["connectors"]:
                charger_trigger.force(charger, requested, int(connector))
        else:
            charger_trigger.force(charger, requested, connector_id)
    except NotPossible:
        return {"status": "Rejected"}
    return {"status": "Accepted"}


def _clear_cache(charger: Charger, payload: dict) -> dict:
    # It keeps no authorization cache (AuthorizationCacheEnabled false): there is nothing left to clear.
    return {"status": "Accepted"}


def _data_transfer(charger: Charger, payload: dict) -> dict:
    """It knows the central system's own vendorId, and answers its information message with itself."""
    if payload["vendorId"] != ocpp_frames.INFO_VENDOR_ID:
        return {"status": "UnknownVendorId"}
    if payload.get("messageId", ocpp_frames.INFO_MESSAGE_ID) != ocpp_frames.INFO_MESSAGE_ID:
        return {"status": "UnknownMessageId"}
    return {"status": "Accepted", "data": charger_messages.charger_info(charger.state)["data"]}


HANDLERS: dict[str, Callable[[Charger, dict], dict]] = {
    "RemoteStartTransaction": _remote_start,
    "RemoteStopTransaction": _remote_stop,
    "Reset": _reset,
    "TriggerMessage": _trigger,
    "ClearCache": _clear_cache,
    "DataTransfer": _data_transfer,
    **charger_connectors.HANDLERS,
    **charger_config.HANDLERS,
    **charger_maintenance.HANDLERS,
    **charger_smart.HANDLERS,
}
