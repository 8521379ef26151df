"""Remote commands to chargers: each queued in the outbox of the gateway that holds the charger's socket,
with the charger's single slot for an outstanding command on its charge point item. A command sent in
parts keeps its later parts `waiting` (in no outbox) until the part before hands them the slot."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import (
    Page,
    batch_write,
    conditional_update,
    get_item,
    query_page,
    transact,
    update_if,
)


def create_command(command: dict, connection_id: str, stale_before: str) -> bool:
    """Queue a command in the outbox of the gateway holding the charger's socket, and take the charger's
    single slot for an outstanding command, in 1 TransactWriteItems. The slot is free when empty or
    when its command is older than stale_before (timed out). False when the charger is not connected
    on connection_id or its slot is taken."""
    names = tables()
    expr = Expression()
    slot, created = expr.name("pendingCommand"), expr.name("createdAt")
    condition = (
        f"{expr.name('online')} = {expr.value(True)} AND {expr.name('connectionId')} = {expr.value(connection_id)}"
        f" AND (attribute_not_exists({slot}) OR {slot}.{created} < {expr.value(stale_before)})"
    )
    taken = expr.value({"commandId": command["commandId"], "createdAt": command["createdAt"]})
    return transact(
        [
            {
                "Put": {
                    "TableName": names.commands,
                    "Item": to_item(command),
                    "ConditionExpression": "attribute_not_exists(commandId)",
                }
            },
            {
                "Update": {
                    "TableName": names.charge_points,
                    "Key": to_item({"chargePointId": command["chargePointId"]}),
                    "UpdateExpression": f"SET {slot} = {taken}",
                    "ConditionExpression": condition,
                    **expr.args(),
                }
            },
        ]
    )


def get_command(charge_point_id: str, command_id: str) -> dict | None:
    """1 GetItem (strongly consistent: a command's state changes within seconds)."""
    return get_item(tables().commands, {"chargePointId": charge_point_id, "commandId": command_id}, consistent=True)


def outbox(gateway_id: str, limit: int = 100) -> list[dict]:
    """Commands waiting to be sent by this gateway: 1 Query on the sparse outbox index."""
    expr = Expression()
    response = client().query(
        TableName=tables().commands,
        IndexName="outbox-index",
        Limit=limit,
        KeyConditionExpression=f"{expr.name('outbox')} = {expr.value(gateway_id)}",
        **expr.args(),
    )
    return [from_item(item) for item in response.get("Items", [])]


def update_command(
    charge_point_id: str, command_id: str, sets: dict, only_if_queued: bool = False, was: str = "pending"
) -> bool:
    """Move a pending (or `was`) command on (sent, answered, failed, timed out) and out of the outbox: 1
    conditional UpdateItem. False when it is no longer pending (or, with only_if_queued, already sent)."""
    expr = Expression()
    outbox_name = expr.name("outbox")
    condition = f"{expr.name('status')} = {expr.value(was)}"
    if only_if_queued:
        condition += f" AND attribute_exists({outbox_name})"
    key = {"chargePointId": charge_point_id, "commandId": command_id}
    update = f"{expr.update(sets)} REMOVE {outbox_name}"
    return update_if(conditional_update(tables().commands, key, expr, update, condition))


def release_command_slot(charge_point_id: str, command_id: str) -> bool:
    """Free the charger's outstanding-command slot if this command still holds it: 1 UpdateItem."""
    expr = Expression()
    slot = expr.name("pendingCommand")
    condition = f"{slot}.{expr.name('commandId')} = {expr.value(command_id)}"
    key = {"chargePointId": charge_point_id}
    return update_if(conditional_update(tables().charge_points, key, expr, f"REMOVE {slot}", condition))


def put_waiting(commands: list[dict]) -> None:
    """The later parts of a command, stored `waiting`: BatchWriteItem, 1 per 25."""
    batch_write(tables().commands, [{"PutRequest": {"Item": to_item(command)}} for command in commands])


def delete_waiting(charge_point_id: str, command_ids: list[str]) -> None:
    """Parts whose first part was refused: BatchWriteItem, 1 per 25."""
    keys = [to_item({"chargePointId": charge_point_id, "commandId": command_id}) for command_id in command_ids]
    batch_write(tables().commands, [{"DeleteRequest": {"Key": key}} for key in keys])


def hand_over_command(command: dict, next_id: str, charge_point: dict, created_at: str) -> bool:
    """The next part of `command` leaves `waiting` for the outbox of the gateway holding the charger's
    socket and takes over the slot that `command` holds, in 1 TransactWriteItems: False when that part is
    no longer waiting, the slot is no longer this command's, or the charger left that connection."""
    charge_point_id = command["chargePointId"]
    part = Expression()
    status = part.name("status")
    sets = part.update({"status": "pending", "outbox": charge_point["gatewayId"], "createdAt": created_at})
    slot = Expression()
    slot_name = slot.name("pendingCommand")
    condition = (
        f"{slot.name('online')} = {slot.value(True)}"
        f" AND {slot.name('connectionId')} = {slot.value(charge_point['connectionId'])}"
        f" AND {slot_name}.{slot.name('commandId')} = {slot.value(command['commandId'])}"
    )
    taken = slot.value({"commandId": next_id, "createdAt": created_at})
    return transact(
        [
            {
                "Update": conditional_update(
                    tables().commands,
                    {"chargePointId": charge_point_id, "commandId": next_id},
                    part,
                    sets,
                    f"{status} = {part.value('waiting')}",
                )
            },
            {
                "Update": conditional_update(
                    tables().charge_points,
                    {"chargePointId": charge_point_id},
                    slot,
                    f"SET {slot_name} = {taken}",
                    condition,
                )
            },
        ]
    )


def list_commands(charge_point_id: str, limit: int, start: dict | None) -> Page:
    """A page of one charger's commands, newest first: 1 Query on its createdAt index + 1 BatchGetItem."""
    partition = ("chargePointId", charge_point_id)
    return query_page(
        tables().commands, "chargepoint-created-index", partition, ("chargePointId", "commandId"), limit, start, True
    )
