"""The REST API's list parameters: query parameters checked with clear messages, and page tokens that are
opaque, signed and bound to the query that issued them. Shared by every list route (rest.py and its
companions)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

from chalice import BadRequestError

from chalicelib import ocpp_frames, storage, views
from chalicelib import settings as settings_module


def base_url(headers: Mapping[str, str]) -> str:
    """This app as the caller reached it (local mode: the URLs of its own file routes)."""
    return f"{headers.get('x-forwarded-proto', 'http')}://{headers.get('host', 'localhost')}"


def check_params(params: Mapping[str, str] | None, allowed: tuple[str, ...]) -> Mapping[str, str]:
    params = params or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequestError(f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return params


def limit_param(params: Mapping[str, str], default: int) -> int:
    raw = params.get("limit", str(default))
    # ASCII only: str.isdigit() also passes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= views.MAX_LIMIT:
        raise BadRequestError(f"limit must be a whole number from 1 to {views.MAX_LIMIT}, got {raw!r}")
    return int(raw)


def choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = params.get(name)
    if value is not None and value not in choices:
        raise BadRequestError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


# --- page tokens: opaque, signed, and bound to the query that issued them -------------------------


def _signature(body: bytes) -> str:
    secret = settings_module.get().pagination_secret.encode()
    return base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()[:18]).decode()


def encode_token(last_key: dict | None, query: dict) -> str | None:
    if not last_key:
        return None
    body = json.dumps({"k": last_key, "q": query}, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + _signature(body)


def _invalid_token() -> BadRequestError:
    return BadRequestError("nextToken is not valid for this query: pass back the nextToken of the previous page")


def decode_token(token: str | None, query: dict) -> dict | None:
    if token is None:
        return None
    invalid = _invalid_token()
    try:
        encoded, signature = token.split(".")
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except ValueError:
        raise invalid from None
    # Bytes, not str: compare_digest refuses non-ASCII strings with a TypeError (a 500).
    if not hmac.compare_digest(signature.encode(), _signature(body).encode()):
        raise invalid
    content = json.loads(body)
    if not isinstance(content, dict) or content.get("q") != query or not _is_key(content.get("k")):
        raise invalid
    return content["k"]


def _is_key(key: object) -> bool:
    """Shaped like a DynamoDB key of strings and numbers; whether it is one of the index is the database's call."""
    return (
        isinstance(key, dict)
        and bool(key)
        and all(
            isinstance(name, str)
            and isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in ("S", "N")
            and isinstance(next(iter(value.values())), str)
            for name, value in key.items()
        )
    )


def page_from(list_page: Callable[[dict | None], storage.Page], token: str | None, query: dict) -> storage.Page:
    """One page from the position in a page token. The token is signed, yet its key is the database's to
    judge: a key that is not one of the index (a bug, or a leaked secret) is the token's fault, not a 500."""
    start = decode_token(token, query)
    try:
        return list_page(start)
    except Exception as error:
        # Imported here, where storage has loaded it already: importing the app stays light (cold starts).
        from botocore.exceptions import ClientError, ParamValidationError

        refused = isinstance(error, ParamValidationError) or (
            isinstance(error, ClientError) and error.response["Error"]["Code"] == "ValidationException"
        )
        if start is None or not refused:
            raise
        raise _invalid_token() from None


def charge_point_param(params: Mapping[str, str]) -> str | None:
    """A list's `?chargePointId=`, checked."""
    charge_point_id = params.get("chargePointId")
    if charge_point_id is not None and not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise BadRequestError(f"chargePointId must be {ocpp_frames.CHARGE_POINT_ID_RULE}")
    return charge_point_id


def listing(
    name: str,
    params: Mapping[str, str],
    query: dict,
    default_limit: int,
    list_page: Callable[[int, dict | None], storage.Page],
    view: Callable[[dict], dict],
) -> dict:
    """A list route's answer: {name: [a page of views], "nextToken"}, the page at `?limit=` and `?nextToken=`."""
    limit = limit_param(params, default_limit)
    page = page_from(lambda start: list_page(limit, start), params.get("nextToken"), query)
    return {name: [view(item) for item in page.items], "nextToken": encode_token(page.last_key, query)}
