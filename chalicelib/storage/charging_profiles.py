"""The charging profiles the central system has set on each charger (SetChargingProfile and
ClearChargingProfile answered Accepted), as the list chalicelib.charging_profiles works on.

The list lives in an item of its own beside the charge point (`chargingProfiles#<id>`, like the configuration
item): twenty profiles of up to a few KB each would make every write to the charge point item, several per
minute per charger, cost that much more. A version number makes each change a compare-and-set, so two
answers applied at once cannot lose one another's profile."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.storage.dynamo import Expression, tables, to_item
from chalicelib.storage.operations import batch_get, conditional_update, get_item, update_if

ATTEMPTS = 3


def _key(charge_point_id: str) -> dict:
    return {"chargePointId": f"chargingProfiles#{charge_point_id}"}


def get_charge_point_and_profiles(charge_point_id: str) -> tuple[dict | None, list[dict]]:
    """The charge point and the profiles set on it: 1 BatchGetItem."""
    keys = [to_item({"chargePointId": charge_point_id}), to_item(_key(charge_point_id))]
    found = {item["chargePointId"]: item for item in batch_get(tables().charge_points, keys)}
    profiles = found.get(_key(charge_point_id)["chargePointId"], {}).get("chargingProfiles", [])
    return found.get(charge_point_id), profiles


def change_charging_profiles(charge_point_id: str, change: Callable[[list[dict]], list[dict]]) -> list[dict]:
    """The profiles after `change`: 1 consistent GetItem + 1 conditional UpdateItem, again when another
    change came in between (at most 3 times). Whatever `change` raises leaves the list as it was."""
    table, key = tables().charge_points, _key(charge_point_id)
    for _ in range(ATTEMPTS):
        item = get_item(table, key, consistent=True) or {}
        version = int(item.get("profilesVersion", 0))
        changed = change(item.get("chargingProfiles", []))
        expr = Expression()
        name = expr.name("profilesVersion")
        condition = f"attribute_not_exists({name})" if version == 0 else f"{name} = {expr.value(version)}"
        sets = expr.update({"chargingProfiles": changed, "profilesVersion": version + 1})
        if update_if(conditional_update(table, key, expr, sets, condition)):
            return changed
    raise RuntimeError(f"the charging profiles of {charge_point_id} kept changing under this update")
