"""Local authorization lists (OCPP 1.6 Local Auth List Management), built from the idTag registry.

The registry has a version that every PUT and DELETE moves on; each entry remembers the version that last
changed it, and a deleted tag leaves a tombstone. So a Full update is every live entry, and a Differential
update is what changed after the version the charger holds: changed entries with their idTagInfo, deleted
ones without (which removes them). Its listVersion is the newest version it was built from.

What each charger holds is kept on its charge point item: `chargerVersion` (from an Accepted SendLocalList
or a GetLocalListVersion answer, via command_effects), `sentVersion` (the last list queued for it) and
`status` (the charger's last answer). Refusals are commands' exceptions (400, 404, 409 in rest.py).
"""

from __future__ import annotations

import json

from chalicelib import commands, ocpp_frames, storage, views
from chalicelib import settings as settings_module
from chalicelib.authorization import entry_info

# A Full list reads at most this many times LOCAL_LIST_MAX_LENGTH entries and tombstones.
TOMBSTONES_READ = 4

UPDATE_TYPES = ("Full", "Differential")
FIELDS = views.LOCAL_LIST_FIELDS


def summary(charge_point: dict) -> dict:
    """What the charge point item says of its local list."""
    return {name: views.plain(charge_point.get(attribute)) for name, attribute in FIELDS.items()}


def status(charge_point_id: str) -> dict:
    """GET /chargepoints/{id}/localList: the registry's version beside the charger's."""
    held = summary(commands.registered(charge_point_id))
    registry_version = storage.registry_version()
    return {
        "chargePointId": charge_point_id,
        "registryVersion": registry_version,
        **held,
        "inSync": held["chargerVersion"] == registry_version,
    }


def _update_type(raw: str | bytes | None) -> str:
    try:
        body = json.loads(raw) if raw and raw.strip() else None
    except (ValueError, RecursionError):
        raise commands.InvalidCommand("body must be JSON") from None
    if not isinstance(body, dict) or set(body) != {"updateType"} or body["updateType"] not in UPDATE_TYPES:
        raise commands.InvalidCommand('body must be a JSON object {"updateType": "Full" | "Differential"}')
    return body["updateType"]


def _too_long(limit: int, what: str) -> commands.CommandConflict:
    return commands.CommandConflict(
        f"{what} holds more than {limit} entries (LOCAL_LIST_MAX_LENGTH): too many for one SendLocalList"
    )


def build(update_type: str, charger_version: int | None) -> dict:
    """The SendLocalList payload that brings a charger holding `charger_version` up to date. Its listVersion
    is the newest version among the entries it was built from, not the registry's counter: the index it
    reads is eventually consistent, and a change it does not show yet then has a newer version than the
    list, so the next differential carries it."""
    limit = settings_module.get().local_list_max_length
    if update_type == "Full":
        since = 0
        # Tombstones are read too (they date the list), within a bound: a registry of mostly deleted tags
        # is refused rather than read without end.
        entries = storage.changed_since(0, TOMBSTONES_READ * limit)
        if len(entries) >= TOMBSTONES_READ * limit or sum(1 for e in entries if not e.get("deleted")) > limit:
            raise _too_long(limit, "the registry")
        changes = [{"idTag": e["spelling"], "idTagInfo": entry_info(e)} for e in entries if not e.get("deleted")]
    else:
        if charger_version is None or charger_version < 0:
            raise commands.CommandConflict(
                "the charger's list version is not known: send a Full update, or GetLocalListVersion first"
            )
        since = charger_version
        entries = storage.changed_since(since, limit + 1)
        if not entries:
            raise commands.CommandConflict(f"the charger holds version {since}: nothing changed since")
        if len(entries) > limit:
            raise _too_long(limit, f"the difference since version {since}")
        changes = [
            {"idTag": e["spelling"], **({} if e.get("deleted") else {"idTagInfo": entry_info(e)})} for e in entries
        ]
    version = max((int(e["version"]) for e in entries), default=since)
    changes.sort(key=lambda change: change["idTag"].upper())
    return {"listVersion": version, "updateType": update_type, "localAuthorizationList": changes}


def send(charge_point_id: str, raw: str | bytes | None) -> dict:
    """POST /chargepoints/{id}/localList: queue the SendLocalList that brings the charger up to date."""
    update_type = _update_type(raw)
    held = summary(commands.registered(charge_point_id))
    charger_version = held["chargerVersion"]
    payload = build(update_type, charger_version if isinstance(charger_version, int) else None)
    sent_at = ocpp_frames.format_timestamp(ocpp_frames.now())
    queued = commands.queue(charge_point_id, "SendLocalList", payload)
    # A charger on the in-process bus has answered already: "Sent" must not hide its answer.
    storage.note_local_list(
        charge_point_id,
        {FIELDS["sentVersion"]: payload["listVersion"], FIELDS["status"]: "Sent", FIELDS["updatedAt"]: sent_at},
        only_before=(FIELDS["updatedAt"], sent_at),
    )
    return queued


# --- what the charger's answers mean (command_effects.EFFECTS) --------------------------------------


def list_answered(command: dict, result: dict) -> None:
    """SendLocalList: Accepted, the charger holds the list's version; VersionMismatch, what it holds is
    not what we thought (a Full update or GetLocalListVersion tells); Failed, NotSupported: recorded."""
    sets = {FIELDS["status"]: result["status"], FIELDS["updatedAt"]: command["answeredAt"]}
    removes: tuple[str, ...] = ()
    if result["status"] == "Accepted":
        sets[FIELDS["chargerVersion"]] = int(command["payload"]["listVersion"])
    elif result["status"] == "VersionMismatch":
        removes = (FIELDS["chargerVersion"],)
    storage.note_local_list(command["chargePointId"], sets, removes)


def version_answered(command: dict, result: dict) -> None:
    """GetLocalListVersion: the version the charger holds (0: no list, -1: not supported)."""
    storage.note_local_list(
        command["chargePointId"],
        {
            FIELDS["chargerVersion"]: int(result["listVersion"]),
            FIELDS["status"]: "Reported",
            FIELDS["updatedAt"]: command["answeredAt"],
        },
    )
