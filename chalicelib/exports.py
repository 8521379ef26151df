"""The billing export: every completed session whose stop is in a time range, as RFC 4180 CSV rows.

Rows are produced one at a time from a paged Query (storage.completed_sessions holds one page), with
the figures of views.session_view, so the export says exactly what GET /sessions says. An export that
ends quickly and fits one answer is answered inline; any other is a job (export_jobs.py) whose worker writes
it a part at a time to a file (storage.files: S3 multipart, or a local file), in as many steps (workers) as
it takes, each resuming after the last part the one before wrote. No HTTP here: rest_exports.py does the
statuses."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib import ocpp_frames, settings, storage, url_tokens, views
from chalicelib.storage import files

MAX_RANGE = timedelta(days=366)
# API Gateway's REST API takes a Lambda's answer only up to 6 MB, JSON-encoded ("\r\n" is 4 characters
# there): 5 MB of encoded body leaves room for the envelope. About 30,000 sessions at ~160 bytes a row.
MAX_BODY_CHARS = 5_000_000
PAGE_SIZE = 100  # the most keys one BatchGetItem takes
PROGRESS_SECONDS = 2.0  # how often the worker records the rows read and bytes written so far (1 UpdateItem)
# Stored times are UTC at millisecond precision (ocpp_frames.format_timestamp): a range ends 1 ms before `to`.
_MILLISECOND = timedelta(milliseconds=1)
clock = time.monotonic  # the export's own clock: the tests move it by hand

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


def _keyed_lines(
    period: TimeRange, page_size: int, header: bool = True, after: tuple[str, str] | None = None
) -> Generator[tuple[tuple[str, str] | None, str], None, None]:
    """The CSV lines, each with the (stopTime, sessionId) of its session (None for the header); the
    sessions after `after` only (an export's next step, whose file has the header already)."""
    if header:
        yield None, _line(COLUMNS)
    if period.end == period.start:
        return
    first = ocpp_frames.format_timestamp(period.start)
    last = ocpp_frames.format_timestamp(period.end - _MILLISECOND)
    for item in storage.completed_sessions(first, last, page_size, after):
        yield (item["stopTime"], item["sessionId"]), _line(row(views.session_view(item)))


def lines(period: TimeRange, page_size: int = PAGE_SIZE) -> Generator[str, None, None]:
    """The header, then one CSV line per completed session stopped in the range, oldest stop first."""
    with contextlib.closing(_keyed_lines(period, page_size)) as keyed:
        for _, line in keyed:
            yield line


def inline(period: TimeRange, page_size: int = PAGE_SIZE) -> str | None:
    """The CSV, when the export ends within EXPORT_INLINE_SECONDS, inside one part (EXPORT_PART_BYTES) and
    fits an answer; None as soon as it cannot (what was read is dropped: the worker writes the file from
    the start). At most one part of CSV and one page of sessions are held."""
    current = settings.get()
    deadline = clock() + current.export_inline_seconds
    part: list[str] = []
    part_bytes = answer_chars = 0  # answer_chars: the CSV as Lambda's JSON answer carries it
    with contextlib.closing(lines(period, page_size)) as rows:
        for line in rows:
            part.append(line)
            part_bytes += len(line.encode())
            answer_chars += len(json.dumps(line)) - 2
            too_big = part_bytes >= current.export_part_bytes or answer_chars > MAX_BODY_CHARS
            if too_big or clock() > deadline:
                return None
    return "".join(part)


class TooLong(Exception):
    """A step of the worker ran out of time before it wrote a single part."""


@dataclass(frozen=True)
class Written:
    """A complete export file: its rows (the header not counted) and bytes."""

    file_name: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class Cursor:
    """Where an unfinished export file stands after its last written part: the upload (None: a local file)
    and the next part's number, the rows and bytes in its parts, and the (stopTime, sessionId) of the last
    session in them (None: only the header), after which the next step reads on."""

    upload_id: str | None
    next_part: int
    rows: int
    bytes: int
    after: tuple[str, str] | None


def write_file(
    period: TimeRange,
    export_id: str,
    progress: Callable[[int, int], object],
    page_size: int = PAGE_SIZE,
    resume: Cursor | None = None,
    stop_after: tuple[float, Callable[[Cursor], object]] | None = None,
) -> Written | None:
    """The export written to a file (storage.files: S3 multipart, or a local file), holding at most one
    part of CSV (EXPORT_PART_BYTES) and one page of sessions at a time: each full part is uploaded as it
    fills, and the file completed at the end. progress(rows read, bytes written) is called every
    PROGRESS_SECONDS.

    stop_after=(seconds, hand_over): once the seconds have passed it stops at its last written part, leaves
    the file unfinished, calls hand_over with the Cursor a next step resumes from (resume=) and returns
    None: the rows read past that part are read again there, at most a part's worth. TooLong when the time
    passed before a part was written. Any failure (the table, S3, hand_over) aborts the upload: an export
    file is whole or not there."""
    limit = settings.get().export_part_bytes
    if resume is None:
        stored = files.start_export(export_id, period.filename)
        written = Cursor(stored.upload_id, stored.next_part, 0, 0, None)
    else:
        stored = files.resume_export(export_id, period.filename, resume.upload_id, resume.next_part, resume.bytes)
        written = resume
    first_part = written.next_part
    begun = reported = clock()
    part = bytearray()
    part_rows = 0
    try:
        with contextlib.closing(_keyed_lines(period, page_size, resume is None, written.after)) as csv_lines:
            for key, line in csv_lines:
                part += line.encode()
                if key is not None:
                    part_rows += 1
                if len(part) >= limit:
                    stored.add(part)
                    written = Cursor(
                        stored.upload_id, stored.next_part, written.rows + part_rows, written.bytes + len(part), key
                    )
                    part, part_rows = bytearray(), 0  # the part given away: one buffer alive at a time
                now = clock()
                if stop_after is not None and now - begun > stop_after[0]:
                    if written.next_part == first_part:
                        raise TooLong(f"not a part written within the worker's time ({part_rows} rows read)")
                    stored.suspend()  # before the next step may open it
                    stop_after[1](written)
                    return None
                if now - reported >= PROGRESS_SECONDS:
                    progress(written.rows + part_rows, written.bytes)
                    reported = now
        if part:
            stored.add(part)  # the last part may be smaller
        stored.complete()
    except BaseException:
        # An abort that fails too leaves parts the bucket's abort-incomplete-uploads rule removes.
        with contextlib.suppress(Exception):
            stored.abort()
        raise
    return Written(period.filename, written.rows + part_rows, written.bytes + len(part))


_DOWNLOAD = "export-download"
_EXPORT_ID = re.compile(r"[0-9a-f]{32}")
_FILE_NAME = re.compile(r"sessions_[0-9TZ_]{1,40}\.csv")


class DownloadRefused(Exception):
    """No export file here for this URL: a bad or expired token (403), or no such file (404)."""


class DownloadForbidden(DownloadRefused):
    pass


class NoSuchExport(DownloadRefused):
    pass


def file_url(export_id: str, file_name: str, base_url: str) -> str:
    """Where to GET a complete export file: a pre-signed GET URL of the bucket, or locally this app's
    download route with a token valid as long (files.EXPORT_URL_SECONDS)."""
    url = files.export_url(export_id, file_name)
    if url is not None:
        return url
    token = url_tokens.token(_DOWNLOAD, (export_id, file_name), int(time.time()) + files.EXPORT_URL_SECONDS)
    return f"{base_url.rstrip('/')}/exports/files/{export_id}/{file_name}?token={token}"


def downloaded(export_id: str, file_name: str, token: str | None) -> str:
    """GET /exports/files/{exportId}/{fileName}?token=...: the local export file's CSV."""
    if not (_EXPORT_ID.fullmatch(export_id) and _FILE_NAME.fullmatch(file_name)):
        raise NoSuchExport("no such export file")
    if not url_tokens.valid(_DOWNLOAD, (export_id, file_name), token):
        raise DownloadForbidden("no valid download token for this export: export again")
    path = files.export_path(export_id, file_name)
    if path is None:
        raise NoSuchExport("no such export file (exports are kept a day)")
    return path.read_bytes().decode("utf-8")  # as written: CRLF kept (read_text would make it LF)
