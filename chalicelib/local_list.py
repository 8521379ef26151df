"""Local authorization lists (OCPP 1.6 Local Auth List Management), built from the idTag registry.

The registry has a version that every PUT and DELETE moves on; each entry remembers the version that last
changed it, and a deleted tag leaves a tombstone. So a Full update is every live entry, and a Differential
update is what changed after the version the charger holds: changed entries with their idTagInfo, deleted
ones without (which removes them). Its listVersion is the newest version it was built from.

A charger says what it can take in two configuration keys, known once it answered a GetConfiguration
(command_effects keeps the snapshot beside its charge point): LocalAuthListMaxLength, the entries its list
holds, and SendLocalListMaxLength, the entries one SendLocalList carries. A list it cannot hold is refused
(409); one longer than a message goes in parts (command_sequence.py, versions: `split`). Unknown, a list
is one message of at most LOCAL_LIST_MAX_LENGTH entries, and the answer says how to learn them.

What each charger holds is kept on its charge point item: `chargerVersion` (from an Accepted SendLocalList
or a GetLocalListVersion answer, via command_effects), `sentVersion` (the version of the last list queued
for it: its last part's) and `status` (the charger's last answer). Refusals are commands' exceptions (400,
404, 409 in rest.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from chalicelib import command_sequence, commands, ocpp_frames, storage, views
from chalicelib import settings as settings_module
from chalicelib.authorization import entry_info

# A Full list reads at most this many times the entries it may carry, counting tombstones.
TOMBSTONES_READ = 4
# A list longer than the charger's SendLocalListMaxLength goes in at most this many SendLocalList.
MAX_PARTS = 10
CAPACITY_KEY, PER_MESSAGE_KEY = "LocalAuthListMaxLength", "SendLocalListMaxLength"

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


@dataclass(frozen=True)
class Limits:
    """What a charger said it can take, from its configuration snapshot (GetConfiguration; None: not known)."""

    capacity: int | None  # LocalAuthListMaxLength: entries its list holds
    per_message: int | None  # SendLocalListMaxLength: entries one SendLocalList carries

    def view(self) -> dict:
        """The limits as the POST answer shows them, and how to learn those not known."""
        known = {CAPACITY_KEY: self.capacity, PER_MESSAGE_KEY: self.per_message}
        unknown = [key for key, value in known.items() if value is None]
        if not unknown:
            return known
        note = f"{' and '.join(unknown)} not known: a GetConfiguration command reads them, and lists are sized to them"
        if self.per_message is None:
            note += "; until then a list is one SendLocalList of at most LOCAL_LIST_MAX_LENGTH entries"
        return {**known, "note": note}


NOT_KNOWN = Limits(None, None)


def charger_limits(configuration: dict | None) -> Limits:
    """The two keys from a configuration snapshot; a value that is not a whole number from 1 is not known."""
    keys = (configuration or {}).get("configuration") or {}

    def number(key: str) -> int | None:
        text = str(keys.get(key, {}).get("value", "")).strip()
        return int(text) if text.isdigit() and int(text) >= 1 else None

    return Limits(number(CAPACITY_KEY), number(PER_MESSAGE_KEY))


def _too_long(what: str, most: int, limits: Limits) -> commands.CommandConflict:
    limit = settings_module.get().local_list_max_length
    if limits.per_message is None:
        return commands.CommandConflict(
            f"{what} holds more than {most} entries (LOCAL_LIST_MAX_LENGTH): too many for one SendLocalList"
        )
    return commands.CommandConflict(
        f"{what} holds more than {most} entries: more than {MAX_PARTS} SendLocalList of at most "
        f"{min(limits.per_message, limit)} entries ({PER_MESSAGE_KEY} {limits.per_message}, "
        f"LOCAL_LIST_MAX_LENGTH {limit})"
    )


def _check_capacity(live: int, counted_all: bool, limits: Limits) -> None:
    """The charger ends holding every live entry: 409 when that is more than its list holds."""
    if limits.capacity is not None and live > limits.capacity:
        count = str(live) if counted_all else f"at least {live}"
        raise commands.CommandConflict(
            f"the list would hold {count} entries, more than the charger's {CAPACITY_KEY} of {limits.capacity}"
        )


def _change(entry: dict) -> dict:
    """A list entry: with its idTagInfo, or a deleted tag's bare idTag (which removes it)."""
    return {"idTag": entry["spelling"], **({} if entry.get("deleted") else {"idTagInfo": entry_info(entry)})}


def split(update_type: str, entries: list[dict], version: int, per_message: int) -> list[dict]:
    """The SendLocalList payloads that carry `entries` (a Full list's live entries, or a difference) at
    most `per_message` each: the first of `update_type`, the others Differential. They go oldest change
    first, so each part's listVersion, the newest version it carries, is true of what the charger holds
    once it took it and the parts before it: every change up to that version. A Differential since it
    completes the list, and a part that fails leaves the charger at the last Accepted part's version,
    never at the list's. The last part carries `version`, the version of the whole list."""
    ordered = sorted(entries, key=lambda entry: int(entry["version"]))
    chunks = [ordered[start : start + per_message] for start in range(0, len(ordered), per_message)] or [[]]
    return [
        {
            "listVersion": version if index == len(chunks) - 1 else int(chunk[-1]["version"]),
            "updateType": update_type if index == 0 else "Differential",
            "localAuthorizationList": sorted((_change(entry) for entry in chunk), key=lambda c: c["idTag"].upper()),
        }
        for index, chunk in enumerate(chunks)
    ]


def build(update_type: str, charger_version: int | None, limits: Limits = NOT_KNOWN) -> list[dict]:
    """The SendLocalList payloads, in the order they go, that bring a charger holding `charger_version` up
    to date: one unless the charger's SendLocalListMaxLength is known and smaller than the list. The
    list's version is the newest version among the entries it was built from, not the registry's counter:
    the index it reads is eventually consistent, and a change it does not show yet then has a newer
    version than the list, so the next differential carries it."""
    limit = settings_module.get().local_list_max_length
    per_message = limit if limits.per_message is None else min(limits.per_message, limit)
    most = limit if limits.per_message is None else per_message * MAX_PARTS
    if update_type == "Full":
        since = 0
        # Tombstones are read too (they date the list), within a bound: a registry of mostly deleted tags
        # is refused rather than read without end.
        entries = storage.changed_since(0, TOMBSTONES_READ * most)
        changes = [entry for entry in entries if not entry.get("deleted")]
        read_all = len(entries) < TOMBSTONES_READ * most
        _check_capacity(len(changes), read_all, limits)
        if not read_all or len(changes) > most:
            raise _too_long("the registry", most, limits)
    else:
        if charger_version is None or charger_version < 0:
            raise commands.CommandConflict(
                "the charger's list version is not known: send a Full update, or GetLocalListVersion first"
            )
        since = charger_version
        entries = changes = storage.changed_since(since, most + 1)
        if not entries:
            raise commands.CommandConflict(f"the charger holds version {since}: nothing changed since")
        if len(entries) > most:
            raise _too_long(f"the difference since version {since}", most, limits)
        if limits.capacity is not None:
            bound = max(limits.capacity, most) + 1
            live = storage.count_live(bound)
            _check_capacity(live, live < bound, limits)
    version = max((int(e["version"]) for e in entries), default=since)
    return split(update_type, changes, version, per_message)


def send(charge_point_id: str, raw: str | bytes | None) -> dict:
    """POST /chargepoints/{id}/localList: queue the SendLocalList commands that bring the charger up to
    date: the first command's `commandId` and `status`, every part in `commands`, and the charger's
    limits the list was sized to."""
    update_type = _update_type(raw)
    held = summary(commands.registered(charge_point_id))
    limits = charger_limits(storage.get_configuration(charge_point_id))
    charger_version = held["chargerVersion"]
    payloads = build(update_type, charger_version if isinstance(charger_version, int) else None, limits)
    sent_at = ocpp_frames.format_timestamp(ocpp_frames.now())
    queued = command_sequence.queue_parts(charge_point_id, "SendLocalList", payloads)
    # A charger on the in-process bus has answered already: "Sent" must not hide its answer.
    storage.note_local_list(
        charge_point_id,
        {FIELDS["sentVersion"]: payloads[-1]["listVersion"], FIELDS["status"]: "Sent", FIELDS["updatedAt"]: sent_at},
        only_before=(FIELDS["updatedAt"], sent_at),
    )
    parts = [
        {
            **command,
            "updateType": payload["updateType"],
            "listVersion": payload["listVersion"],
            "entries": len(payload["localAuthorizationList"]),
        }
        for command, payload in zip(queued, payloads, strict=True)
    ]
    return {**queued[0], "commands": parts, "chargerLimits": limits.view()}


# --- what the charger's answers mean (command_effects.EFFECTS) --------------------------------------


def list_answered(command: dict, result: dict) -> None:
    """SendLocalList: Accepted, the charger holds the list's version; VersionMismatch, what it holds is
    not what we thought (a Full update or GetLocalListVersion tells); Failed, NotSupported: recorded.
    A part of a longer list: Accepted, the charger holds that part's version (never the whole list's,
    see `split`) and the next part goes; any other answer, the later parts are not sent."""
    status = result["status"]
    sets = {FIELDS["status"]: status, FIELDS["updatedAt"]: command["answeredAt"]}
    removes: tuple[str, ...] = ()
    if status == "Accepted":
        sets[FIELDS["chargerVersion"]] = int(command["payload"]["listVersion"])
    elif status == "VersionMismatch":
        removes = (FIELDS["chargerVersion"],)
    # First: a next part answered at once (on the in-process bus) must find this part's version written.
    storage.note_local_list(command["chargePointId"], sets, removes)
    why = f"not sent: part {command.get('part')} of {command.get('parts')} was answered {status}"
    command_sequence.follow(command, status == "Accepted", why)


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
