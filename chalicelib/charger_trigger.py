"""A simulated charge point sends one message on demand: POST /simulate with a messageType, and the central
system's TriggerMessage (which names a connector, or none for all of them)."""

from __future__ import annotations

from chalicelib import charger_maintenance, charger_messages, charger_transactions
from chalicelib.simulated_charger import Charger, NotPossible

FORCEABLE = (
    "BootNotification",
    "Heartbeat",
    "StatusNotification",
    "MeterValues",
    "Authorize",
    "StartTransaction",
    "StopTransaction",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
)


def force(charger: Charger, action: str, connector_id: int | None = None) -> None:
    """Send one message of this type now; with a connector id, about that connector only."""
    moment, connectors = charger.moment, charger.state["connectors"]
    chosen = list(connectors) if connector_id is None else [str(connector_id)]
    if any(c not in connectors for c in chosen):
        raise NotPossible(f"{charger.state['id']} has no connector {connector_id}")
    known = [c for c in chosen if connectors[c]["tx"] and connectors[c]["tx"]["txId"] is not None]
    if action == "BootNotification":
        charger.boot(moment)
    elif action == "Heartbeat":
        charger.send("Heartbeat", {})
    elif action == "StatusNotification":
        charger.report_status(chosen[0], moment)
    elif action == "Authorize":
        charger.send("Authorize", {"idTag": f"DEMO-TAG-{charger.rng.randint(1, 20):02d}"})
    elif action == "DataTransfer":
        charger.send("DataTransfer", charger_messages.charger_info(charger.state))
    elif action == "DiagnosticsStatusNotification":
        # A diagnostics upload finishes within the command that asked for it: between commands it is Idle.
        charger.send(action, {"status": "Idle"})
    elif action == "FirmwareStatusNotification":
        charger.send(action, {"status": charger_maintenance.firmware_status(charger.state)})
    elif action == "StartTransaction":
        free = [c for c in chosen if connectors[c]["status"] == "Available"]
        if not free:
            raise NotPossible(f"{charger.state['id']} has no Available connector to start a transaction on")
        charger_transactions.plug_in_car(charger, free[0], moment)
        charger_transactions.start_transaction(charger, free[0], moment)
    elif action == "MeterValues":
        if known:
            tx_id = connectors[known[0]]["tx"]["txId"]
            charger.send("MeterValues", {**charger.meter_values(known[0], moment, 0.0), "transactionId": tx_id})
        else:
            charger.send("MeterValues", charger.meter_values(chosen[0], moment, 0.0))
    elif action == "StopTransaction":
        if not known:
            raise NotPossible(f"{charger.state['id']} has no transaction with a known transactionId to stop")
        charger_transactions.stop(charger, known[0], "Local")
