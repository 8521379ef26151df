"""Diagnostics uploads (GetDiagnostics): the upload location the system itself provides, and the checks
on an upload to this app's own route (local mode; in the cloud the charger puts its file into S3 with a
pre-signed URL instead, see chalicelib/storage/files.py).

The location names the file to upload: `{base}/diagnostics/{chargePointId}/{fileName}?token=...`, to
PUT or POST the file's bytes to as they are. The token is an HMAC of charge point, file name and expiry
under the stage's secret, so only the charger given the location can upload, only that file, and only
until it expires; the upload route itself is therefore open (a charger has no operator key).
"""

from __future__ import annotations

import re
import time

from chalicelib import ocpp_frames, url_tokens
from chalicelib import settings as settings_module
from chalicelib.storage import files

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
FILE_NAME_RULE = "1 to 100 letters, digits, '.', '_' or '-', starting with a letter or digit"
TOKEN_SECONDS = files.URL_SECONDS
# What the upload route takes: the file's bytes as they are (the binary ones reach it undecoded).
BINARY_TYPES = ("application/octet-stream", "application/zip", "application/gzip")
# Binary only: `chalice deploy` refuses a route whose content types mix binary and text ones.
UPLOAD_TYPES = BINARY_TYPES


class UploadRefused(Exception):
    """An upload this app does not take; the subclass says why (the REST layer's HTTP status)."""


class BadUpload(UploadRefused):
    """Not a charge point id or file name this app stores (400)."""


class UploadForbidden(UploadRefused):
    """No valid token for this file (403)."""


class UploadTooLarge(UploadRefused):
    """Over DIAGNOSTICS_MAX_BYTES (413)."""


def check_names(charge_point_id: str, file_name: str) -> None:
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise BadUpload(f"charge point id must be {ocpp_frames.CHARGE_POINT_ID_RULE}")
    if not FILE_NAME.fullmatch(file_name):
        raise BadUpload(f"file name must be {FILE_NAME_RULE}")


_LABEL = "diagnostics-upload"


def upload_token(charge_point_id: str, file_name: str, expires: int) -> str:
    return url_tokens.token(_LABEL, (charge_point_id, file_name), expires)


def location(charge_point_id: str, base_url: str) -> dict:
    """GET /chargepoints/{id}/diagnostics/location: where the charger uploads its next diagnostics file."""
    check_names(charge_point_id, "x")
    stamp = ocpp_frames.now().strftime("%Y%m%dT%H%M%SZ")
    file_name = f"{charge_point_id}-{stamp}.diagnostics"
    url = files.location_for(charge_point_id, file_name)
    if url is None:
        token = upload_token(charge_point_id, file_name, int(time.time()) + TOKEN_SECONDS)
        url = f"{base_url.rstrip('/')}/diagnostics/{charge_point_id}/{file_name}?token={token}"
    return {"location": url, "fileName": file_name}


def upload(charge_point_id: str, file_name: str, token: str | None, body: bytes) -> dict:
    """PUT|POST /diagnostics/{chargePointId}/{fileName}?token=...: the file's bytes, kept."""
    check_names(charge_point_id, file_name)
    if not url_tokens.valid(_LABEL, (charge_point_id, file_name), token):
        raise UploadForbidden("no valid upload token for this file: ask for a location first")
    if files.in_bucket():
        raise BadUpload("this stage takes diagnostics uploads in its S3 bucket")
    limit = settings_module.get().diagnostics_max_bytes
    if len(body) > limit:
        raise UploadTooLarge(f"a diagnostics file is at most {limit} bytes")
    return files.save(charge_point_id, file_name, body)


def listing(charge_point_id: str) -> dict:
    """GET /chargepoints/{id}/diagnostics: the uploaded files, newest first."""
    check_names(charge_point_id, "x")
    return {"chargePointId": charge_point_id, "files": files.list_files(charge_point_id)}
