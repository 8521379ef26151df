"""One CALL as the central system applies it: who sent it, when it was heard, and how a guarded write's
outcome becomes the answer. Shared by the charge point actions (central_system) and the transaction
actions (transactions)."""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass
from datetime import datetime

from chalicelib import ocpp_frames, storage
from chalicelib.ocpp_frames import FrameError
from chalicelib.settings import Settings


def stats_shard(charge_point_id: str, shards: int) -> int:
    """The stats shard a charge point's counters go to: always the same one for a charger."""
    return zlib.crc32(charge_point_id.encode()) % shards


@dataclass(frozen=True)
class Message:
    charge_point_id: str
    call: ocpp_frames.Call
    received_at: datetime
    settings: Settings

    @property
    def payload(self) -> dict:
        return self.call.payload

    @property
    def seen(self) -> str:
        return ocpp_frames.format_timestamp(self.received_at)

    @property
    def shard(self) -> int:
        return stats_shard(self.charge_point_id, self.settings.stats_shards)

    @property
    def digest(self) -> str:
        """What makes a repeat a repeat: the same action and payload (the uniqueId alone does not)."""
        text = json.dumps([self.call.action, self.payload], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def timestamp(self, value: str, field: str = "timestamp") -> str:
        moment = ocpp_frames.check_timestamp(value, self.received_at, self.settings.max_clock_drift_seconds, field)
        return ocpp_frames.format_timestamp(moment)

    def stamp(self, answer: dict) -> storage.Stamp:
        return storage.Stamp(self.charge_point_id, self.call.unique_id, self.seen, json.dumps(answer), self.digest)


def not_accepted(charge_point_id: str, charge_point: dict | None) -> FrameError:
    registration = (charge_point or {}).get("registration")
    if registration:
        return FrameError(
            "SecurityError",
            f"charge point {charge_point_id} is {registration}: until it is Accepted it may send only BootNotification",
        )
    return FrameError("SecurityError", f"charge point {charge_point_id} is not accepted: it must boot first")


def settle(result: storage.Result, answer: dict, charge_point_id: str) -> dict:
    """The answer once a guarded write is done: a repeat gets the first answer again."""
    if result.outcome == storage.Outcome.NOT_ACCEPTED:
        raise not_accepted(charge_point_id, result.charge_point)
    if result.outcome == storage.Outcome.DUPLICATE and result.charge_point:
        return json.loads(result.charge_point["lastAnswer"])
    if result.outcome == storage.Outcome.CONFLICT:
        raise RuntimeError(f"{charge_point_id}: kept conflicting with concurrent updates")
    return answer
