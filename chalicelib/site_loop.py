"""Site load management's loop: the central system keeps each site's chargers within its limit.

- Safe default: a site's charger gets a TxDefaultProfile of limit / the site's connectors on connector 0
  when it reports its connectors after a boot (and when its site changes). A connector without a TxProfile
  of ours, because the charger rejected it, has not answered or has not had it yet, never draws more than
  that: all of them together stay within the limit.
- Allocation: when a session starts or stops on a site, when a car's demand changes notably, or when a
  connector stops charging, the site's power is shared again (site_allocation.allocate) and each charger whose
  share changed gets a TxProfile for its transaction (limit in W). Lower shares are sent before higher ones.
- A connector's cap: its charger's power shared among the charger's active sessions, and the car's demand
  once known: a car that draws clearly less than it is given (by more than HEADROOM) is capped at what it
  draws plus HEADROOM, until it draws close to that again.
- One command outstanding per charger (commands.CommandConflict): a share not sent stays due in the site's
  allocation (`sentW` differs from `w`) and is sent at the charger's next reading; the latest allocation is
  what is sent, never an older one. A new session's TxProfile waits for its first reading: by then the
  charger surely knows its transactionId (until then it is held by the default).

Chargers on no site cost nothing here: the hooks read what the message already read (the charge point's
`siteId`, the session's `siteId`), or a per-process memory of which chargers are on a site.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time

from chalicelib import commands, settings, site_allocation, storage
from chalicelib.charging_rules import DEFAULT_MAX_POWER_W
from chalicelib.views import plain

log = logging.getLogger("ev.site_loop")
PROFILE_ID = 915_000  # the site's TxDefaultProfile; its TxProfiles are PROFILE_ID + connector
HEADROOM_W = 1000
SAVE_ATTEMPTS = 4
MEMORY_SECONDS = 300  # how long a process trusts what it read about a charger's site
# (charge points table, charger) -> (its site, until when that is trusted)
_site_of: dict[tuple[str, str], tuple[str | None, float]] = {}
# The sites this thread is computing, each with whether another computation was asked for meanwhile.
_running = threading.local()


def key(session: dict) -> str:
    return f"{session['chargePointId']}/{int(session['connectorId'])}"


def _remember(charge_point_id: str, site_id: str | None) -> None:
    _site_of[(settings.get().charge_points_table, charge_point_id)] = (site_id, time.monotonic() + MEMORY_SECONDS)


def _known_site(charge_point_id: str) -> str | None:
    """The charger's site as this process knows it, read (1 GetItem) when it has not for a while."""
    site_id, until = _site_of.get((settings.get().charge_points_table, charge_point_id), (None, 0.0))
    if until < time.monotonic():
        site_id = storage.site_of(charge_point_id)
        _remember(charge_point_id, site_id)
    return site_id


def _guarded(step: str, site_id: str | None, work) -> None:
    """A hook runs after the charger's message is applied: its failure is logged, never the charger's."""
    try:
        work()
    except Exception:  # noqa: BLE001 - the message stands; the next trigger computes again
        log.exception(json.dumps({"event": "site-loop-failed", "step": step, "siteId": site_id}))


# --- the hooks --------------------------------------------------------------------------------------


def session_started(charge_point: dict, session: dict) -> None:
    """After a StartTransaction applied: the others' shares go down before the new one is known."""
    site_id = charge_point.get("siteId")
    _remember(charge_point["chargePointId"], site_id)
    if site_id:
        _guarded("start", site_id, lambda: recompute(site_id))


def session_stopped(session: dict) -> None:
    """After a StopTransaction applied: its share goes to the others."""
    site_id = session.get("siteId")
    if site_id:
        _guarded("stop", site_id, lambda: recompute(site_id))


def status_applied(charge_point: dict, connector: int, status: str) -> None:
    """After a StatusNotification applied: a charger reporting after a boot gets its safe default; a
    connector that stops charging (a full car) frees its share."""
    site_id = charge_point.get("siteId")
    _remember(charge_point["chargePointId"], site_id)
    if not site_id:
        return

    def work() -> None:
        site = storage.get_site(site_id)
        if site is None:
            return
        _send_default(charge_point, site)
        stopped = status.startswith("Suspended") or status in ("Finishing", "Available", "Faulted")
        shared = f"{charge_point['chargePointId']}/{connector}" in site.get("allocation", {})
        if stopped and shared:
            recompute(site_id)

    _guarded("status", site_id, work)


def reading(charge_point_id: str, connector: int, power_w: float | None) -> None:
    """After a MeterValues of a transaction applied: a share still due is sent, and a car's demand that
    changed notably shares the site again (1 GetItem of the site, for a charger on one)."""
    site_id = _known_site(charge_point_id)
    if not site_id:
        return

    def work() -> None:
        site = storage.get_site(site_id)
        if site is None:
            return
        allocation = plain(site.get("allocation", {}))
        entry = allocation.get(f"{charge_point_id}/{connector}")
        due = any(e.get("sentW") != e["w"] for e in allocation.values())
        if due or entry is None or (power_w is not None and _demand_changed(entry, power_w)):
            recompute(site_id)

    _guarded("reading", site_id, work)


def site_changed(site_id: str) -> None:
    """After PUT /sites/{siteId}: the new default to its chargers, and the site shared again."""
    site = storage.get_site(site_id, consistent=True)
    if site is None:
        return
    for charge_point in storage.charge_points_by_id(list(site["chargePointIds"])).values():
        _remember(charge_point["chargePointId"], site_id)
        _send_default(charge_point, site)
    recompute(site_id)


# --- the safe default -------------------------------------------------------------------------------


def default_limit_w(site: dict) -> int:
    return math.floor(float(site["maxPowerKw"]) * 1000 / max(int(site.get("connectors", 1)), 1))


def _send_default(charge_point: dict, site: dict) -> None:
    """The TxDefaultProfile, once per boot of the charger and per limit."""
    limit_w = default_limit_w(site)
    wanted = {"bootedAt": charge_point.get("bootedAt"), "limitW": limit_w}
    if charge_point.get("siteDefault") == wanted:
        return
    profile = _profile(PROFILE_ID, "TxDefaultProfile", limit_w)
    if _send(charge_point["chargePointId"], {"connectorId": 0, "csChargingProfiles": profile}):
        storage.note_site_default(charge_point["chargePointId"], wanted)


def _profile(profile_id: int, purpose: str, limit_w: int, transaction_id: int | None = None) -> dict:
    return {
        "chargingProfileId": profile_id,
        **({"transactionId": transaction_id} if transaction_id is not None else {}),
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Relative",  # from the start of each transaction: no clock to agree on
        "chargingSchedule": {"chargingRateUnit": "W", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit_w}]},
    }


def _send(charge_point_id: str, payload: dict) -> bool:
    """SetChargingProfile queued; False when the charger cannot take it now (offline, busy, unknown)."""
    try:
        commands.queue(charge_point_id, "SetChargingProfile", payload)
    except (commands.CommandConflict, commands.UnknownCommandTarget):
        return False
    return True


# --- the allocation ---------------------------------------------------------------------------------


def active_sessions(site: dict) -> list[dict]:
    """The site's active sessions, from each charger's pointer to each connector's newest session:
    2 BatchGetItem (strongly consistent)."""
    charge_points = storage.charge_points_by_id(list(site["chargePointIds"]))
    pointers = [
        value["sessionId"]
        for charge_point in charge_points.values()
        for name, value in charge_point.items()
        if name.startswith("session_") and isinstance(value, dict)
    ]
    found = storage.sessions_by_id(pointers)
    return sorted((s for s in found if s["status"] == "Active"), key=key)


def _demand_changed(entry: dict, power_w: float) -> bool:
    """Whether a car's reading moves its cap: it draws clearly less than the limit its charger was sent,
    or, capped by its demand, it draws close to that limit again. Until a limit is sent it is not judged."""
    given = entry.get("sentW")
    if given is None:
        return False
    if entry.get("demandCapped", False):
        return power_w >= given - HEADROOM_W / 2
    return power_w < given - HEADROOM_W


def _cap(session: dict, entry: dict | None, charger_share_w: float) -> tuple[float, bool]:
    """A connector's cap and whether the car's demand sets it."""
    power = session.get("powerW")
    if entry is None or entry.get("sessionId") != session["sessionId"] or power is None:
        return charger_share_w, False
    if session.get("lastMeterTime", "") <= entry.get("sentAfter", "~"):
        # No reading since the limit was last sent (in the charger's own clock): what the car takes under
        # it is not known yet, the cap stays.
        return (entry["capW"], True) if entry.get("demandCapped") else (charger_share_w, False)
    power = float(power)
    capped, changed = entry.get("demandCapped", False), _demand_changed(entry, power)
    if (capped and not changed) or (not capped and changed):
        demand = power + HEADROOM_W
        if demand < charger_share_w:
            return demand, True
    return charger_share_w, False


def recompute(site_id: str) -> None:
    """Share the site's limit among its active sessions and send what changed (see the module's doc). A
    recomputation the sending sets off in this thread (a simulated charger answering on the in-process bus
    and reading at once) is folded into the running one, which computes once more when it is done."""
    running = _running.__dict__.setdefault("sites", {})
    if site_id in running:
        running[site_id] = True
        return
    running[site_id] = False
    try:
        while True:
            _recompute(site_id)
            if not running[site_id]:
                return
            running[site_id] = False
    finally:
        del running[site_id]


def _recompute(site_id: str) -> None:
    sent: dict[str, dict] = {}  # what this computation sent, kept if its save loses to another's
    for _ in range(SAVE_ATTEMPTS):
        site = storage.get_site(site_id, consistent=True)
        if site is None:
            return
        active = active_sessions(site)
        previous = {**plain(site.get("allocation", {})), **sent}
        per_charger: dict[str, int] = {}
        for session in active:
            per_charger[session["chargePointId"]] = per_charger.get(session["chargePointId"], 0) + 1
        caps = {}
        for session in active:
            share = float(session.get("maxPowerW", DEFAULT_MAX_POWER_W)) / per_charger[session["chargePointId"]]
            caps[key(session)] = _cap(session, previous.get(key(session)), share)
        limit_w = math.floor(float(site["maxPowerKw"]) * 1000)
        shares = site_allocation.allocate(limit_w, {k: c[0] for k, c in caps.items()})
        by_key = {key(s): s for s in active}
        allocation = {k: _entry(by_key[k], previous.get(k, {}), shares[k], caps[k]) for k in shares}
        # What the chargers may draw now: the limit sent, or the safe default where none is.
        default = default_limit_w(site)
        committed = sum(default if e["sentW"] is None else e["sentW"] for e in allocation.values())
        # Lower shares first, and a higher one only while the limits sent stay within the site's: a charger
        # that cannot take its lower share yet (busy) holds back another's higher one, never the limit.
        for k in sorted(allocation, key=lambda k: allocation[k]["w"] - (allocation[k]["sentW"] or default)):
            entry, session = allocation[k], by_key[k]
            held = default if entry["sentW"] is None else entry["sentW"]
            if entry["sentW"] == entry["w"] or "lastMeterTime" not in session:
                continue
            lower = entry["w"] <= held
            if (lower or committed - held + entry["w"] <= limit_w) and _send_tx(session, entry["w"]):
                committed += entry["w"] - held
                entry.update(sentW=entry["w"], sentAfter=session["lastMeterTime"])
                sent[k] = dict(entry)
        if storage.save_allocation(site_id, allocation, int(site.get("allocationVersion", 0))):
            return


def _entry(session: dict, before: dict, share_w: int, cap: tuple[float, bool]) -> dict:
    """A connector's allocation, with what was sent for its session (nothing for a new session)."""
    same = before.get("sessionId") == session["sessionId"]
    return {
        "w": share_w,
        "capW": math.floor(cap[0]),
        "demandCapped": cap[1],
        "sessionId": session["sessionId"],
        "sentW": before.get("sentW") if same else None,
        **({"sentAfter": before["sentAfter"]} if same and "sentAfter" in before else {}),
    }


def _send_tx(session: dict, limit_w: int) -> bool:
    connector = int(session["connectorId"])
    profile = _profile(PROFILE_ID + connector, "TxProfile", limit_w, int(session["transactionId"]))
    return _send(session["chargePointId"], {"connectorId": connector, "csChargingProfiles": profile})
