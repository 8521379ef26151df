"""The REST API's logic: parameters checked with clear messages, tamper-proof page tokens, and the
views of charge points, sessions and fleet statistics. app.py only routes to these functions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping

from chalice import BadRequestError, ConflictError, IAMAuthorizer, NotFoundError, Response, UnauthorizedError

from chalicelib import (
    auth,
    central_system,
    charging_rules,
    commands,
    ocpp_frames,
    simulated_charger,
    simulator,
    sites,
    smart_charging,
    storage,
    views,
)
from chalicelib import settings as settings_module

_SITE_ERRORS = {sites.InvalidSite: BadRequestError, sites.UnknownSite: NotFoundError, sites.SiteConflict: ConflictError}
# chalicelib/commands.py is shared with the gateway, which has no Chalice: its refusals get their status here.
_COMMAND_ERRORS = {
    commands.InvalidCommand: BadRequestError,
    commands.UnknownCommandTarget: NotFoundError,
    commands.CommandConflict: ConflictError,
}


def operator_route_options(settings: settings_module.Settings) -> dict:
    """The keyword arguments of @app.route that protect a data route in this stage."""
    if settings.operator_auth == "api-key":
        return {"api_key_required": True}
    if settings.operator_auth == "iam":
        return {"authorizer": IAMAuthorizer()}
    return {}


def _check_params(params: Mapping[str, str] | None, allowed: tuple[str, ...]) -> Mapping[str, str]:
    params = params or {}
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise BadRequestError(f"unknown query parameter {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return params


def _limit(params: Mapping[str, str], default: int) -> int:
    raw = params.get("limit", str(default))
    # ASCII only: str.isdigit() also passes "²", which int() refuses.
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= views.MAX_LIMIT:
        raise BadRequestError(f"limit must be a whole number from 1 to {views.MAX_LIMIT}, got {raw!r}")
    return int(raw)


def _choice(params: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
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


def _page(list_page: Callable[[dict | None], storage.Page], token: str | None, query: dict) -> storage.Page:
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


def _listing(
    name: str,
    params: Mapping[str, str],
    query: dict,
    default_limit: int,
    list_page: Callable[[int, dict | None], storage.Page],
    view: Callable[[dict], dict],
) -> dict:
    """A list route's answer: {name: [a page of views], "nextToken"}, the page at `?limit=` and `?nextToken=`."""
    limit = _limit(params, default_limit)
    page = _page(lambda start: list_page(limit, start), params.get("nextToken"), query)
    return {name: [view(item) for item in page.items], "nextToken": encode_token(page.last_key, query)}


def default_content_type(response: Response) -> Response:
    """Chalice sends its error bodies and plain views without a Content-Type: say they are JSON."""
    if not any(name.lower() == "content-type" for name in response.headers):
        response.headers["Content-Type"] = "application/json"
    return response


# --- routes --------------------------------------------------------------------------------------


def list_charge_points(params: Mapping[str, str] | None) -> dict:
    params = _check_params(params, ("status", "limit", "nextToken"))
    status = _choice(params, "status", charging_rules.CHARGE_POINT_STATUSES)
    query = {"route": "chargepoints", "status": status}
    return _listing(
        "chargePoints",
        params,
        query,
        50,
        lambda limit, start: storage.list_charge_points(limit, start, status),
        views.charge_point_view,
    )


def get_charge_point(charge_point_id: str) -> dict:
    item, configuration = (
        storage.get_charge_point_and_configuration(charge_point_id)
        if ocpp_frames.is_valid_charge_point_id(charge_point_id)
        else (None, None)
    )
    if item is None:
        raise NotFoundError(f"no charge point {charge_point_id!r}")
    return views.charge_point_view(item, configuration)


def list_commands(charge_point_id: str, params: Mapping[str, str] | None) -> dict:
    """GET /chargepoints/{id}/commands: a charger's commands, newest first (none for an unknown charger)."""
    params = _check_params(params, ("limit", "nextToken"))
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise NotFoundError(f"no charge point {charge_point_id!r}")
    query = {"route": "commands", "chargePointId": charge_point_id}
    return _listing(
        "commands",
        params,
        query,
        20,
        lambda limit, start: storage.list_commands(charge_point_id, limit, start),
        lambda item: commands.as_view(item, listed=True),
    )


def charging_profiles(charge_point_id: str) -> dict:
    """GET /chargepoints/{id}/chargingProfiles: what the central system has set on the charger."""
    found = smart_charging.view(charge_point_id) if ocpp_frames.is_valid_charge_point_id(charge_point_id) else None
    if found is None:
        raise NotFoundError(f"no charge point {charge_point_id!r}")
    return found


def list_sites(params: Mapping[str, str] | None) -> dict:
    params = _check_params(params, ("limit", "nextToken"))
    return _listing("sites", params, {"route": "sites"}, 50, storage.list_sites, sites.listed)


def site(route: Callable[..., dict], *args: object) -> dict:
    """A site route (sites.put, sites.view), its refusals as 400, 404 or 409."""
    try:
        return route(*args)
    except sites.SiteError as error:
        raise _SITE_ERRORS[type(error)](str(error)) from None


def command_schema(action: str) -> dict:
    """GET /ocpp/schemas/{action}: the official 1.6 request schema of a command, as the `ocpp` package has it."""
    if action not in commands.COMMAND_ACTIONS:
        raise NotFoundError(f"no command {action[:64]!r}; commands: {', '.join(commands.COMMAND_ACTIONS)}")
    return ocpp_frames.request_schema(action)


def list_sessions(params: Mapping[str, str] | None) -> dict:
    params = _check_params(params, ("status", "chargePointId", "limit", "nextToken"))
    status = _choice(params, "status", charging_rules.SESSION_STATUSES)
    charge_point_id = params.get("chargePointId")
    if charge_point_id is not None and not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise BadRequestError(f"chargePointId must be {ocpp_frames.CHARGE_POINT_ID_RULE}")
    query = {"route": "sessions", "status": status, "chargePointId": charge_point_id}
    return _listing(
        "sessions",
        params,
        query,
        20,
        lambda limit, start: storage.list_sessions(limit, start, status, charge_point_id),
        views.session_view,
    )


def get_session(session_id: str) -> dict:
    item = storage.get_session(session_id) if len(session_id) <= 64 else None
    if item is None:
        raise NotFoundError(f"no session {session_id!r}")
    return views.session_view(item)


def stats() -> dict:
    settings = settings_module.get()
    totals = storage.read_stats(settings.stats_shards)
    return {
        "totalChargePoints": totals.get("totalChargePoints", 0),
        "availableChargePoints": totals.get("status_Available", 0),
        "chargingChargePoints": totals.get("status_Charging", 0),
        "activeSessions": totals.get("activeSessions", 0),
        "completedSessions": totals.get("completedSessions", 0),
        "totalEnergyKwh": round(totals.get("energyWh", 0) / 1000, 3),
        "totalRevenue": totals.get("revenueMinor", 0) / 100,
        "currency": settings.tariff.currency,
        "rejectedMessages": totals.get("rejectedMessages", 0),
    }


def json_body(raw: str | bytes | None, empty: object = None) -> object:
    """An operator's request body; `empty` when there is none. Nesting deeper than Python's recursion
    limit (a few KB of brackets) is as unusable as broken JSON."""
    try:
        return json.loads(raw) if raw and raw.strip() else empty
    except (ValueError, RecursionError):
        raise BadRequestError("body must be JSON, nested at most a few hundred levels deep") from None


def simulate(raw: str | bytes | None) -> dict:
    """POST /simulate: one tick now; or, with {"chargePointId", "messageType"}, exactly that message."""
    body = json_body(raw, {})
    if not isinstance(body, dict) or set(body) - {"chargePointId", "messageType"}:
        raise BadRequestError('body must be a JSON object with optional "chargePointId" and "messageType"')
    if not all(isinstance(value, str) for value in body.values()):
        raise BadRequestError('"chargePointId" and "messageType" must be strings')
    charge_point_id, message_type = body.get("chargePointId"), body.get("messageType")
    if (charge_point_id is None) != (message_type is None):
        raise BadRequestError('"chargePointId" and "messageType" go together')
    try:
        return {"messages": simulator.run_tick(charge_point_id=charge_point_id, message_type=message_type)}
    except simulator.UnknownChargePoint as error:
        raise NotFoundError(str(error)) from None
    except simulator.UnknownMessageType as error:
        raise BadRequestError(str(error)) from None
    except (simulated_charger.NotPossible, simulator.TickBusy) as error:
        raise ConflictError(str(error)) from None


def ocpp(charge_point_id: str, raw: str | bytes | None, authorization: str | None = None) -> tuple[int, list]:
    """POST /ocpp/{id}: one CALL frame in, its CALLRESULT (200) or CALLERROR (400) out. With
    OCPP_AUTH=basic the charger must send HTTP Basic with its id and password (401 otherwise)."""
    if not auth.charger_may_send(charge_point_id, authorization):
        raise UnauthorizedError(
            f"charge point {charge_point_id[:48]!r} must authenticate with HTTP Basic: "
            "its id as user name and its password"
        )
    try:
        answer = central_system.handle(charge_point_id, raw or b"")
    except central_system.InvalidChargePointId as error:
        raise BadRequestError(str(error)) from None
    return (200 if answer[0] == ocpp_frames.CALLRESULT else 400), answer


def command(route: Callable[..., dict], *args: object) -> dict:
    """A commands route (commands.submit, commands.view), its refusals as 400, 404 or 409."""
    try:
        return route(*args)
    except commands.CommandError as error:
        raise _COMMAND_ERRORS[type(error)](str(error)) from None


def set_password(charge_point_id: str, raw: str | bytes | None) -> dict:
    """PUT /chargepoints/{id}/password: {"password": "..."} becomes the charger's OCPP Basic password."""
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise BadRequestError(f"charge point id must be {ocpp_frames.CHARGE_POINT_ID_RULE}")
    body = json_body(raw)
    if not isinstance(body, dict) or set(body) != {"password"}:
        raise BadRequestError('body must be a JSON object {"password": "..."}')
    try:
        set_at = auth.set_password(charge_point_id, body["password"])
    except auth.PasswordError as error:
        raise BadRequestError(str(error)) from None
    return {"chargePointId": charge_point_id, "passwordSetAt": set_at}
