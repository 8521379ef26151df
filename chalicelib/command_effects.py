"""What a command means once it is answered, and what a feature checks before one is queued.

Each feature registers its own entries here (one import and its dict lines), so commands.py stays transport:

- EFFECTS[action](command, result): called by `commands.record_answer` for a CALLRESULT that matches the
  schema (never for a CALLERROR, a timeout or an answer that breaks the schema), just before the command is
  stored as answered: whoever sees it answered sees its effect. `command` is the stored item with the answer:
  chargePointId, commandId, action, payload, createdAt, answeredAt, result. The answer stands whatever an
  effect does: one that raises is logged and the command is still answered. The charger's slot for an
  outstanding command is still taken, so an effect cannot queue another command to that charger; it can
  hand the slot to the next part of a command sent in parts (command_sequence.follow). Effects
  run in whichever process receives answers (the API, a gateway container, `chalice local`): they write
  through chalicelib/storage only, are idempotent (a charger may answer twice), and bound whatever the
  charger's answer can make the system store.
- BEFORE_SUBMIT[action](charge_point_id, payload) -> payload: called by `commands.queue` after the payload
  matched the schema and the charger was found online, before the command is stored; its answer is checked
  against the schema again. It refuses with `commands.InvalidCommand` (400) or `commands.CommandConflict` (409).
  The command can still be refused after it (another command is outstanding), so what a hook records must
  not count on the command being sent.

Actions without an entry keep only their result on the command (UnlockConnector, ClearCache, Reset,
DataTransfer, TriggerMessage: what they cause arrives as the charger's own messages).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from chalicelib import authorization_key, firmware, local_list, reservations, smart_charging, storage
from chalicelib.charging_rules import MAX_CONNECTORS

# A snapshot is at most the 100 KB answer it comes from; these keep a hostile charger's count bounded too.
MAX_CONFIGURATION_KEYS = 256
MAX_UNKNOWN_KEYS = 64
log = logging.getLogger("ev.command_effects")


def configuration_snapshot(command: dict, result: dict) -> None:
    """GetConfiguration: the keys the charger reported replace the stored snapshot, an AuthorizationKey's value
    withheld. A request naming keys is answered for those keys only (OCPP 1.6, 5.8): what the charger said
    before of its other keys still stands, except keys it now calls unknown (1 GetItem more)."""
    configuration = {
        entry["key"]: {"readonly": entry["readonly"], **({"value": entry["value"]} if "value" in entry else {})}
        for entry in result.get("configurationKey", [])
    }
    unknown = list(dict.fromkeys(result.get("unknownKey", [])))
    if command["payload"].get("key"):
        before = storage.get_configuration(command["chargePointId"]) or {}
        kept = {key: entry for key, entry in before.get("configuration", {}).items() if key not in unknown}
        configuration = {**kept, **configuration}
        unknown = list(dict.fromkeys(unknown + [k for k in before.get("unknownKeys", []) if k not in configuration]))
    storage.put_configuration(
        command["chargePointId"],
        authorization_key.withheld(dict(list(configuration.items())[:MAX_CONFIGURATION_KEYS])),
        unknown[:MAX_UNKNOWN_KEYS],
        command["answeredAt"],
        not_kept=max(len(configuration) - MAX_CONFIGURATION_KEYS, 0) + max(len(unknown) - MAX_UNKNOWN_KEYS, 0),
    )


def configuration_change(command: dict, result: dict) -> None:
    """ChangeConfiguration Accepted or RebootRequired: the key has the new value (from the next reboot on,
    for RebootRequired, which the entry says); a rotated AuthorizationKey, SEALED here, is the charger's
    credential once Accepted."""
    authorization_key.key_changed(command, result)
    if result["status"] not in ("Accepted", "RebootRequired"):
        return
    payload = command["payload"]
    entry = {"value": payload["value"], "readonly": False, "changedAt": command["answeredAt"]}
    if result["status"] == "RebootRequired":
        entry["rebootRequired"] = True
    storage.set_configuration_key(command["chargePointId"], payload["key"], entry, MAX_CONFIGURATION_KEYS)


def availability_change(command: dict, result: dict) -> None:
    """ChangeAvailability Accepted (now) or Scheduled (after the transaction running on it): the availability
    asked of the connector; connector 0 is the whole charger, so it replaces every connector's."""
    connector_id = int(command["payload"]["connectorId"])
    if result["status"] not in ("Accepted", "Scheduled") or connector_id > MAX_CONNECTORS:
        return
    entry = {"type": command["payload"]["type"], "status": result["status"], "at": command["answeredAt"]}
    storage.set_availability(command["chargePointId"], connector_id, entry)


EFFECTS: dict[str, Callable[[dict, dict], None]] = {
    "GetConfiguration": configuration_snapshot,
    "ChangeConfiguration": configuration_change,
    "ChangeAvailability": availability_change,
    "SetChargingProfile": smart_charging.profile_set,
    "ClearChargingProfile": smart_charging.profile_cleared,
    "ReserveNow": reservations.reserve_now_answered,
    "CancelReservation": reservations.cancel_answered,
    "UpdateFirmware": firmware.update_firmware_answered,
    "SendLocalList": local_list.list_answered,
    "GetLocalListVersion": local_list.version_answered,
}

BEFORE_SUBMIT: dict[str, Callable[[str, dict], dict]] = {
    "ChangeConfiguration": authorization_key.before_change,
    "SetChargingProfile": smart_charging.before_set,
    "ReserveNow": reservations.register,
}


def apply(command: dict) -> None:
    """The effect of an answered command (with its `result`), if its action has one. One that fails is
    logged, not raised: a bug or an outage in a feature must not fail the charger's answer."""
    effect = EFFECTS.get(command["action"])
    if effect is None:
        return
    try:
        effect(command, command["result"])
    except Exception:
        log.exception(
            json.dumps(
                {
                    "event": "command-effect-failed",
                    "chargePointId": command["chargePointId"],
                    "commandId": command["commandId"],
                    "action": command["action"],
                }
            )
        )
