"""The idTag registry: one item per idTag (keyed by its canonical, upper-case form), a version counter that
every change moves, tombstones for deleted tags (a differential local list must remove them), each tag's
count of active transactions, and what each charger's local authorization list holds.

- listed-index (sparse, KEYS_ONLY): live entries by idTag, for the paged listing.
- version-index (ALL): live entries and tombstones by the version that last changed them, for the
  local lists: a full one is every live entry, a differential one what changed after a version.
"""

from __future__ import annotations

from typing import Any

from chalicelib.storage.dynamo import Expression, client, from_item, tables, to_item
from chalicelib.storage.operations import Page, conditional_update, get_item, query_page, transact, update_if

# The registry's version counter. Longer than any idTag (CiString20), so no tag can be this key.
VERSION_KEY = "registry#version#counter"
REGISTRY = "idtag"
# Optional fields of an entry: a PUT without them removes what was there.
OPTIONAL_FIELDS = ("expiryDate", "parentIdTag", "maxActiveTransactions")
WRITE_ATTEMPTS = 8


def get_id_tag(key: str, consistent: bool = False) -> dict | None:
    """An entry or tombstone by canonical idTag: 1 GetItem."""
    return get_item(tables().id_tags, {"idTag": key}, consistent)


def registry_version() -> int:
    """The registry's current version (0: never changed): 1 GetItem (strongly consistent)."""
    return int((get_item(tables().id_tags, {"idTag": VERSION_KEY}, consistent=True) or {}).get("version", 0))


def _versioned(key: str, version: int, update: str, expr: Expression, condition: str | None) -> bool:
    """The entry's update and the version counter's step from `version` in 1 TransactWriteItems: False
    when another change took that version first, or the entry's condition failed."""
    counter = Expression()
    step = {
        "TableName": tables().id_tags,
        "Key": to_item({"idTag": VERSION_KEY}),
        "UpdateExpression": f"SET {counter.name('version')} = {counter.value(version + 1)}",
        "ConditionExpression": (
            f"attribute_not_exists({counter.name('version')})"
            if version == 0
            else f"{counter.name('version')} = {counter.value(version)}"
        ),
        **counter.args(),
    }
    entry = {"TableName": tables().id_tags, "Key": to_item({"idTag": key}), "UpdateExpression": update, **expr.args()}
    if condition:
        entry["ConditionExpression"] = condition
    return transact([{"Update": step}, {"Update": entry}])


def put_id_tag(key: str, fields: dict[str, Any], updated_at: str) -> int:
    """Create or replace an entry (its count of active transactions stays), under the next version:
    1 GetItem + 1 TransactWriteItems (again when a concurrent change took the version). The version."""
    for _ in range(WRITE_ATTEMPTS):
        version = registry_version()
        expr = Expression()
        sets = {**fields, "updatedAt": updated_at, "version": version + 1, "registry": REGISTRY, "listed": REGISTRY}
        removed = [expr.name(name) for name in (*OPTIONAL_FIELDS, "deleted") if name not in fields]
        update = expr.update(sets) + (f" REMOVE {', '.join(removed)}" if removed else "")
        if _versioned(key, version, update, expr, None):
            return version + 1
    raise RuntimeError("the idTag registry kept changing under this write")


def delete_id_tag(key: str, updated_at: str) -> bool:
    """Leave a tombstone (the spelling, the version, the count of active transactions) in place of a live
    entry, under the next version: 1 GetItem + 1 TransactWriteItems (+1 read when it fails). False when
    there is no live entry."""
    for _ in range(WRITE_ATTEMPTS):
        version = registry_version()
        expr = Expression()
        sets = {"deleted": True, "updatedAt": updated_at, "version": version + 1}
        removed = ", ".join(expr.name(name) for name in ("listed", "status", *OPTIONAL_FIELDS))
        condition = f"attribute_exists({expr.name('listed')})"
        if _versioned(key, version, f"{expr.update(sets)} REMOVE {removed}", expr, condition):
            return True
        entry = get_id_tag(key, consistent=True)
        if entry is None or "listed" not in entry:
            return False
    raise RuntimeError("the idTag registry kept changing under this delete")


def list_id_tags(limit: int, start: dict | None) -> Page:
    """A page of live entries by idTag: 1 Query + 1 BatchGetItem."""
    return query_page(tables().id_tags, "listed-index", ("listed", REGISTRY), "idTag", limit, start, newest_first=False)


def count_live(limit: int) -> int:
    """How many live entries there are, counted up to `limit`: Query pages on the keys-only listed-index with
    Select COUNT (1 per MB of keys, some 30,000 entries)."""
    counted = 0
    start = None
    while counted < limit:
        expr = Expression()
        args: dict[str, Any] = {
            "TableName": tables().id_tags,
            "IndexName": "listed-index",
            "Select": "COUNT",
            "Limit": limit - counted,
            "KeyConditionExpression": f"{expr.name('listed')} = {expr.value(REGISTRY)}",
        }
        if start:
            args["ExclusiveStartKey"] = start
        response = client().query(**args, **expr.args())
        counted += response["Count"]
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return counted


def changed_since(version: int, limit: int) -> list[dict]:
    """Entries and tombstones changed after `version`, oldest change first, at most `limit` of them:
    Query pages on version-index (1 per MB)."""
    found: list[dict] = []
    start = None
    while len(found) < limit:
        expr = Expression()
        args: dict[str, Any] = {
            "TableName": tables().id_tags,
            "IndexName": "version-index",
            "Limit": limit - len(found),
            "KeyConditionExpression": (
                f"{expr.name('registry')} = {expr.value(REGISTRY)} AND {expr.name('version')} > {expr.value(version)}"
            ),
        }
        if start:
            args["ExclusiveStartKey"] = start
        response = client().query(**args, **expr.args())
        found += [from_item(item) for item in response.get("Items", [])]
        start = response.get("LastEvaluatedKey")
        if not start:
            break
    return found


def active_transaction_update(key: str, delta: int, limit: int | None = None) -> dict:
    """The change of a tag's count of active transactions, as an item of the session's own transaction:
    +1 only while the entry is live and under `limit`; -1 unconditionally (the tag's item outlives
    deletion as a tombstone, so it is there to count down)."""
    expr = Expression()
    count = expr.name("activeTransactions")
    update = {
        "TableName": tables().id_tags,
        "Key": to_item({"idTag": key}),
        "UpdateExpression": f"ADD {count} {expr.value(delta)}",
    }
    if delta > 0:
        condition = f"attribute_exists({expr.name('listed')})"
        if limit is not None:
            condition += f" AND (attribute_not_exists({count}) OR {count} < {expr.value(limit)})"
        update["ConditionExpression"] = condition
    return {"Update": {**update, **expr.args()}}


def note_local_list(
    charge_point_id: str, sets: dict, removes: tuple[str, ...] = (), only_before: tuple[str, str] | None = None
) -> bool:
    """What a charger's local list holds or was sent, on its charge point item (`removes`: facts no longer
    known; `only_before`: (attribute, time), written only when the attribute is absent or older): 1
    UpdateItem. False when the charge point does not exist (or holds a newer fact)."""
    expr = Expression()
    key = {"chargePointId": charge_point_id}
    condition = f"attribute_exists({expr.name('chargePointId')})"
    if only_before is not None:
        name, at = expr.name(only_before[0]), expr.value(only_before[1])
        condition += f" AND (attribute_not_exists({name}) OR {name} < {at})"
    update = expr.update(sets) + (f" REMOVE {', '.join(expr.name(name) for name in removes)}" if removes else "")
    return update_if(conditional_update(tables().charge_points, key, expr, update, condition))
