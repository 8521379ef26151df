"""The fleet's energy over time, in 5-minute intervals, computed from what is stored: each session's
energy register readings (its meter history), from its meterStart at its start to its meterStop at its
stop. The energy between two readings is spread evenly over the time between them, so a charger that
reports every 15 minutes still draws a smooth curve. Why this is computed on read and not kept as
per-interval counters moved by every MeterValues: docs/performance.md."""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib import meter_history, ocpp_frames, storage

INTERVAL_SECONDS = 300
MAX_WINDOW = timedelta(hours=24)
# How long before the window a session may have started and still deliver inside it.
LONGEST_SESSION = timedelta(hours=24)
# Sessions read for one answer (one Query each): a busier window must be asked for in smaller pieces.
MAX_SESSIONS = 2000


class WindowTooBusy(Exception):
    """More sessions overlap the window than one answer reads."""


def energy_points(start: datetime, end: datetime) -> dict:
    """{"intervalSeconds", "points": [{"start", "energyKwh", "powerKw"}]} for the intervals from the one
    holding `start` to the one holding `end`."""
    first = _floor(start)
    count = int((end - first).total_seconds() // INTERVAL_SECONDS) + 1
    until = ocpp_frames.format_timestamp(end)
    sessions = storage.sessions_started_between(
        ocpp_frames.format_timestamp(first - LONGEST_SESSION), until, MAX_SESSIONS
    )
    if sessions is None:
        raise WindowTooBusy(f"more than {MAX_SESSIONS} sessions overlap this window: ask for a shorter one")
    totals_wh = [0.0] * count
    for session in sessions:
        if session.get("stopTime", until) < ocpp_frames.format_timestamp(first):
            continue
        readings = _readings(session, until)
        for (t0, wh0), (t1, wh1) in zip(readings, readings[1:], strict=False):
            _spread(totals_wh, first, t0, t1, max(wh1 - wh0, 0))
    return {
        "intervalSeconds": INTERVAL_SECONDS,
        "points": [
            {
                "start": ocpp_frames.format_timestamp(first + timedelta(seconds=INTERVAL_SECONDS * n)),
                "energyKwh": round(wh / 1000, 3),
                "powerKw": round(wh / 1000 * 3600 / INTERVAL_SECONDS, 2),
            }
            for n, wh in enumerate(totals_wh)
        ],
    }


def _floor(moment: datetime) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % INTERVAL_SECONDS, moment.tzinfo)


def _readings(session: dict, until: str) -> list[tuple[datetime, int]]:
    """The session's register over time: meterStart, every applied reading (a register lower than one
    before it is left out: it did not deliver energy), meterStop."""
    points = [(session["startTime"], int(session["meterStart"]))]
    points += meter_history.registers(session, until)
    if session.get("meterStop") is not None and session.get("stopTime", "~") <= until:
        points.append((session["stopTime"], int(session["meterStop"])))
    rising: list[tuple[datetime, int]] = []
    for timestamp, wh in sorted(points):
        if not rising or wh >= rising[-1][1]:
            rising.append((ocpp_frames.parse_timestamp(timestamp), wh))
    return rising


def _spread(totals_wh: list[float], first: datetime, t0: datetime, t1: datetime, wh: int) -> None:
    """Add `wh`, delivered evenly from t0 to t1, to the intervals it overlaps (those in the window)."""
    if wh <= 0:
        return
    seconds = (t1 - t0).total_seconds()
    last = int((t1 - first).total_seconds() // INTERVAL_SECONDS)
    if seconds <= 0:
        if 0 <= last < len(totals_wh):
            totals_wh[last] += wh
        return
    for index in range(
        max(int((t0 - first).total_seconds() // INTERVAL_SECONDS), 0), min(last, len(totals_wh) - 1) + 1
    ):
        low = max(first + timedelta(seconds=INTERVAL_SECONDS * index), t0)
        high = min(first + timedelta(seconds=INTERVAL_SECONDS * (index + 1)), t1)
        totals_wh[index] += wh * max((high - low).total_seconds(), 0) / seconds
