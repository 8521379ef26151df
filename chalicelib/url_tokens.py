"""Signed tokens for this app's own file URLs (local mode): a diagnostics upload, an export download.

A token is `{expires}.{signature}`: an HMAC over a label, the URL's names and the expiry under the stage's
pagination secret. The label keeps each kind apart (an upload token never opens a download, and no page
token passes as either), so the routes that take a token can be open: whoever holds the URL may use it,
for that file only, until it expires."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from chalicelib import settings


def _signature(label: str, names: tuple[str, ...], expires: int) -> str:
    secret = settings.get().pagination_secret.encode()
    message = "\n".join((label, *names, str(expires))).encode()
    return base64.urlsafe_b64encode(hmac.new(secret, message, hashlib.sha256).digest()[:24]).decode()


def token(label: str, names: tuple[str, ...], expires: int) -> str:
    return f"{expires}.{_signature(label, names, expires)}"


def valid(label: str, names: tuple[str, ...], given: str | None) -> bool:
    """The token was made for these names under this label and has not expired."""
    expires_text, _, signature = (given or "").partition(".")
    return (
        expires_text.isascii()
        and expires_text.isdigit()
        and int(expires_text) >= time.time()
        and hmac.compare_digest(signature.encode(), _signature(label, names, int(expires_text)).encode())
    )
