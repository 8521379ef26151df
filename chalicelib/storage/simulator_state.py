"""The simulator's own memory: its chargers' state items, and the lease (with its waiting list) that
keeps two simulator ticks from running at once."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import batch_get, batch_write, conditional_update, update_if, updated_if


def load_simulator_items(keys: Iterable[str]) -> dict[str, dict]:
    """Simulator items by pk, in BatchGetItem calls of 100 keys (strongly consistent)."""
    wanted = [to_item({"pk": key}) for key in dict.fromkeys(keys)]
    return {item["pk"]: item for item in batch_get(tables().simulator, wanted, consistent=True)}


def save_simulator_items(puts: list[dict], deletes: Iterable[str] = ()) -> None:
    """Writes and deletes in BatchWriteItem calls of 25, re-sending what DynamoDB left unprocessed."""
    requests = [{"PutRequest": {"Item": to_item(item)}} for item in puts]
    requests += [{"DeleteRequest": {"Key": to_item({"pk": key})}} for key in deletes]
    batch_write(tables().simulator, requests)


def put_simulator_item(item: dict) -> None:
    """1 PutItem."""
    client().put_item(TableName=tables().simulator, Item=to_item(item))


def _on_lease(name: str, expr: Expression, update: str, condition: str, **extra: str) -> dict:
    """UpdateItem arguments on the lease's item."""
    return conditional_update(tables().simulator, {"pk": name}, expr, update, condition, **extra)


def acquire_lease(name: str, holder: str, now_epoch: float, seconds: float) -> bool:
    """A lease so that two simulator ticks never run at once: 1 conditional UpdateItem."""
    expr = Expression()
    update = expr.update({"holder": holder, "until": Decimal(str(now_epoch + seconds))})
    until = expr.name("until")
    condition = f"attribute_not_exists({until}) OR {until} < {expr.value(Decimal(str(now_epoch)))}"
    return update_if(_on_lease(name, expr, update, condition))


def wait_on_lease(name: str, member: str, now_epoch: float) -> bool:
    """Leave member for the lease's holder to serve before it lets go (see release_lease): 1 conditional
    UpdateItem. False when nobody holds the lease (any more): then take it instead."""
    expr = Expression()
    update = expr.update(adds={"waiting": {member}})
    condition = f"{expr.name('until')} >= {expr.value(Decimal(str(now_epoch)))}"
    return update_if(_on_lease(name, expr, update, condition))


def release_lease(name: str, holder: str) -> list[str]:
    """Give the lease back, unless members wait on it: then it stays held and they are returned, taken off
    the list, for the holder to serve before it tries again. Nothing when the lease expired and another
    holder has it now. 1 conditional UpdateItem; +1 UpdateItem when members wait."""
    expr = Expression()
    update = expr.update({"until": Decimal(0)})
    condition = f"{expr.name('holder')} = {expr.value(holder)} AND attribute_not_exists({expr.name('waiting')})"
    if update_if(_on_lease(name, expr, update, condition)):
        return []
    expr = Expression()
    update = f"REMOVE {expr.name('waiting')}"
    condition = f"{expr.name('holder')} = {expr.value(holder)}"
    taken = updated_if(_on_lease(name, expr, update, condition, ReturnValues="UPDATED_OLD"))
    return sorted(from_item(taken or {}).get("waiting", ()))


def give_up_lease(name: str, holder: str) -> None:
    """Give the lease back whatever waits on it (after a failure: the next holder serves them): 1 UpdateItem."""
    expr = Expression()
    update = expr.update({"until": Decimal(0)})
    update_if(_on_lease(name, expr, update, f"{expr.name('holder')} = {expr.value(holder)}"))
