"""Sites: a grid connection's limit (maxPowerKw) shared by the chargers behind it. An operator declares them
(PUT /sites/{siteId}); site_loop.py keeps their chargers within the limit. A charger is on at most one site."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from chalicelib import ocpp_frames, site_loop, storage
from chalicelib.views import plain

SITE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SITE_ID_RULE = "1-64 letters, digits or ._- (starting with a letter or digit)"
MAX_CHARGERS = 50  # one transaction writes the site and every charger it claims or lets go (DynamoDB: 100)
MAX_POWER_KW = 100_000  # 100 MW: beyond any grid connection a charging site has
# The allocation is in whole watts: a limit below 1 W could share nothing (and 5e-324 is no number DynamoDB keeps).
MIN_POWER_KW = 0.001


class SiteError(Exception):
    """A refused site request; rest.py gives each kind its HTTP status."""


class InvalidSite(SiteError):
    pass


class UnknownSite(SiteError):
    pass


class SiteConflict(SiteError):
    pass


def _checked(site_id: str, body: object) -> tuple[str, float, list[str]]:
    if not SITE_ID.fullmatch(site_id):
        raise InvalidSite(f"siteId must be {SITE_ID_RULE}")
    if not isinstance(body, dict) or set(body) != {"name", "maxPowerKw", "chargePointIds"}:
        raise InvalidSite('body must be a JSON object {"name", "maxPowerKw", "chargePointIds": [...]}')
    name, limit, chargers = body["name"], body["maxPowerKw"], body["chargePointIds"]
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise InvalidSite("name must be a string of 1-100 characters")
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or not MIN_POWER_KW <= limit <= MAX_POWER_KW:
        raise InvalidSite(f"maxPowerKw must be a number from {MIN_POWER_KW} (1 W) to {MAX_POWER_KW}")
    if not isinstance(chargers, list) or len(chargers) > MAX_CHARGERS:
        raise InvalidSite(f"chargePointIds must be a list of at most {MAX_CHARGERS} charge point ids")
    for charge_point_id in chargers:
        if not isinstance(charge_point_id, str) or not ocpp_frames.is_valid_charge_point_id(charge_point_id):
            raise InvalidSite(f"each of chargePointIds must be {ocpp_frames.CHARGE_POINT_ID_RULE}")
    if len(set(chargers)) != len(chargers):
        raise InvalidSite("chargePointIds lists a charger twice")
    return name.strip(), float(limit), chargers


def put(site_id: str, body: object) -> dict:
    """PUT /sites/{siteId}: create or replace a site; its chargers get the new safe default at once."""
    name, limit_kw, chargers = _checked(site_id, body)
    existing = storage.get_site(site_id, consistent=True)
    before = list(existing["chargePointIds"]) if existing else []
    added = [cp for cp in chargers if cp not in before]
    removed = [cp for cp in before if cp not in chargers]
    known = storage.charge_points_by_id(chargers)
    unknown = [cp for cp in chargers if cp not in known]
    if unknown:
        raise InvalidSite(f"unknown charge point {unknown[0]!r}: a charger joins a site once it has booted")
    _not_elsewhere(site_id, added, known)
    site = {
        "siteId": site_id,
        "name": name,
        "maxPowerKw": Decimal(str(limit_kw)),
        "chargePointIds": chargers,
        # Each charger's connectors as it reported them (1 until it has): the safe default's divisor.
        "connectors": sum(max(int(known[cp].get("connectors", 0)), 1) for cp in chargers),
        "version": int(existing["version"]) + 1 if existing else 1,
        "updatedAt": ocpp_frames.format_timestamp(ocpp_frames.now()),
        # A computation under way when the site changes must not save what it computed from the old one.
        "allocation": existing.get("allocation", {}) if existing else {},
        "allocationVersion": int(existing.get("allocationVersion", 0)) + 1 if existing else 1,
    }
    if not storage.put_site(site, int(existing["version"]) if existing else None, added, removed):
        _not_elsewhere(site_id, added, storage.charge_points_by_id(added))
        raise SiteConflict(f"site {site_id!r} changed while it was saved: read it and try again")
    site_loop.site_changed(site_id)
    return view(site_id)


def _not_elsewhere(site_id: str, added: list[str], known: dict[str, dict]) -> None:
    for charge_point_id in added:
        owner = known.get(charge_point_id, {}).get("siteId")
        if owner not in (None, site_id):
            raise SiteConflict(f"{charge_point_id} is on site {owner!r}: a charger is on at most one site")


def _summary(site: dict) -> dict[str, Any]:
    allocation = plain(site.get("allocation", {}))
    return {
        "siteId": site["siteId"],
        "name": site["name"],
        "maxPowerKw": float(site["maxPowerKw"]),
        "chargePointIds": list(site["chargePointIds"]),
        "allocatedKw": round(sum(entry["w"] for entry in allocation.values()) / 1000, 3),
        "updatedAt": site["updatedAt"],
    }


def listed(site: dict) -> dict[str, Any]:
    """A site in GET /sites: its limit and what is allocated (no read of its sessions)."""
    return _summary(site)


def view(site_id: str) -> dict[str, Any]:
    """GET /sites/{siteId}: the limit, the live total of its active sessions' latest power, the sessions,
    and each charging connector's allocation: 1 GetItem + 2 BatchGetItem."""
    site = storage.get_site(site_id) if SITE_ID.fullmatch(site_id) else None
    if site is None:
        raise UnknownSite(f"no site {site_id[:64]!r}")
    allocation = plain(site.get("allocation", {}))
    active = site_loop.active_sessions(site)
    sessions = [
        {
            "sessionId": session["sessionId"],
            "chargePointId": session["chargePointId"],
            "connectorId": int(session["connectorId"]),
            "powerKw": round(float(session.get("powerW", 0)) / 1000, 3),
            "allocationKw": _kw(allocation.get(site_loop.key(session), {}).get("w")),
        }
        for session in active
    ]
    connectors = [
        {
            "chargePointId": key.split("/")[0],
            "connectorId": int(key.split("/")[1]),
            "allocationKw": _kw(entry["w"]),
            "capKw": _kw(entry["capW"]),
            "sentKw": _kw(entry.get("sentW")),
        }
        for key, entry in sorted(allocation.items())
    ]
    current = round(sum(s["powerKw"] for s in sessions), 3)
    return {**_summary(site), "currentPowerKw": current, "activeSessions": sessions, "allocation": connectors}


def _kw(watts: float | None) -> float | None:
    return None if watts is None else round(float(watts) / 1000, 3)
