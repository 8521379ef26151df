"""How a simulated charge point answers the central system's commands (RemoteStartTransaction, Reset,
...), the way a real one does: RemoteStart -> Accepted, then Authorize and StartTransaction; RemoteStop
-> Accepted, then StopTransaction; Reset -> Accepted, its transactions stopped, then a reboot. Only the
WebSocket transport delivers commands (scripts/ws_chargers.py); the bus simulator has no command path."""

from __future__ import annotations

from chalicelib import charger_model, ocpp_frames, simulated_charger
from chalicelib.simulated_charger import Charger

# Configuration keys a command may change; the others are read-only.
READ_WRITE_KEYS = ("HeartbeatInterval",)


class CommandRefused(Exception):
    """A central-system CALL this charger answers with a CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code


def answer(charger: Charger, action: str, payload: dict) -> dict:
    """The CALLRESULT payload for a command from the central system, the way a charger answers it."""
    handler = {
        "RemoteStartTransaction": _remote_start,
        "RemoteStopTransaction": _remote_stop,
        "Reset": _reset,
        "ChangeAvailability": _change_availability,
        "UnlockConnector": _unlock,
        "TriggerMessage": _trigger,
        "ChangeConfiguration": _change_configuration,
        "GetConfiguration": _get_configuration,
    }.get(action)
    if handler is None:
        code = "NotSupported" if action in ocpp_frames.CENTRAL_SYSTEM_ACTIONS else "NotImplemented"
        raise CommandRefused(code, f"{action} is not supported by this simulated charger")
    return handler(charger, payload)


def _connectors_with_tx(charger: Charger) -> dict[str, dict]:
    return {c: e for c, e in charger.state["connectors"].items() if e["tx"]}


def _remote_start(charger: Charger, payload: dict) -> dict:
    connectors = charger.state["connectors"]
    wanted = (
        str(payload["connectorId"])
        if "connectorId" in payload
        else next((c for c, e in connectors.items() if e["status"] == "Available"), None)
    )
    if charger.state["boot"] != "accepted" or wanted is None or wanted not in connectors:
        return {"status": "Rejected"}
    if connectors[wanted]["status"] != "Available":
        return {"status": "Rejected"}
    charger.plug_in(wanted, payload["idTag"])
    return {"status": "Accepted"}


def _remote_stop(charger: Charger, payload: dict) -> dict:
    for connector, entry in _connectors_with_tx(charger).items():
        if entry["tx"]["txId"] == payload["transactionId"]:
            charger.stop(connector, "Remote")
            return {"status": "Accepted"}
    return {"status": "Rejected"}


def _reset(charger: Charger, payload: dict) -> dict:
    for connector in _connectors_with_tx(charger):
        charger.stop(connector, "HardReset" if payload["type"] == "Hard" else "SoftReset")
    charger.reboot()
    return {"status": "Accepted"}


def _change_availability(charger: Charger, payload: dict) -> dict:
    connectors = charger.state["connectors"]
    chosen = list(connectors) if payload["connectorId"] == 0 else [str(payload["connectorId"])]
    if any(c not in connectors for c in chosen):
        return {"status": "Rejected"}
    target = "Unavailable" if payload["type"] == "Inoperative" else "Available"
    idle = [c for c in chosen if connectors[c]["status"] in ("Available", "Unavailable")]
    for connector in idle:
        connectors[connector]["status"] = target  # reported by the next tick's StatusNotification
    return {"status": "Accepted" if len(idle) == len(chosen) else "Scheduled"}


def _unlock(charger: Charger, payload: dict) -> dict:
    connector = str(payload["connectorId"])
    if connector not in charger.state["connectors"]:
        return {"status": "NotSupported"}
    if charger.state["connectors"][connector]["tx"]:
        charger.stop(connector, "UnlockCommand")
    return {"status": "Unlocked"}


def _trigger(charger: Charger, payload: dict) -> dict:
    try:
        charger.force(payload["requestedMessage"])
    except simulated_charger.NotPossible:
        return {"status": "Rejected"}
    return {"status": "Accepted"}


def _configuration(charger: Charger) -> dict[str, tuple[str, bool]]:
    return {
        "HeartbeatInterval": (str(charger.state["heartbeatInterval"]), False),
        "MeterValueSampleInterval": (str(charger_model.SAMPLE_SECONDS), True),
        "NumberOfConnectors": (str(len(charger.state["connectors"])), True),
    }


def _change_configuration(charger: Charger, payload: dict) -> dict:
    known = _configuration(charger)
    if payload["key"] not in known:
        return {"status": "NotSupported"}
    if payload["key"] not in READ_WRITE_KEYS or not payload["value"].isdigit() or int(payload["value"]) < 1:
        return {"status": "Rejected"}
    charger.state["heartbeatInterval"] = int(payload["value"])
    return {"status": "Accepted"}


def _get_configuration(charger: Charger, payload: dict) -> dict:
    known = _configuration(charger)
    wanted = payload.get("key") or list(known)
    return {
        "configurationKey": [{"key": k, "value": known[k][0], "readonly": known[k][1]} for k in wanted if k in known],
        **({"unknownKey": unknown} if (unknown := [k for k in wanted if k not in known]) else {}),
    }
