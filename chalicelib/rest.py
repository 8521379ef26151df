"""The REST API's logic: the views of charge points, sessions, commands, idTags and fleet statistics, and
domain refusals as HTTP statuses (list parameters and page tokens: rest_params.py). app.py only routes to
these functions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import timedelta

from chalice import (
    BadRequestError,
    ConflictError,
    IAMAuthorizer,
    NotFoundError,
    Response,
    UnauthorizedError,
)

from chalicelib import (
    auth,
    authorization_key,
    central_system,
    charging_rules,
    commands,
    id_tags,
    meter_history,
    ocpp_frames,
    rest_params,
    simulated_charger,
    simulator,
    sites,
    smart_charging,
    storage,
    views,
)
from chalicelib import fleet_energy as fleet_energy_module
from chalicelib import settings as settings_module

_SITE_ERRORS = {sites.InvalidSite: BadRequestError, sites.UnknownSite: NotFoundError, sites.SiteConflict: ConflictError}
# chalicelib/commands.py is shared with the gateway, which has no Chalice: its refusals get their status here.
_COMMAND_ERRORS = {
    commands.InvalidCommand: BadRequestError,
    commands.UnknownCommandTarget: NotFoundError,
    commands.CommandConflict: ConflictError,
    id_tags.InvalidIdTag: BadRequestError,
    id_tags.UnknownIdTag: NotFoundError,
}


def operator_route_options(settings: settings_module.Settings) -> dict:
    """The keyword arguments of @app.route that protect a data route in this stage."""
    if settings.operator_auth == "api-key":
        return {"api_key_required": True}
    if settings.operator_auth == "iam":
        return {"authorizer": IAMAuthorizer()}
    return {}


# GET /stats/energy without `from`: the hours a fresh dashboard tab shows.
DEFAULT_ENERGY_WINDOW = timedelta(hours=6)


def default_content_type(response: Response) -> Response:
    """Chalice sends its error bodies and plain views without a Content-Type: say they are JSON."""
    if not any(name.lower() == "content-type" for name in response.headers):
        response.headers["Content-Type"] = "application/json"
    return response


# --- routes --------------------------------------------------------------------------------------


def list_charge_points(params: Mapping[str, str] | None) -> dict:
    params = rest_params.check_params(params, ("status", "limit", "nextToken"))
    status = rest_params.choice(params, "status", charging_rules.CHARGE_POINT_STATUSES)
    query = {"route": "chargepoints", "status": status}
    return rest_params.listing(
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
    params = rest_params.check_params(params, ("limit", "nextToken"))
    if not ocpp_frames.is_valid_charge_point_id(charge_point_id):
        raise NotFoundError(f"no charge point {charge_point_id!r}")
    query = {"route": "commands", "chargePointId": charge_point_id}
    return rest_params.listing(
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
    params = rest_params.check_params(params, ("limit", "nextToken"))
    return rest_params.listing("sites", params, {"route": "sites"}, 50, storage.list_sites, sites.listed)


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
    params = rest_params.check_params(params, ("status", "chargePointId", "limit", "nextToken"))
    status = rest_params.choice(params, "status", charging_rules.SESSION_STATUSES)
    charge_point_id = rest_params.charge_point_param(params)
    query = {"route": "sessions", "status": status, "chargePointId": charge_point_id}
    return rest_params.listing(
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


def session_meter_values(session_id: str, params: Mapping[str, str] | None) -> dict:
    """GET /sessions/{id}/meterValues: the session's readings, oldest first, a page at a time."""
    params = rest_params.check_params(params, ("limit", "nextToken"))
    session = storage.get_session(session_id) if len(session_id) <= 64 else None
    if session is None:
        raise NotFoundError(f"no session {session_id!r}")
    return rest_params.listing(
        "meterValues",
        params,
        {"route": "meterValues", "sessionId": session_id},
        views.MAX_LIMIT,
        lambda limit, start: meter_history.page(session, limit, start),
        meter_history.view,
    )


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


def fleet_energy(params: Mapping[str, str] | None) -> dict:
    """GET /stats/energy?from=&to=: the fleet's energy per 5 minutes, from the stored snapshots; by default
    the last 6 hours."""
    params = rest_params.check_params(params, ("from", "to"))
    try:
        end = ocpp_frames.parse_timestamp(params["to"], "to") if "to" in params else ocpp_frames.now()
        start = ocpp_frames.parse_timestamp(params["from"], "from") if "from" in params else end - DEFAULT_ENERGY_WINDOW
    except ocpp_frames.FrameError as error:
        raise BadRequestError(f"{error.description}, for example 2026-12-03T10:00:00Z") from None
    if not timedelta(0) <= end - start <= fleet_energy_module.MAX_WINDOW:
        raise BadRequestError("from must be before to, at most 24 hours apart")
    return fleet_energy_module.energy_points(start, end)


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
    """A commands or idTag registry route (commands.submit, id_tags.put...), its refusals as 400, 404 or 409."""
    try:
        return route(*args)
    except (commands.CommandError, id_tags.IdTagError) as error:
        raise _COMMAND_ERRORS[type(error)](str(error)) from None


def list_id_tags(params: Mapping[str, str] | None) -> dict:
    params = rest_params.check_params(params, ("limit", "nextToken"))
    return rest_params.listing("idTags", params, {"route": "idtags"}, 50, storage.list_id_tags, id_tags.view)


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


def rotate_authorization_key(charge_point_id: str) -> Response:
    """POST /chargepoints/{id}/authorizationKey: 202, the queued ChangeConfiguration and the new key, shown
    this once (so never kept by a cache either)."""
    body = command(authorization_key.rotate, charge_point_id)
    return Response(body=body, status_code=202, headers={"Cache-Control": "no-store"})
