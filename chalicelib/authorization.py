"""The idTagInfo a charger gets for an idTag (Authorize, StartTransaction, StopTransaction), from the idTag
registry: the entry's status, expiry and parent; Expired once its expiryDate has passed; ConcurrentTx when
the tag has as many active transactions as its entry allows. A tag not in the registry is Accepted when
UNKNOWN_ID_TAGS=accept, Invalid otherwise.

A tag's active transactions are counted on its registry entry, by the very transaction that starts or
completes the session (an item more in it, no request more): a resent StartTransaction finds its session
stored and writes nothing, a repeated stop finds it Completed, so neither counts twice; and the limit is
a condition of that write, so two starts at once cannot both take the last free transaction. Only
sessions started Accepted while the tag was in the registry are counted (the session remembers it), so
the count needs no scan of the sessions, and a limit set later counts from the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib import ocpp_frames, storage
from chalicelib.settings import Settings


def registry_key(id_tag: str) -> str:
    """The registry's key of an idTag: OCPP compares idTags (CiString20) case-insensitively."""
    return id_tag.upper()


@dataclass(frozen=True)
class Decision:
    """The idTagInfo of a start, and whether it counts toward its tag's active transactions: the count's
    write, an item of the session's own transaction."""

    info: dict
    count: dict | None = None


def _live(entry: dict | None) -> bool:
    return entry is not None and not entry.get("deleted")


def entry_info(entry: dict) -> dict:
    """A live entry's idTagInfo as stored (a local list's: the charger itself watches the expiryDate)."""
    return {
        "status": entry["status"],
        **{field: entry[field] for field in ("expiryDate", "parentIdTag") if field in entry},
    }


def _info(settings: Settings, entry: dict | None, at: datetime) -> dict:
    if entry is None or not _live(entry):
        return {"status": "Accepted" if settings.unknown_id_tags == "accept" else "Invalid"}
    info = entry_info(entry)
    if info["status"] == "Accepted" and "expiryDate" in info and ocpp_frames.parse_timestamp(info["expiryDate"]) <= at:
        info["status"] = "Expired"
    return info


def _at_limit(entry: dict) -> bool:
    limit = entry.get("maxActiveTransactions")
    return limit is not None and int(entry.get("activeTransactions", 0)) >= int(limit)


def authorize(settings: Settings, id_tag: str, at: datetime) -> dict:
    """Authorize's idTagInfo: +1 GetItem (eventually consistent: a change reaches it within a second)."""
    entry = storage.get_id_tag(registry_key(id_tag))
    info = _info(settings, entry, at)
    if info["status"] == "Accepted" and entry is not None and _live(entry) and _at_limit(entry):
        info["status"] = "ConcurrentTx"
    return info


def stop_info(settings: Settings, id_tag: str, at: datetime) -> dict:
    """StopTransaction's idTagInfo (when it names an idTag): +1 GetItem."""
    return _info(settings, storage.get_id_tag(registry_key(id_tag)), at)


def start(settings: Settings, id_tag: str, at: datetime) -> Decision:
    """StartTransaction's idTagInfo: +1 GetItem (strongly consistent: the count decides). An Accepted
    start of a tag in the registry counts toward its active transactions, under its limit."""
    key = registry_key(id_tag)
    entry = storage.get_id_tag(key, consistent=True)
    info = _info(settings, entry, at)
    if info["status"] != "Accepted" or entry is None or not _live(entry):
        return Decision(info)
    if _at_limit(entry):
        return Decision({**info, "status": "ConcurrentTx"})
    limit = entry.get("maxActiveTransactions")
    return Decision(info, storage.active_transaction_update(key, 1, None if limit is None else int(limit)))


def completion_count(session: dict) -> tuple[dict, ...]:
    """The count's write that completing a session carries: one down when its start counted."""
    if not session.get("idTagCounted"):
        return ()
    return (storage.active_transaction_update(registry_key(session["idTag"]), -1),)
