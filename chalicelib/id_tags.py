"""The idTag registry as the operator edits it: entries checked with clear messages, and their views.
What an entry means to a charger is authorization.py; the local lists built from it are local_list.py.

Refusals are this module's exceptions (IdTagError); rest.py gives them their HTTP status.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib import ocpp_frames, storage, views
from chalicelib.authorization import registry_key

STATUSES = ("Accepted", "Blocked", "Expired", "Invalid")
MAX_ID_TAG = 20  # OCPP 1.6 IdToken: CiString20Type
# Far more than any charger's limit: a bigger number is a typo.
MAX_ACTIVE_TRANSACTIONS = 1000
ID_TAG_RULE = f"1 to {MAX_ID_TAG} printable ASCII characters (OCPP CiString20)"


class IdTagError(Exception):
    """A registry request the system refuses; the subclass says why (the REST layer's HTTP status)."""


class InvalidIdTag(IdTagError):
    """A bad idTag or entry (400)."""


class UnknownIdTag(IdTagError):
    """No such entry (404)."""


def is_valid_id_tag(value: object) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_TAG and all(" " <= c <= "~" for c in value)


def check_id_tag(value: object, field: str = "idTag") -> str:
    if not is_valid_id_tag(value):
        shown = value[:40] if isinstance(value, str) else value
        raise InvalidIdTag(f"{field} must be {ID_TAG_RULE}, got {shown!r}")
    assert isinstance(value, str)
    return value


def view(item: dict) -> dict:
    """An entry as the API shows it: the idTag as it was written, and its count of active transactions."""
    return {
        "idTag": item["spelling"],
        "status": item["status"],
        "expiryDate": item.get("expiryDate"),
        "parentIdTag": item.get("parentIdTag"),
        "maxActiveTransactions": views.plain(item.get("maxActiveTransactions")),
        "activeTransactions": int(item.get("activeTransactions", 0)),
        "updatedAt": item["updatedAt"],
        "version": int(item["version"]),
    }


def _entry(id_tag: str, raw: str | bytes | None) -> dict[str, Any]:
    """A PUT body as the fields to store, each checked."""
    try:
        body = json.loads(raw) if raw and raw.strip() else None
    except (ValueError, RecursionError):
        raise InvalidIdTag("body must be JSON") from None
    allowed = ("status", "expiryDate", "parentIdTag", "maxActiveTransactions")
    if not isinstance(body, dict) or "status" not in body or set(body) - set(allowed):
        raise InvalidIdTag(
            'body must be a JSON object {"status": ..., "expiryDate"?: ..., "parentIdTag"?: ..., '
            '"maxActiveTransactions"?: ...}'
        )
    if body["status"] not in STATUSES:
        raise InvalidIdTag(f"status must be one of {', '.join(STATUSES)}, got {body['status']!r}")
    fields: dict[str, Any] = {"status": body["status"], "spelling": id_tag}
    if body.get("expiryDate") is not None:
        try:
            moment = ocpp_frames.parse_timestamp(body["expiryDate"], "expiryDate")
        except ocpp_frames.FrameError as error:
            raise InvalidIdTag(error.description) from None
        fields["expiryDate"] = ocpp_frames.format_timestamp(moment)
    if body.get("parentIdTag") is not None:
        parent = check_id_tag(body["parentIdTag"], "parentIdTag")
        if registry_key(parent) == registry_key(id_tag):
            raise InvalidIdTag("parentIdTag must be another idTag than the entry's own")
        fields["parentIdTag"] = parent
    limit = body.get("maxActiveTransactions")
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_ACTIVE_TRANSACTIONS:
            raise InvalidIdTag(f"maxActiveTransactions must be a whole number from 1 to {MAX_ACTIVE_TRANSACTIONS}")
        fields["maxActiveTransactions"] = limit
    return fields


def get(id_tag: str) -> dict:
    """GET /idtags/{idTag}."""
    entry = storage.get_id_tag(registry_key(check_id_tag(id_tag)), consistent=True)
    if entry is None or entry.get("deleted"):
        raise UnknownIdTag(f"no idTag {id_tag!r} in the registry")
    return view(entry)


def put(id_tag: str, raw: str | bytes | None) -> dict:
    """PUT /idtags/{idTag}: create or replace the entry; the registry's version moves on."""
    fields = _entry(check_id_tag(id_tag), raw)
    key = registry_key(id_tag)
    storage.put_id_tag(key, fields, ocpp_frames.format_timestamp(ocpp_frames.now()))
    return get(id_tag)


def delete(id_tag: str) -> dict:
    """DELETE /idtags/{idTag}: the entry goes (a tombstone stays for the chargers' local lists)."""
    if not storage.delete_id_tag(registry_key(check_id_tag(id_tag)), ocpp_frames.format_timestamp(ocpp_frames.now())):
        raise UnknownIdTag(f"no idTag {id_tag!r} in the registry")
    return {"idTag": id_tag, "deleted": True}
