"""The fleet's counters, sharded so that no single item takes every write: the writes that change a
count carry the stats update in their own transaction (see stats_update)."""

from __future__ import annotations

from chalicelib.storage.dynamo import Expression, client, tables, to_item
from chalicelib.storage.operations import batch_get


def _key(shard: int) -> dict:
    return to_item({"shard": shard})


def stats_update(shard: int, adds: dict[str, int]) -> dict:
    """UpdateItem arguments that bump counters on one shard (alone or as part of a transaction)."""
    expr = Expression()
    return {
        "TableName": tables().stats,
        "Key": _key(shard),
        "UpdateExpression": expr.update(adds=adds),
        **expr.args(),
    }


def add_to_stats(shard: int, adds: dict[str, int]) -> None:
    """Bump counters on one shard: 1 UpdateItem."""
    client().update_item(**stats_update(shard, adds))


def read_stats(shards: int, consistent: bool = False) -> dict[str, int]:
    """The fleet's counters summed over every shard: 1 BatchGetItem (up to 100 shards)."""
    totals: dict[str, int] = {}
    for item in batch_get(tables().stats, [_key(shard) for shard in range(shards)], consistent):
        for name, value in item.items():
            if name != "shard":
                totals[name] = totals.get(name, 0) + int(value)
    return totals
