"""A simulated charge point's configuration keys (ChangeConfiguration, GetConfiguration) and its local
authorization list (SendLocalList, GetLocalListVersion), which it consults before asking the central system.

Every key it reports is one it obeys or a fact about it; the read-only ones describe fixed behaviour (it
has no authorization cache, cannot reserve connector 0).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import charger_model
from chalicelib.ocpp_frames import parse_timestamp

if TYPE_CHECKING:
    from chalicelib.simulated_charger import Charger

FEATURE_PROFILES = "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger"
# Read-only facts: key -> value.
FIXED = {
    "AuthorizationCacheEnabled": "false",
    "ChargeProfileMaxStackLevel": "8",
    "ChargingScheduleAllowedChargingRateUnit": "Current,Power",
    "ChargingScheduleMaxPeriods": "24",
    "GetConfigurationMaxKeys": "50",
    "LocalAuthListMaxLength": "100",
    "MaxChargingProfilesInstalled": "10",
    "MeterValuesSampledData": "Energy.Active.Import.Register,Power.Active.Import,SoC",
    "ReserveConnectorZeroSupported": "false",
    "SendLocalListMaxLength": "50",
    "StopTransactionOnEVSideDisconnect": "true",
    "SupportedFeatureProfiles": FEATURE_PROFILES,
    "UnlockConnectorOnEVSideDisconnect": "true",
}
# Keys a command may change: key -> (factory value, the values it takes).
BOOLEAN = ("true", "false")
CHANGEABLE = {
    "AuthorizeRemoteTxRequests": ("true", BOOLEAN),
    "LocalAuthListEnabled": ("true", BOOLEAN),
    "LocalPreAuthorize": ("true", BOOLEAN),
}


def _positive(value: str) -> bool:
    return value.isdigit() and 1 <= int(value) <= 86400


def value(state: dict, key: str) -> str:
    """A changeable key's present value."""
    return state.get("configuration", {}).get(key, CHANGEABLE[key][0])


def sample_seconds(state: dict) -> int:
    """MeterValueSampleInterval: how often a charging connector sends MeterValues."""
    return int(state.get("configuration", {}).get("MeterValueSampleInterval", charger_model.SAMPLE_SECONDS))


def _all(state: dict) -> dict[str, tuple[str, bool]]:
    """Every key: (value, readonly)."""
    keys = {key: (text, True) for key, text in FIXED.items()}
    keys["NumberOfConnectors"] = (str(len(state["connectors"])), True)
    keys["HeartbeatInterval"] = (str(state["heartbeatInterval"]), False)
    keys["MeterValueSampleInterval"] = (str(sample_seconds(state)), False)
    keys.update({key: (value(state, key), False) for key in CHANGEABLE})
    return keys


def change_configuration(charger: Charger, payload: dict) -> dict:
    key, text, state = payload["key"], payload["value"], charger.state
    known = _all(state)
    if key not in known:
        return {"status": "NotSupported"}
    if known[key][1]:
        return {"status": "Rejected"}
    if key == "HeartbeatInterval":
        if not _positive(text):
            return {"status": "Rejected"}
        state["heartbeatInterval"] = int(text)
        return {"status": "Accepted"}
    if key == "MeterValueSampleInterval":
        if not _positive(text):
            return {"status": "Rejected"}
        state.setdefault("configuration", {})[key] = str(int(text))
        return {"status": "Accepted"}
    if text.lower() not in CHANGEABLE[key][1]:
        return {"status": "Rejected"}
    state.setdefault("configuration", {})[key] = text.lower()
    return {"status": "Accepted"}


def get_configuration(charger: Charger, payload: dict) -> dict:
    known = _all(charger.state)
    wanted = payload.get("key") or sorted(known)
    unknown = [key for key in wanted if key not in known]
    return {
        "configurationKey": [{"key": k, "value": known[k][0], "readonly": known[k][1]} for k in wanted if k in known],
        **({"unknownKey": unknown} if unknown else {}),
    }


# --- the local authorization list -------------------------------------------------------------------


def _local_list(state: dict) -> dict:
    return state.setdefault("localList", {"version": 0, "tags": {}})


def get_local_list_version(charger: Charger, payload: dict) -> dict:
    """0 stands for an empty list (OCPP 1.6 5.10)."""
    local = _local_list(charger.state)
    return {"listVersion": local["version"] if local["tags"] else 0}


def send_local_list(charger: Charger, payload: dict) -> dict:
    """A full list replaces the one kept; a differential one adds or updates the entries with an idTagInfo and
    removes those without, and only moves the list to a newer version (OCPP 1.6 5.15)."""
    local = _local_list(charger.state)
    entries = payload.get("localAuthorizationList", [])
    if len(entries) > int(FIXED["SendLocalListMaxLength"]):
        return {"status": "Failed"}
    if payload["updateType"] == "Differential":
        if payload["listVersion"] <= local["version"]:
            return {"status": "VersionMismatch"}
        tags = dict(local["tags"])
    else:
        tags = {}
    for entry in entries:
        if "idTagInfo" in entry:
            tags[entry["idTag"]] = entry["idTagInfo"]
        else:
            tags.pop(entry["idTag"], None)
    if len(tags) > int(FIXED["LocalAuthListMaxLength"]):
        return {"status": "Failed"}
    local.update(version=payload["listVersion"], tags=tags)
    return {"status": "Accepted"}


def local_verdict(state: dict, id_tag: str, wall: datetime) -> bool | None:
    """What the local list says of an idTag: False refused (not Accepted, or expired), True accepted without
    asking (LocalPreAuthorize), None ask the central system (not listed, the list disabled, or no pre-authorizing)."""
    info = _local_list(state)["tags"].get(id_tag)
    if info is None or value(state, "LocalAuthListEnabled") != "true":
        return None
    expired = "expiryDate" in info and parse_timestamp(info["expiryDate"]) <= wall
    if info["status"] != "Accepted" or expired:
        return False
    return True if value(state, "LocalPreAuthorize") == "true" else None


HANDLERS: dict[str, Callable[[Charger, dict], dict]] = {
    "ChangeConfiguration": change_configuration,
    "GetConfiguration": get_configuration,
    "GetLocalListVersion": get_local_list_version,
    "SendLocalList": send_local_list,
}
