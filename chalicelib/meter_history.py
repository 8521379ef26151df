"""A session's meter history: the readings of MeterValues and of StopTransaction.transactionData as rows
to keep (every sampled value with its measurand, phase, context, unit and location), and as the API
shows them. One row per meterValue; its key is the reading's time and a digest of its content, so a
redelivered reading rewrites its own row and a late one sorts into its place. Signed values are kept
apart (transactions.keep_signed) and are not repeated here."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from chalicelib import charging_rules as rules
from chalicelib import ocpp_frames

# OCPP 1.6's defaults for an omitted field: left out of the stored row, filled in for the API.
DEFAULTS = {
    "context": "Sample.Periodic",
    "format": "Raw",
    "measurand": rules.ENERGY_REGISTER,
    "location": "Outlet",
    "unit": "Wh",
}
# Stored field names: a 9-value reading (energy, power, 3 currents, 3 voltages, SoC) stays under 1 KB.
_SHORT = {"value": "v", "measurand": "m", "phase": "p", "unit": "u", "context": "c", "location": "l"}
_LONG = {short: name for name, short in _SHORT.items()}
# Readings kept from one message (a frame of several MiB could carry thousands; the rest are counted):
# written in the reading's own transaction, which holds at most 100 items.
MAX_ROWS_PER_MESSAGE = 50


def rows(
    session_id: str, meter_values: list[dict], received_at: datetime, drift_seconds: int
) -> tuple[list[dict], list[rules.Anomaly]]:
    """The rows to keep for a message's meterValue list, oldest first, at most MAX_ROWS_PER_MESSAGE; a
    reading with no unsigned value keeps nothing. Its time is the one the session's totals use (the
    receive time when the charger's clock is unusable)."""
    kept: dict[str, dict] = {}
    for entry in meter_values:
        moment, _ = rules.usable_time(entry["timestamp"], received_at, drift_seconds, "meterValue.timestamp")
        values = [_compact(sampled) for sampled in entry["sampledValue"] if sampled.get("format") != "SignedData"]
        if not values:
            continue
        timestamp = ocpp_frames.format_timestamp(moment)
        text = json.dumps(values, separators=(",", ":"), sort_keys=True)
        digest = hashlib.sha256(f"{timestamp}|{text}".encode()).hexdigest()[:12]
        row = {"sessionId": session_id, "sampleKey": f"{timestamp}#{digest}", "timestamp": timestamp, "values": text}
        register = rules.latest_register_wh(rules.meter_samples([entry], received_at, drift_seconds)[0])
        kept[row["sampleKey"]] = {**row, **({"registerWh": register} if register is not None else {})}
    ordered = [kept[key] for key in sorted(kept)]
    dropped = len(ordered) - MAX_ROWS_PER_MESSAGE
    anomalies = [rules.Anomaly("historyNotKept", f"{dropped} readings beyond {MAX_ROWS_PER_MESSAGE} in one message")]
    return ordered[:MAX_ROWS_PER_MESSAGE], anomalies if dropped > 0 else []


def _compact(sampled: dict) -> dict:
    return {
        _SHORT[name]: str(value)[:64]
        for name, value in sampled.items()
        if name in _SHORT and DEFAULTS.get(name) != value
    }


def view(row: dict) -> dict:
    """A stored row as the API shows it: OCPP's MeterValue shape, every field of each value filled in."""
    values = []
    for compact in json.loads(row["values"]):
        full = {_LONG[short]: value for short, value in compact.items()}
        values.append(
            {
                "value": full["value"],
                "measurand": full.get("measurand", DEFAULTS["measurand"]),
                "phase": full.get("phase"),
                "unit": full.get("unit", DEFAULTS["unit"]),
                "context": full.get("context", DEFAULTS["context"]),
                "location": full.get("location", DEFAULTS["location"]),
            }
        )
    return {"timestamp": row["timestamp"], "sampledValue": values}
