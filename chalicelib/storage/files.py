"""Files in S3: diagnostics files chargers upload (GetDiagnostics) and CSV exports too big for one answer.
The only module that talks to S3.

Two stores behind one interface, chosen by the settings: with DIAGNOSTICS_BUCKET (the deployed stages)
the charger puts its file straight into the private bucket with a pre-signed PUT URL, and the listing
reads the bucket; without it (local mode, the tests) this app's own upload route saves the file under
DIAGNOSTICS_DIR. Either way a file is kept as diagnostics/{chargePointId}/{fileName}. Exports likewise:
a multipart upload into the bucket, or a file under DIAGNOSTICS_DIR that this app's download route serves.
"""

from __future__ import annotations

import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from chalicelib import settings

PREFIX = "diagnostics"
# DIAGNOSTICS_DIR, when relative, is taken from the project's root (where .local/ is), whatever the cwd.
ROOT = Path(__file__).resolve().parents[2]
# How long a pre-signed URL stays valid: a charger may upload hours after the command (startTime, retries).
URL_SECONDS = 24 * 3600

_lock = threading.Lock()
_client: Any = None


def _s3() -> Any:
    """The S3 client, created on first use (bucket mode only)."""
    global _client
    with _lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            # A boto3 session of its own: the tests share one botocore session among default sessions, and
            # boto3 cannot build S3's client class twice on one botocore session.
            _client = boto3.session.Session().client(
                "s3", config=Config(signature_version="s3v4", connect_timeout=3, read_timeout=10)
            )
        return _client


def reset_client() -> None:
    """Forget the client (tests that switch backends)."""
    global _client
    with _lock:
        _client = None


def in_bucket() -> bool:
    return bool(settings.get().diagnostics_bucket)


def _key(charge_point_id: str, file_name: str) -> str:
    return f"{PREFIX}/{charge_point_id}/{file_name}"


def location_for(charge_point_id: str, file_name: str) -> str | None:
    """A pre-signed URL a charger PUTs this file to, valid URL_SECONDS; None when uploads come to this app."""
    bucket = settings.get().diagnostics_bucket
    if not bucket:
        return None
    return str(
        _s3().generate_presigned_url(
            "put_object",
            Params={"Bucket": bucket, "Key": _key(charge_point_id, file_name)},
            ExpiresIn=URL_SECONDS,
        )
    )


def _directory(charge_point_id: str) -> Path:
    return ROOT / settings.get().diagnostics_dir / PREFIX / charge_point_id


def save(charge_point_id: str, file_name: str, body: bytes) -> dict:
    """Keep an uploaded file (the app's own upload route); a second upload of the same name replaces it.
    Written to a temporary name first, so a listing never shows half a file."""
    directory = _directory(charge_point_id)
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{file_name}.partial"
    partial.write_bytes(body)
    os.replace(partial, directory / file_name)
    return _entry(directory / file_name)


def _entry(path: Path) -> dict:
    stat = path.stat()
    uploaded = datetime.fromtimestamp(stat.st_mtime, UTC)
    return {"fileName": path.name, "size": stat.st_size, "uploadedAt": _format(uploaded)}


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def list_files(charge_point_id: str, limit: int = 100) -> list[dict]:
    """The charger's files, newest first: {fileName, size, uploadedAt}. In the bucket: ListObjectsV2
    pages until done (a charger has a few files: the bucket's lifecycle rule expires them)."""
    bucket = settings.get().diagnostics_bucket
    if bucket:
        prefix = _key(charge_point_id, "")
        found = [
            {
                "fileName": item["Key"].removeprefix(prefix),
                "size": item["Size"],
                "uploadedAt": _format(item["LastModified"]),
            }
            for page in _s3().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]
    else:
        directory = _directory(charge_point_id)
        paths = [path for path in directory.iterdir() if not path.name.startswith(".")] if directory.is_dir() else []
        found = [_entry(path) for path in paths]
    return sorted(found, key=lambda entry: (entry["uploadedAt"], entry["fileName"]), reverse=True)[:limit]


# --- exports: a CSV too big for one answer, written a part at a time ---------------------------------

EXPORTS = "exports"
# A pre-signed export URL is made when the job's status is asked for, and followed at once (curl -L, the
# dashboard's download link).
EXPORT_URL_SECONDS = 15 * 60
# Local mode keeps an export as long as the bucket's lifecycle rule `exports-expire` does.
EXPORT_KEEP = timedelta(days=1)


# S3 numbers a multipart upload's parts 1 to 10,000.
MAX_PARTS = 10_000


class TooManyParts(Exception):
    """The export would take more parts than a multipart upload holds."""


class ExportFile(Protocol):
    """An export being written: its parts in order, then complete() makes the whole file visible at once,
    or abort() leaves nothing. suspend() leaves it unfinished for resume_export (the worker's next step):
    `upload_id` and `next_part` say where it stands."""

    @property
    def upload_id(self) -> str | None: ...

    @property
    def next_part(self) -> int: ...

    def add(self, part: bytes | bytearray) -> None: ...

    def complete(self) -> None: ...

    def suspend(self) -> None: ...

    def abort(self) -> None: ...


class _BucketExport:
    """An S3 multipart upload: nothing is an object until CompleteMultipartUpload; a Lambda stopped
    mid-way (timeout) leaves parts the bucket's abort-incomplete-uploads rule removes after a day. The
    parts' ETags are not kept (10,000 of them would not fit a job's item): complete() lists them (ListParts,
    1,000 a request)."""

    def __init__(self, bucket: str, key: str, upload_id: str, next_part: int) -> None:
        self.bucket, self.key, self.upload_id, self.next_part = bucket, key, upload_id, next_part

    def add(self, part: bytes | bytearray) -> None:
        if self.next_part > MAX_PARTS:
            raise TooManyParts(f"more than {MAX_PARTS} parts of EXPORT_PART_BYTES: export a shorter range")
        _s3().upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=self.next_part, Body=part
        )
        self.next_part += 1

    def complete(self) -> None:
        pages = _s3().get_paginator("list_parts").paginate(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        # Only the parts up to the last one written: a part number past it would be a stopped step's leftover.
        parts = [
            {"PartNumber": part["PartNumber"], "ETag": part["ETag"]}
            for page in pages
            for part in page.get("Parts", [])
            if part["PartNumber"] < self.next_part
        ]
        _s3().complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": parts}
        )

    def suspend(self) -> None:
        """Nothing to do: the upload stays open under its id."""

    def abort(self) -> None:
        _s3().abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class _LocalExport:
    """A file under DIAGNOSTICS_DIR/exports/, written under a hidden name and renamed when complete.
    Resumed, it is cut back to the bytes the last step's parts hold and appended to."""

    upload_id: str | None = None

    def __init__(self, path: Path, resume_at: tuple[int, int] | None = None) -> None:
        self.path = path
        self.partial = path.with_name(f".{path.name}.partial")
        self.file: BinaryIO
        if resume_at is None:
            path.parent.mkdir(parents=True)
            self.file = self.partial.open("wb")
            self.next_part = 1
        else:
            self.next_part, size = resume_at
            self.file = self.partial.open("r+b")
            self.file.truncate(size)
            self.file.seek(size)

    def add(self, part: bytes | bytearray) -> None:
        self.file.write(part)
        self.next_part += 1

    def complete(self) -> None:
        self.file.close()
        os.replace(self.partial, self.path)

    def suspend(self) -> None:
        self.file.close()

    def abort(self) -> None:
        self.file.close()
        self.partial.unlink(missing_ok=True)
        self.path.parent.rmdir()


def _exports_directory() -> Path:
    return ROOT / settings.get().diagnostics_dir / EXPORTS


def _export_key(export_id: str, file_name: str) -> str:
    return f"{EXPORTS}/{export_id}/{file_name}"


def export_url(export_id: str, file_name: str) -> str | None:
    """A pre-signed GET URL of a complete export in the bucket, valid EXPORT_URL_SECONDS; None in local mode
    (this app's download route serves the file there)."""
    bucket = settings.get().diagnostics_bucket
    if not bucket:
        return None
    params = {"Bucket": bucket, "Key": _export_key(export_id, file_name)}
    return str(_s3().generate_presigned_url("get_object", Params=params, ExpiresIn=EXPORT_URL_SECONDS))


def start_export(export_id: str, file_name: str) -> ExportFile:
    """A new export file, kept as exports/{exportId}/{fileName} (the id is random: one export, one place)."""
    bucket = settings.get().diagnostics_bucket
    if bucket:
        key = _export_key(export_id, file_name)
        upload_id = _s3().create_multipart_upload(
            Bucket=bucket,
            Key=key,
            ContentType="text/csv; charset=utf-8",
            ContentDisposition=f'attachment; filename="{file_name}"',
            CacheControl="no-store",
        )["UploadId"]
        return _BucketExport(bucket, key, upload_id, 1)
    directory = _exports_directory()
    if directory.is_dir():  # what the bucket's lifecycle rule does, done when the next export starts
        old = datetime.now(UTC).timestamp() - EXPORT_KEEP.total_seconds()
        for folder in directory.iterdir():
            if folder.stat().st_mtime < old:
                shutil.rmtree(folder, ignore_errors=True)
    return _LocalExport(directory / export_id / file_name)


def resume_export(export_id: str, file_name: str, upload_id: str | None, next_part: int, size: int) -> ExportFile:
    """An export file a previous step suspended, to go on with part next_part (size: the bytes before it)."""
    bucket = settings.get().diagnostics_bucket
    if bucket:
        if upload_id is None:
            raise ValueError("an export in the bucket resumed without its upload id")
        return _BucketExport(bucket, _export_key(export_id, file_name), upload_id, next_part)
    return _LocalExport(_exports_directory() / export_id / file_name, (next_part, size))


def export_path(export_id: str, file_name: str) -> Path | None:
    """A complete local export file, None when there is none (never was, aborted, or cleared)."""
    path = _exports_directory() / export_id / file_name
    return path if path.is_file() else None
