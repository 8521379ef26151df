"""A session's meter history: the readings of MeterValues and of StopTransaction.transactionData (every
sampled value with its measurand, phase, context, unit and location), as they are stored and as the API
shows them. A reading is a row keyed by its time and a digest of its content. An applied reading is kept
compactly on its session item, in the MeterValues' own UpdateItem (its values only; the fixed part of
the values, their shape, once per session), and moved to a chunk item of several readings when that
buffer is full; a reading not applied (late, after the stop, a stop's transactionData) is a row of its
own. The read side merges the three by key, so a reading stored twice shows once. Signed values are
kept apart (transactions.keep_signed) and are not repeated here.

Retention (METER_HISTORY_RETENTION_DAYS, 0: forever): a row or a chunk expires that many days after its
newest reading's time, not after it was written, so a late upload of old readings goes with its peers.
DynamoDB's TTL deletes it (within days); the read side shows none past its time, nor a buffer still on
its session whose newest reading is."""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime, timedelta

from chalicelib import charging_rules as rules
from chalicelib import ocpp_frames, settings, storage

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
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Session attributes of the buffer: a reading ("r~" + its time and 2 characters of its digest) and a
# shape ("s~" + 6 characters of its digest: a session has a few shapes, two alike would mix readings up).
READING, SHAPE = "r~", "s~"
# The session item stays under 1 KB (1 write unit per MeterValues) and a chunk item too.
ITEM_BUDGET = 1000
# What the TTL attribute adds to a chunk item (a 10-digit epoch second), within ITEM_BUDGET.
_EXPIRY_BYTES = storage.item_bytes({storage.HISTORY_EXPIRES_AT: 9_999_999_999})
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
        row = {**_row(session_id, ocpp_frames.format_timestamp(moment), values), **expiry(moment)}
        kept[row["sampleKey"]] = row
    ordered = [kept[key] for key in sorted(kept)]
    dropped = len(ordered) - MAX_ROWS_PER_MESSAGE
    anomalies = [rules.Anomaly("historyNotKept", f"{dropped} readings beyond {MAX_ROWS_PER_MESSAGE} in one message")]
    return ordered[:MAX_ROWS_PER_MESSAGE], anomalies if dropped > 0 else []


def expiry(newest: datetime) -> dict[str, int]:
    """The TTL attribute of a history item whose newest reading is at `newest`; none when kept forever.
    One already past its retention when written (a charger's clock years behind) expires now: DynamoDB's
    TTL passes over times more than five years past."""
    days = settings.get().meter_history_retention_days
    if not days:
        return {}
    return {storage.HISTORY_EXPIRES_AT: int(max(newest + timedelta(days=days), ocpp_frames.now()).timestamp())}


def _expired(item: dict, now: datetime) -> bool:
    expires = item.get(storage.HISTORY_EXPIRES_AT)
    return expires is not None and expires <= now.timestamp()


def past_retention(newest: datetime, now: datetime) -> bool:
    """Whether readings up to `newest` are past the retention at `now` (never when kept forever)."""
    days = settings.get().meter_history_retention_days
    return bool(days) and newest + timedelta(days=days) <= now


def newest_reading(item: dict) -> datetime:
    """The time of a stored history item's newest reading, which its expiry counts from: a row's own, a
    chunk's latest (the time its writer gave `expiry`)."""
    return _newest(list(item["readings"])) if "readings" in item else ocpp_frames.parse_timestamp(item["timestamp"])


def _row(session_id: str, timestamp: str, values: list[dict]) -> dict:
    text = _text(values)
    digest = hashlib.sha256(f"{timestamp}|{text}".encode()).hexdigest()[:12]
    return {"sessionId": session_id, "sampleKey": f"{timestamp}#{digest}", "timestamp": timestamp, "values": text}


def _text(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


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


# --- the buffer on the session item and its chunks -------------------------------------------------


def buffered(history: list[dict]) -> dict[str, str]:
    """A message's rows as session attributes: per reading (named by its time in milliseconds, base 36,
    and 2 characters of its digest) its shape's id and its values; per shape (the values' measurands,
    phases, units, contexts and locations) its code. A 3-value reading takes about 35 bytes."""
    attributes = {}
    for row in history:
        values = json.loads(row["values"])
        shape = _shape_code(values)
        shape_id = hashlib.sha256(shape.encode()).hexdigest()[:6]
        attributes[SHAPE + shape_id] = shape
        name = f"{READING}{_base36(_millis(row['timestamp']))}{row['sampleKey'][-2:]}"
        attributes[name] = f"{shape_id} {_packed([value['v'] for value in values])}"
    return attributes


def _millis(timestamp: str) -> int:
    return (ocpp_frames.parse_timestamp(timestamp) - _EPOCH) // timedelta(milliseconds=1)


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, digit = divmod(number, 36)
        digits = _DIGITS[digit] + digits
        if not number:
            return digits


def _timestamp(name: str) -> str:
    return ocpp_frames.format_timestamp(_EPOCH + timedelta(milliseconds=int(name[len(READING) : -2], 36)))


def _packed(values: list[str]) -> str:
    """Values joined by commas; as JSON when one of them could not be told apart that way."""
    if any("," in value for value in values) or values[0].startswith("["):
        return _text(values)
    return ",".join(values)


def _unpacked_values(text: str) -> list[str]:
    return json.loads(text) if text.startswith("[") else text.split(",")


@functools.cache
def _enums() -> list[tuple[str, list[str]]]:
    """The enumerations of a sampled value's fields in the official 1.6 schema (which every reading has
    passed): a field is stored as its position there, so a 9-value shape takes 45 bytes, not 250."""
    schema = ocpp_frames.request_schema("MeterValues")["properties"]["meterValue"]["items"]
    fields = schema["properties"]["sampledValue"]["items"]["properties"]
    return [(short, fields[name]["enum"]) for name, short in _SHORT.items() if name != "value"]


def _shape_code(values: list[dict]) -> str:
    """One character per field of each value: its position in the enumeration, "0" when left out."""
    return "".join(
        _DIGITS[enum.index(value[short]) + 1 if short in value else 0] for value in values for short, enum in _enums()
    )


def _shape_fields(code: str) -> list[dict]:
    width = len(_enums())
    return [
        {
            short: enum[_DIGITS.index(char) - 1]
            for char, (short, enum) in zip(code[n : n + width], _enums(), strict=True)
            if char != "0"
        }
        for n in range(0, len(code), width)
    ]


def flush_if_full(session: dict) -> None:
    """Once another reading like the largest buffered would take the session item (or the chunk) past
    ITEM_BUDGET, the buffer moves to a chunk item: 1 PutItem + 1 UpdateItem every few readings."""
    readings = {name: value for name, value in session.items() if name.startswith(READING)}
    if not readings:
        return
    shapes = {shape_id: session[SHAPE + shape_id] for shape_id in {_shape_id(value) for value in readings.values()}}
    largest = max(len(name) + len(value) for name, value in readings.items())
    # + keys, map overhead and the TTL attribute
    chunk_bytes = storage.item_bytes(readings) + storage.item_bytes(shapes) + 100 + _EXPIRY_BYTES
    if max(storage.item_bytes(session), chunk_bytes) + largest <= ITEM_BUDGET:
        return
    names = sorted(readings)
    first = min(_timestamp(name) for name in names)
    key = f"{first}#chunk-{hashlib.sha256(' '.join(names).encode()).hexdigest()[:8]}"
    chunk = {"sampleKey": key, "readings": readings, "shapes": shapes, **expiry(_newest(names))}
    storage.flush_buffer(session["sessionId"], chunk, names)


def _newest(names: list[str]) -> datetime:
    return ocpp_frames.parse_timestamp(max(_timestamp(name) for name in names))


def _shape_id(reading: str) -> str:
    return reading.split(" ", 1)[0]


def _unpacked(session_id: str, readings: dict[str, str], shapes: dict[str, str]) -> list[dict]:
    rows = []
    for name, reading in readings.items():
        shape_id, values = reading.split(" ", 1)
        fields = _shape_fields(shapes[shape_id])
        compact = [{**f, "v": v} for f, v in zip(fields, _unpacked_values(values), strict=True)]
        rows.append(_row(session_id, _timestamp(name), compact))
    return rows


def applied(session: dict, rows: list[dict]) -> bool:
    """Whether every one of a message's rows is a reading applied already: in the buffer on the session
    (as read) or in one of its chunks (1 strongly consistent Query per MB, only when the buffer does not
    hold them all; a chunk is written before its readings leave the session, so none slips between the
    two reads). Rows of their own (late readings) do not count: they were never applied."""
    wanted = {row["sampleKey"] for row in rows}
    session_id = session["sessionId"]
    shapes = {name.removeprefix(SHAPE): value for name, value in session.items() if name.startswith(SHAPE)}
    buffer = {name: value for name, value in session.items() if name.startswith(READING)}
    held = {row["sampleKey"] for row in _unpacked(session_id, buffer, shapes)}
    if wanted <= held:
        return True
    for chunk in [item for item in storage.history_items(session_id, consistent=True) if "readings" in item]:
        held |= {row["sampleKey"] for row in _unpacked(session_id, chunk["readings"], chunk["shapes"])}
    return wanted <= held


def readings(session: dict, items: list[dict], now: datetime) -> list[dict]:
    """Every reading of a session once, in time order: its history items (rows and chunks) and the
    buffer on its item, those expired at `now` left out (the buffer as the chunk it would become)."""
    session_id = session["sessionId"]
    found = {}
    live = [item for item in items if not _expired(item, now)]
    chunks = [item for item in live if "readings" in item]
    for item in [row for row in live if "readings" not in row]:
        found[item["sampleKey"]] = item
    buffer = {name: value for name, value in session.items() if name.startswith(READING)}
    if buffer and not past_retention(_newest(list(buffer)), now):
        shapes = {name.removeprefix(SHAPE): value for name, value in session.items() if name.startswith(SHAPE)}
        chunks.append({"readings": buffer, "shapes": shapes})
    for chunk in chunks:
        for row in _unpacked(session_id, chunk["readings"], chunk["shapes"]):
            found[row["sampleKey"]] = row
    return [found[key] for key in sorted(found)]


def page(session: dict, limit: int, start: dict | None) -> storage.Page:
    """A page of a session's readings after `start` (a key {sessionId, sampleKey} as DynamoDB writes it):
    the session's whole history is read (1 Query per 1 MB) and merged."""
    after = ((start or {}).get("sampleKey") or {}).get("S", "")
    items = storage.history_items(session["sessionId"])
    rows = [row for row in readings(session, items, ocpp_frames.now()) if row["sampleKey"] > after]
    last = rows[limit - 1]["sampleKey"] if len(rows) > limit else None
    key = {"sessionId": {"S": session["sessionId"]}, "sampleKey": {"S": last}} if last else None
    return storage.Page(rows[:limit], key)
