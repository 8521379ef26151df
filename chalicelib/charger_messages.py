"""What a simulated charge point says: the payloads of its OCPP 1.6 CALLs, built from its stored state.
Times in payloads are wall-clock times, given by the caller (simulated_charger.py maps simulated time)."""

from __future__ import annotations

import json
from datetime import datetime

from chalicelib import ocpp_frames
from chalicelib.ocpp_frames import format_timestamp as iso

FACTORY_FIRMWARE = "1.6.4"


def boot(state: dict) -> dict:
    profile = state["profile"]
    return {
        "chargePointVendor": profile["vendor"],
        "chargePointModel": profile["model"],
        "chargePointSerialNumber": f"SN-{state['id']}",
        "firmwareVersion": state.get("firmwareVersion", FACTORY_FIRMWARE),
    }


def charger_info(state: dict) -> dict:
    """The DataTransfer that tells the central system where the charger is and what it can do."""
    profile = state["profile"]
    return {
        "vendorId": ocpp_frames.INFO_VENDOR_ID,
        "messageId": ocpp_frames.INFO_MESSAGE_ID,
        "data": json.dumps({k: profile[k] for k in ("location", "maxPower", "connectors")}),
    }


def status(connector_id: int, connector_status: str, wall: datetime, error_code: str = "NoError") -> dict:
    return {"connectorId": connector_id, "status": connector_status, "errorCode": error_code, "timestamp": iso(wall)}


def _sample(value: str, measurand: str, unit: str, location: str = "Outlet") -> dict:
    return {"value": value, "context": "Sample.Periodic", "measurand": measurand, "location": location, "unit": unit}


def meter_values(connector: str, entry: dict, wall: datetime, power_w: float) -> dict:
    """A periodic sample of a connector: its energy register, the power drawn and the car's SoC if one is there."""
    sampled = [
        _sample(str(entry["meterWh"]), "Energy.Active.Import.Register", "Wh"),
        _sample(f"{power_w:.0f}", "Power.Active.Import", "W"),
    ]
    if entry["car"]:
        sampled.append(_sample(f"{entry['car']['soc']:.1f}", "SoC", "Percent", location="EV"))
    return {"connectorId": int(connector), "meterValue": [{"timestamp": iso(wall), "sampledValue": sampled}]}


def start_transaction(connector: str, entry: dict, wall: datetime, reservation_id: int | None = None) -> dict:
    return {
        "connectorId": int(connector),
        "idTag": entry["idTag"],
        "meterStart": entry["meterWh"],
        "timestamp": iso(wall),
        **({} if reservation_id is None else {"reservationId": reservation_id}),
    }


def stop_transaction(entry: dict, wall: datetime, reason: str) -> dict:
    """Without its transactionId: that is added when it is known (see charger_transactions.py)."""
    return {"idTag": entry["idTag"], "meterStop": entry["meterWh"], "timestamp": iso(wall), "reason": reason}
