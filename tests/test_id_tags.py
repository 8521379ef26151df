"""The idTag registry: its routes (GET /idtags, GET/PUT/DELETE /idtags/{idTag}) and the answers chargers get
from it (Authorize, StartTransaction, StopTransaction) as raw OCPP-J frames over POST /ocpp/{id} and a
plain WebSocket, on moto."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from chalicelib import ocpp_frames, settings, storage
from tests.ocpp_builders import boot, send, ts, valid_answer
from tests.support import ROOT, exchange

JSON = {"Content-Type": "application/json"}
BOOT = [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


def put(client, id_tag: str, body: object) -> tuple[int, dict]:
    response = client.http.put(f"/idtags/{id_tag}", headers=JSON, body=json.dumps(body))
    return response.status_code, json.loads(response.body)


def get(client, path: str) -> tuple[int, dict]:
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def frame(client, cp: str, action: str, payload: dict, uid: str | None = None) -> list:
    """One raw CALL on POST /ocpp/{id}; a CALLRESULT is checked against the official schema."""
    call = [2, uid or f"{action}-{payload.get('idTag', '')}-{payload.get('connectorId', '')}", action, payload]
    response = client.http.post(f"/ocpp/{cp}", headers=JSON, body=json.dumps(call))
    return valid_answer(call, json.loads(response.body))[2]


def tag_info(client, cp: str, action: str, id_tag: str, connector: int = 1, uid: str | None = None) -> dict:
    payload: dict = {"idTag": id_tag}
    if action == "StartTransaction":
        payload = {"connectorId": connector, "idTag": id_tag, "meterStart": 0, "timestamp": ts(0)}
    return frame(client, cp, action, payload, uid)


def start_answer(cp: str, id_tag: str) -> dict:
    payload = {"connectorId": 1, "idTag": id_tag, "meterStart": 0, "timestamp": ts(0)}
    return send(cp, "StartTransaction", payload)[2]


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The tests' T0 is the central system's now, so their timestamps are never in its future."""
    monkeypatch.setattr(ocpp_frames, "now", lambda: ocpp_frames.parse_timestamp(ts(0)))


# --- the routes ------------------------------------------------------------------------------------


BAD_ENTRIES = [
    ("A" * 21, {"status": "Accepted"}, "idTag must be 1 to 20 printable ASCII characters"),
    ("T\u00e9", {"status": "Accepted"}, "idTag must be 1 to 20 printable ASCII characters"),
    ("TAG", "not an object", "body must be a JSON object"),
    ("TAG", {"expiryDate": "2030-01-01T00:00:00Z"}, "body must be a JSON object"),
    ("TAG", {"status": "Accepted", "colour": "red"}, "body must be a JSON object"),
    ("TAG", {"status": "ConcurrentTx"}, "status must be one of Accepted, Blocked, Expired, Invalid"),
    ("TAG", {"status": "Accepted", "expiryDate": "soon"}, "expiryDate must be an ISO 8601 date-time"),
    ("TAG", {"status": "Accepted", "parentIdTag": "P" * 21}, "parentIdTag must be 1 to 20 printable"),
    ("TAG", {"status": "Accepted", "parentIdTag": "tag"}, "parentIdTag must be another idTag"),
    ("TAG", {"status": "Accepted", "maxActiveTransactions": 0}, "maxActiveTransactions must be a whole number"),
    ("TAG", {"status": "Accepted", "maxActiveTransactions": True}, "maxActiveTransactions must be a whole"),
]


def test_a_bad_entry_is_a_400_that_says_what_is_wrong(client):
    for id_tag, body, message in BAD_ENTRIES:
        status, error = put(client, id_tag, body)
        assert status == 400 and message in error["Message"], error
    assert get(client, "/idtags")[1] == {"idTags": [], "nextToken": None}


def test_entries_are_created_read_listed_in_pages_replaced_and_deleted(client):
    for n in range(5):
        assert put(client, f"tag-{n}", {"status": "Accepted"})[0] == 200
    status, entry = put(
        client,
        "tag-2",
        {
            "status": "Blocked",
            "expiryDate": "2030-01-01T01:00:00+01:00",
            "parentIdTag": "FLEET",
            "maxActiveTransactions": 2,
        },
    )
    assert status == 200 and entry == {
        "idTag": "tag-2",
        "status": "Blocked",
        "expiryDate": "2030-01-01T00:00:00.000Z",
        "parentIdTag": "FLEET",
        "maxActiveTransactions": 2,
        "activeTransactions": 0,
        "updatedAt": entry["updatedAt"],
        "version": 6,
    }
    assert get(client, "/idtags/TAG-2")[1] == entry, "idTags are case-insensitive (CiString20)"

    seen, tokens = [], [""]
    while tokens[-1] is not None:
        status, page = get(client, "/idtags?limit=2" + (f"&nextToken={tokens[-1]}" if tokens[-1] else ""))
        seen += [item["idTag"] for item in page["idTags"]]
        tokens.append(page["nextToken"])
    assert seen == [f"tag-{n}" for n in range(5)] and len(tokens) == 4
    assert get(client, f"/sessions?limit=2&nextToken={tokens[1]}")[0] == 400, "a token works for its own list only"

    status, replaced = put(client, "tag-2", {"status": "Accepted"})
    assert replaced["expiryDate"] is None and replaced["maxActiveTransactions"] is None, "a PUT replaces the entry"
    assert client.http.delete("/idtags/tag-2").status_code == 200
    assert get(client, "/idtags/tag-2")[0] == 404
    status, error = get(client, "/idtags/tag-2")
    assert status == 404 and error["Message"] == "no idTag 'tag-2' in the registry"
    assert client.http.delete("/idtags/tag-2").status_code == 404
    assert client.http.delete("/idtags/never").status_code == 404
    assert [item["idTag"] for item in get(client, "/idtags")[1]["idTags"]] == ["tag-0", "tag-1", "tag-3", "tag-4"]
    assert storage.registry_version() == 8


# --- the answers chargers get ----------------------------------------------------------------------


def test_authorize_start_and_stop_answer_from_the_registry(client):
    assert frame(client, "CP-A", *BOOT[2:])["status"] == "Accepted"
    put(client, "BLOCKED", {"status": "Blocked"})
    put(client, "OLD", {"status": "Accepted", "expiryDate": ts(-1)})
    put(client, "CHILD", {"status": "Accepted", "expiryDate": ts(3600), "parentIdTag": "PARENT"})
    assert tag_info(client, "CP-A", "Authorize", "blocked")["idTagInfo"] == {"status": "Blocked"}
    assert tag_info(client, "CP-A", "Authorize", "OLD")["idTagInfo"] == {"status": "Expired", "expiryDate": ts(-1)}
    assert tag_info(client, "CP-A", "Authorize", "CHILD")["idTagInfo"] == {
        "status": "Accepted",
        "expiryDate": ts(3600),
        "parentIdTag": "PARENT",
    }
    assert tag_info(client, "CP-A", "Authorize", "STRANGER")["idTagInfo"] == {"status": "Accepted"}

    started = tag_info(client, "CP-A", "StartTransaction", "BLOCKED")
    assert started["idTagInfo"] == {"status": "Blocked"}, "the charger is told; the session is still recorded"
    stopped = frame(
        client,
        "CP-A",
        "StopTransaction",
        {"transactionId": started["transactionId"], "meterStop": 10, "timestamp": ts(5), "idTag": "OLD"},
    )
    assert stopped == {"idTagInfo": {"status": "Expired", "expiryDate": ts(-1)}}
    assert get(client, "/idtags/BLOCKED")[1]["activeTransactions"] == 0, "a refused start does not count"


def test_a_tag_at_its_limit_of_active_transactions_gets_concurrent_tx(client):
    for cp in ("CP-L1", "CP-L2"):
        frame(client, cp, *BOOT[2:])
    put(client, "LIMITED", {"status": "Accepted", "maxActiveTransactions": 1})
    first = tag_info(client, "CP-L1", "StartTransaction", "LIMITED", uid="start-1")
    assert first["idTagInfo"] == {"status": "Accepted"}
    again = tag_info(client, "CP-L1", "StartTransaction", "LIMITED", uid="start-1-resent")
    assert again == first, "a resent start gets its first answer and is not counted twice"
    assert get(client, "/idtags/LIMITED")[1]["activeTransactions"] == 1
    assert tag_info(client, "CP-L2", "Authorize", "LIMITED")["idTagInfo"] == {"status": "ConcurrentTx"}
    assert tag_info(client, "CP-L2", "StartTransaction", "LIMITED")["idTagInfo"] == {"status": "ConcurrentTx"}

    stop = {"transactionId": first["transactionId"], "meterStop": 500, "timestamp": ts(60)}
    frame(client, "CP-L1", "StopTransaction", stop, uid="stop-1")
    frame(client, "CP-L1", "StopTransaction", stop, uid="stop-1-resent")
    assert get(client, "/idtags/LIMITED")[1]["activeTransactions"] == 0, "counted down once"
    # The ConcurrentTx session on CP-L2 was never counted: its stop counts nothing down.
    assert tag_info(client, "CP-L2", "Authorize", "LIMITED")["idTagInfo"] == {"status": "Accepted"}


def test_a_newer_start_on_the_connector_hands_the_count_over(client):
    frame(client, "CP-S", *BOOT[2:])
    put(client, "DRIVER", {"status": "Accepted", "maxActiveTransactions": 1})
    tag_info(client, "CP-S", "StartTransaction", "DRIVER")
    newer = {"connectorId": 1, "idTag": "DRIVER", "meterStart": 50, "timestamp": ts(30)}
    # The older session is closed by the newer start after that start was decided: at the limit.
    assert frame(client, "CP-S", "StartTransaction", newer)["idTagInfo"] == {"status": "ConcurrentTx"}
    assert get(client, "/idtags/DRIVER")[1]["activeTransactions"] == 0
    assert tag_info(client, "CP-S", "Authorize", "DRIVER")["idTagInfo"] == {"status": "Accepted"}


def test_unknown_tags_are_invalid_unless_the_stage_accepts_them(client, monkeypatch):
    stages = json.loads(Path(ROOT / ".chalice" / "config.json").read_text())["stages"]
    assert {name: stage["environment_variables"]["UNKNOWN_ID_TAGS"] for name, stage in stages.items()} == {
        "local": "accept",
        "dev": "accept",
        "prod": "accept",
    }
    monkeypatch.setenv("UNKNOWN_ID_TAGS", "invalid")
    settings.get.cache_clear()
    settings.get()  # read now: during a test-client request the environment is the config's stage's
    frame(client, "CP-U", *BOOT[2:])
    put(client, "KNOWN", {"status": "Accepted"})
    assert tag_info(client, "CP-U", "Authorize", "STRANGER")["idTagInfo"] == {"status": "Invalid"}
    assert tag_info(client, "CP-U", "StartTransaction", "known")["idTagInfo"] == {"status": "Accepted"}
    client.http.delete("/idtags/KNOWN")
    assert tag_info(client, "CP-U", "Authorize", "KNOWN", uid="after-delete")["idTagInfo"] == {"status": "Invalid"}


def test_a_blocked_tag_is_refused_over_the_websocket(gateway, client):
    put(client, "STOLEN", {"status": "Blocked"})

    async def charger() -> None:
        async with connect(gateway.url + "CP-WS-TAGS", subprotocols=["ocpp1.6"]) as ws:
            assert (await exchange(ws, BOOT))[2]["status"] == "Accepted"
            answer = await exchange(ws, [2, "a1", "Authorize", {"idTag": "STOLEN"}])
            assert answer == [3, "a1", {"idTagInfo": {"status": "Blocked"}}]
            start = {
                "connectorId": 1,
                "idTag": "stolen",
                "meterStart": 0,
                "timestamp": ocpp_frames.format_timestamp(ocpp_frames.now()),
            }
            answer = await exchange(ws, [2, "s1", "StartTransaction", start])
            assert answer[2]["idTagInfo"] == {"status": "Blocked"}

    asyncio.run(charger())


def test_a_start_that_read_the_tag_before_another_took_its_last_transaction_gets_concurrent_tx(aws, monkeypatch):
    """Two starts at once both read the entry under its limit: the one that writes second finds the
    count's condition failed, and is decided again from a fresh read."""
    boot("CP-R1")
    boot("CP-R2")
    storage.put_id_tag("RACER", {"status": "Accepted", "spelling": "racer", "maxActiveTransactions": 1}, ts(0))
    before, read = storage.get_id_tag("RACER"), storage.get_id_tag
    assert start_answer("CP-R1", "RACER")["idTagInfo"] == {"status": "Accepted"}
    stale = iter([before])
    monkeypatch.setattr(storage, "get_id_tag", lambda key, consistent=False: next(stale, None) or read(key, consistent))
    assert start_answer("CP-R2", "RACER")["idTagInfo"] == {"status": "ConcurrentTx"}
    assert read("RACER")["activeTransactions"] == 1
