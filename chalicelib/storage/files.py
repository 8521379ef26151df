"""Diagnostics files chargers upload (GetDiagnostics): the only module that talks to S3.

Two stores behind one interface, chosen by the settings: with DIAGNOSTICS_BUCKET (the deployed stages)
the charger puts its file straight into the private bucket with a pre-signed PUT URL, and the listing
reads the bucket; without it (local mode, the tests) this app's own upload route saves the file under
DIAGNOSTICS_DIR. Either way a file is kept as diagnostics/{chargePointId}/{fileName}.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
