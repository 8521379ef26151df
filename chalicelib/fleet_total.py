"""The fleet's delivered energy so far, each session counted once: the completed sessions' energy (the
sharded counters) plus every active session's energy so far.

The two sources move together: a stop is one TransactWriteItems that turns its session Completed and adds
its energy to its charger's counter shard (`stats_shard(chargePointId)`, with completedSessions + 1), so a
session is in the counters exactly when its item reads Completed. But the total reads them in different
requests, and a stop can land between them: read as active, then found in the counters (twice), or read
as completed after the counters were read without it (never). So each shard is read around its sessions:

1. the status index's Active sessions (keys), then every shard's counters (c1), every listed session
   (strongly consistent), and every shard's counters again (c2), one request after the other;
2. a shard whose completedSessions is the same in c1 and c2 saw no stop land between the two reads. A stop
   is all or nothing, and a strongly consistent read reflects every write acknowledged before it began, so
   each of that shard's stops landed before c1 (its session reads Completed and is in c1's energy) or
   after c2 (it reads Active and is not): c1 plus its Active sessions counts each session once;
3. a shard whose count moved is read again the same way, c1, its sessions that read Active, c2 (one that
   read Completed stays so, and its stop came before the new c1): a few requests, a fraction of a second,
   until a pair agrees or MAX_ROUNDS.

A session the index does not list yet (started while the total is read, or its index entry not written
yet, normally within a second) is counted from the next total on, and a completed one in the counters:
never twice, and nothing is lost from one total to the next.

What this covers: every stop acknowledged before a read or sent after it (what DynamoDB promises a strongly
consistent read). A stop still being committed while the total reads its session and its shard (a few
milliseconds: DynamoDB's transactions are serializable, not strictly so) may show on one item and not yet
on the other: caught exactly then, it can still count twice or not at all in that one total; the next total
is right again (the error moves energy between two neighbouring intervals, it does not add up).
TransactGetItems of the sessions would close that too (it is refused while a transaction writes one of its
items) at twice their read units; one TransactGetItems cannot hold the fleet (100 items)."""

from __future__ import annotations

from datetime import datetime

from chalicelib import ocpp_frames, settings, storage, views
from chalicelib.central_message import stats_shard

MAX_ROUNDS = 5


class TotalUnsettled(Exception):
    """Stops kept landing on one shard while its sessions were read: no exact total this time."""


def fleet_total(now: datetime) -> dict:
    """{"takenAt": now, "energyWh", "completedWh", "activeWh", "activeSessions"}. 1 Query per ~8,000 active
    sessions + 1 BatchGetItem per 100 of them + 2 BatchGetItem of the counters; for each shard a stop moved
    meanwhile, 2 more + 1 per 100 of its active sessions (usually once, rarely twice)."""
    shards = settings.get().stats_shards
    ids = storage.active_session_ids()
    before = storage.shard_counters(range(shards))
    sessions = storage.sessions_by_id(ids)
    after = storage.shard_counters(range(shards))
    by_shard: dict[int, list[dict]] = {shard: [] for shard in range(shards)}
    for session in sessions:
        if session["status"] == "Active":
            by_shard[stats_shard(session["chargePointId"], shards)].append(session)
    completed_wh, active = 0, []
    for shard, listed in by_shard.items():
        counters, shard_active = before[shard], listed
        if _stops(counters) != _stops(after[shard]):
            counters, shard_active = _read_shard_again(shard, listed)
        completed_wh += int(counters.get("energyWh", 0))
        active += shard_active
    active_wh = sum(views.session_energy_wh(session) for session in active)
    return {
        "takenAt": ocpp_frames.format_timestamp(now),
        "energyWh": completed_wh + active_wh,
        "completedWh": completed_wh,
        "activeWh": active_wh,
        "activeSessions": len(active),
    }


def _read_shard_again(shard: int, active: list[dict]) -> tuple[dict, list[dict]]:
    """The shard's counters and its sessions still Active, read between two reads of the counters that
    agree (the argument in the module's docstring)."""
    for _ in range(MAX_ROUNDS):
        first = storage.shard_counters([shard])[shard]
        active = [s for s in storage.sessions_by_id([s["sessionId"] for s in active]) if s["status"] == "Active"]
        if _stops(first) == _stops(storage.shard_counters([shard])[shard]):
            return first, active
    raise TotalUnsettled(
        f"stats shard {shard}: stops kept landing while its sessions were read ({MAX_ROUNDS} rounds),"
        " more shards (STATS_SHARDS) make each shard's reads shorter and its stops rarer"
    )


def _stops(counters: dict) -> int:
    return int(counters.get("completedSessions", 0))
