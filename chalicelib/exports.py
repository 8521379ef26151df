"""The billing export: every completed session whose stop is in a time range, as RFC 4180 CSV rows.

Rows are produced one at a time from a paged Query (storage.completed_sessions holds one page), with
the figures of views.session_view, so the export says exactly what GET /sessions says. No HTTP here:
rest.py turns a bad range or a body over the size limit into 400 and 413."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib import ocpp_frames, storage, views

MAX_RANGE = timedelta(days=366)
# API Gateway's REST API takes a Lambda's answer only up to 6 MB, JSON-encoded ("\r\n" is 4 characters
# there): 5 MB of encoded body leaves room for the envelope. About 30,000 sessions at ~160 bytes a row.
MAX_BODY_CHARS = 5_000_000
PAGE_SIZE = 100  # the most keys one BatchGetItem takes
# Stored times are UTC at millisecond precision (ocpp_frames.format_timestamp): a range ends 1 ms before `to`.
_MILLISECOND = timedelta(milliseconds=1)

COLUMNS = (
    "sessionId",
    "transactionId",
    "chargePointId",
    "connectorId",
    "idTag",
    "startTime",
    "stopTime",
    "energyKwh",
    "cost",
    "currency",
    "stopReason",
    "anomalies",
)
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class InvalidRange(Exception):
    """from/to missing, not ISO 8601, in the wrong order, or too far apart."""


class ExportTooLarge(Exception):
    """The range holds more than one response can carry."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime  # included
    end: datetime  # excluded

    @property
    def filename(self) -> str:
        return f"sessions_{self.start:%Y%m%dT%H%M%SZ}_{self.end:%Y%m%dT%H%M%SZ}.csv"


def _moment(value: str | None, name: str) -> datetime:
    if not value:
        raise InvalidRange(f"{name} is required: an ISO 8601 date or date-time, e.g. 2026-12-01 or 2026-12-01T00:00Z")
    try:
        # Python 3.11 reads any ISO 8601 date or date-time (a Z too); a bare date is that day's midnight.
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # no offset: UTC, as OCPP times without one are taken
            moment = moment.replace(tzinfo=UTC)
        # Milliseconds, as every stored time: a range must select exactly what its ends say.
        return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)
    except (ValueError, OverflowError):  # overflow: an offset that moves year 1 or 9999 out of range
        hint = " (a + in a URL is a space: send it as %2B)" if " " in value else ""
        raise InvalidRange(f"{name} is not an ISO 8601 date or date-time: {value[:40]!r}{hint}") from None


def time_range(start: str | None, end: str | None) -> TimeRange:
    """[from, to) from the query's strings."""
    first, after = _moment(start, "from"), _moment(end, "to")
    if first > after:
        raise InvalidRange(f"from ({start}) is after to ({end})")
    if after - first > MAX_RANGE:
        raise InvalidRange(f"from and to are at most {MAX_RANGE.days} days apart: export a year at a time")
    return TimeRange(first, after)


def _text(value: object) -> str:
    """A charger-controlled text as a cell no spreadsheet runs: a leading formula character gets a
    single quote before it (OWASP). The quote is shown, and no data is lost."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def row(view: dict) -> list[str]:
    """A session's row, from its API view: the same figures as GET /sessions."""
    counts = view["anomalies"]["counts"]
    return [
        view["sessionId"],
        str(view["transactionId"]),
        _text(view["chargePointId"]),
        str(view["connectorId"]),
        _text(view["idTag"]),
        view["startTime"],
        view["stopTime"],
        f"{view['currentEnergy']:.3f}",
        f"{view['cost']:.2f}",
        _text(view["currency"]),
        _text(view["stopReason"]),
        _text(";".join(f"{reason}={count}" for reason, count in sorted(counts.items()))),
    ]


def _line(cells: list[str] | tuple[str, ...]) -> str:
    buffer = io.StringIO()
    # QUOTE_MINIMAL quotes a cell holding a comma, a quote (doubled) or a CR or LF: RFC 4180.
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()


def lines(period: TimeRange, page_size: int = PAGE_SIZE) -> Iterator[str]:
    """The header, then one CSV line per completed session stopped in the range, oldest stop first."""
    yield _line(COLUMNS)
    if period.end == period.start:
        return
    first = ocpp_frames.format_timestamp(period.start)
    last = ocpp_frames.format_timestamp(period.end - _MILLISECOND)
    for item in storage.completed_sessions(first, last, page_size):
        yield _line(row(views.session_view(item)))


def body(period: TimeRange) -> str:
    """The whole CSV, refused (ExportTooLarge) as soon as its JSON-encoded size would pass MAX_BODY_CHARS:
    no more is read from the table after that, and memory stays bounded by that size."""
    limit = MAX_BODY_CHARS
    out = io.StringIO()
    size = 0
    for line in lines(period):
        size += len(json.dumps(line)) - 2  # the line as Lambda's JSON answer carries it
        if size > limit:
            raise ExportTooLarge(
                f"the sessions stopped from {period.start.isoformat()} to {period.end.isoformat()} make more than"
                f" {limit:,} bytes of CSV, more than one answer carries: export a shorter range"
            )
        out.write(line)
    return out.getvalue()
