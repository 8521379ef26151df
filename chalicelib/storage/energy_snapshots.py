"""The fleet energy snapshots: one item per 5-minute interval in the stats table, the fleet's cumulative
delivered energy when it was taken; the live figure shared by every request; and what a total reads (the
counters shard by shard, the active sessions).

A snapshot's key `shard` is minus its interval's start in epoch seconds: the counters' shards are 0 and up,
so the two kinds never meet and read_stats (which reads shards by key) never sees a snapshot. The live
figure's key is -1: intervals start on multiples of 300 seconds, so no snapshot has it. Only snapshots
carry `series`, so the sparse series-index lists them alone, in time order."""

from __future__ import annotations

from collections.abc import Iterable

from chalicelib.storage.dynamo import Expression, tables, to_item
from chalicelib.storage.operations import batch_get, conditional_update, query_all, update_if

SERIES = "fleet-energy"
LIVE_KEY = -1


def put_snapshot(interval_epoch: int, values: dict) -> bool:
    """The interval's snapshot, unless it has one already (the first run of an interval wins, a repeated
    or late one changes nothing): 1 UpdateItem, conditional. False when refused."""
    expr = Expression()
    update = expr.update({"series": SERIES, **values})
    args = conditional_update(
        tables().stats, {"shard": -interval_epoch}, expr, update, f"attribute_not_exists({expr.name('shard')})"
    )
    return update_if(args)


def snapshots_between(first: str, last: str) -> list[dict]:
    """The snapshots whose intervalStart is in [first, last] (ISO 8601, both included), oldest first:
    1 Query on series-index (a day's 288 snapshots are about 60 KB, one page)."""
    expr = Expression()
    args: dict = {
        "TableName": tables().stats,
        "IndexName": "series-index",
        "KeyConditionExpression": f"{expr.name('series')} = {expr.value(SERIES)}"
        f" AND {expr.name('intervalStart')} BETWEEN {expr.value(first)} AND {expr.value(last)}",
        **expr.args(),
    }
    return query_all(args)


def live_figure() -> dict | None:
    """The shared live total, None until the first is stored (while it is computed the item holds only the
    claim): 1 BatchGetItem, strongly consistent (1 read unit)."""
    found = batch_get(tables().stats, [to_item({"shard": LIVE_KEY})], consistent=True)
    return found[0] if found and "takenAt" in found[0] else None


def claim_live(claimed_at: str, stale_before: str, claim_expired_before: str) -> bool:
    """The right to compute the live total, for one request at a time: granted when the stored figure was
    taken before stale_before (or there is none) and no claim newer than claim_expired_before holds it.
    1 conditional UpdateItem (ISO 8601 UTC strings of one width compare in time order); False when refused."""
    expr = Expression()
    taken, claimed = expr.name("takenAt"), expr.name("claimedAt")
    condition = (
        f"(attribute_not_exists({taken}) OR {taken} < {expr.value(stale_before)})"
        f" AND (attribute_not_exists({claimed}) OR {claimed} < {expr.value(claim_expired_before)})"
    )
    update = expr.update({"claimedAt": claimed_at})
    return update_if(conditional_update(tables().stats, {"shard": LIVE_KEY}, expr, update, condition))


def store_live(values: dict, claimed_at: str) -> bool:
    """The live total computed under the claim made at claimed_at, which it releases: 1 conditional
    UpdateItem. False when that claim expired and another request holds the figure's key now."""
    expr = Expression()
    update = f"{expr.update(values)} REMOVE {expr.name('claimedAt')}"
    condition = f"{expr.name('claimedAt')} = {expr.value(claimed_at)}"
    return update_if(conditional_update(tables().stats, {"shard": LIVE_KEY}, expr, update, condition))


def shard_counters(shards: Iterable[int]) -> dict[int, dict]:
    """The counter items of the given shards by shard number ({} for one never written), strongly
    consistent: 1 BatchGetItem (up to 100 shards, 1 read unit each)."""
    wanted = list(shards)
    found = {
        int(item["shard"]): item for item in batch_get(tables().stats, [to_item({"shard": n}) for n in wanted], True)
    }
    return {n: found.get(n, {}) for n in wanted}


def active_session_ids() -> list[str]:
    """The sessions the status index lists as Active (eventually consistent: one completed a moment ago
    may still be listed, one started a moment ago not yet): 1 Query per 1 MB of keys (about 8,000)."""
    expr = Expression()
    args: dict = {
        "TableName": tables().sessions,
        "IndexName": "status-index",
        "KeyConditionExpression": f"{expr.name('status')} = {expr.value('Active')}",
        **expr.args(),
    }
    return [item["sessionId"] for item in query_all(args)]
