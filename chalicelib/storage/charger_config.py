"""What chargers said about their settings in answer to commands: the configuration (GetConfiguration,
ChangeConfiguration) and the availability asked of each connector (ChangeAvailability).

The configuration lives in an item of its own beside the charge point (`configuration#<id>`, like the
credentials item: '#' cannot occur in a charge point id, and it has none of the indexes' keys). Up to
100 KB, it would make every write to the charge point item, several per minute per charger, cost that
much more; the charge point item keeps only what is small and bounded (availability: 33 connectors)."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, client, tables, to_item
from chalicelib.storage.operations import batch_get, conditional_update, get_item, update_if


def _configuration_key(charge_point_id: str) -> dict:
    return {"chargePointId": f"configuration#{charge_point_id}"}


def put_configuration(charge_point_id: str, configuration: dict, unknown_keys: list, at: str, not_kept: int) -> None:
    """A whole snapshot replaces the previous one: 1 PutItem."""
    item = {
        **_configuration_key(charge_point_id),
        "configuration": configuration,
        "unknownKeys": unknown_keys,
        "configurationAt": at,
        "configurationKeysNotKept": not_kept,
    }
    client().put_item(TableName=tables().charge_points, Item=to_item(item))


def set_configuration_key(charge_point_id: str, key: str, entry: dict, max_keys: int) -> bool:
    """One key of the snapshot: 1 UpdateItem, +1 when there is no snapshot yet (it starts with this key).
    False when the snapshot is full and the key is not in it."""
    expr = Expression()
    configuration = expr.name("configuration")
    path = f"{configuration}.{expr.segment(key)}"
    condition = (
        f"attribute_exists({configuration})"
        f" AND (attribute_exists({path}) OR size({configuration}) < {expr.value(max_keys)})"
    )
    table, item_key = tables().charge_points, _configuration_key(charge_point_id)
    if update_if(conditional_update(table, item_key, expr, f"SET {path} = {expr.value(entry)}", condition)):
        return True
    first = Expression()
    sets = first.update({"configuration": {key: entry}, "unknownKeys": []})
    return update_if(
        conditional_update(table, item_key, first, sets, f"attribute_not_exists({first.name('configuration')})")
    )


def set_availability(charge_point_id: str, connector_id: int, entry: dict) -> bool:
    """The availability asked of a connector, on the charge point item: 1 UpdateItem, +1 for the first one.
    Connector 0 is the whole charger: it replaces every connector's. False for an unknown charge point."""
    table, key = tables().charge_points, {"chargePointId": charge_point_id}

    def replace(only_first: bool) -> bool:
        expr = Expression()
        condition = f"attribute_exists({expr.name('chargePointId')})"
        if only_first:
            condition += f" AND attribute_not_exists({expr.name('availability')})"
        sets = expr.update({"availability": {str(connector_id): entry}})
        return update_if(conditional_update(table, key, expr, sets, condition))

    if connector_id == 0:
        return replace(only_first=False)
    # Twice: a concurrent first entry of another connector may make the map between the two updates.
    for _ in range(2):
        expr = Expression()
        availability = expr.name("availability")
        update = f"SET {availability}.{expr.segment(str(connector_id))} = {expr.value(entry)}"
        if update_if(conditional_update(table, key, expr, update, f"attribute_exists({availability})")):
            return True
        if replace(only_first=True):
            return True
    return False


def get_configuration(charge_point_id: str) -> dict | None:
    """The configuration snapshot alone: 1 GetItem (strongly consistent: a command is about to be sized to it)."""
    return get_item(tables().charge_points, _configuration_key(charge_point_id), consistent=True)


def get_charge_point_and_configuration(charge_point_id: str) -> tuple[dict | None, dict | None]:
    """The charge point and its configuration snapshot: 1 BatchGetItem."""
    keys = [to_item({"chargePointId": charge_point_id}), to_item(_configuration_key(charge_point_id))]
    found = {item["chargePointId"]: item for item in batch_get(tables().charge_points, keys)}
    return found.get(charge_point_id), found.get(_configuration_key(charge_point_id)["chargePointId"])
