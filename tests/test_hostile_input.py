"""Input that used to crash a route with a 500 (issue 12): each is a 4xx that says what was wrong."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from chalicelib import ocpp_frames, settings, storage
from tests.ocpp_builders import boot

JSON = {"Content-Type": "application/json"}
# Far deeper than Python's recursion limit, far under the 64 KB body limit.
DEEP = "[" * 30000 + "]" * 30000


@pytest.mark.parametrize("route", ["/chargepoints", "/sessions"])
@pytest.mark.parametrize("digit", ["²", "٣", "߂", "１"])
def test_a_unicode_digit_as_limit_is_a_400(client, route, digit):
    response = client.http.get(f"{route}?limit={digit}")
    assert response.status_code == 400
    assert "limit must be a whole number from 1 to 100" in response.json_body["Message"]


def test_an_over_long_asset_name_is_a_404(client):
    response = client.http.get("/assets/" + "a" * 300 + ".js")
    assert response.status_code == 404 and "no dashboard file" in response.json_body["Message"]


@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/simulate"),
        ("put", "/chargepoints/CP-1/password"),
        ("post", "/chargepoints/CP-1/commands"),
    ],
)
def test_deeply_nested_json_in_an_operator_body_is_a_400(client, method, path):
    boot("CP-1")
    assert len(DEEP) < settings.get().ocpp_max_frame_bytes
    response = getattr(client.http, method)(path, headers=JSON, body=DEEP)
    assert response.status_code == 400 and "body must be JSON" in response.json_body["Message"]


@pytest.mark.parametrize("body", [DEEP, '[2, "1", "Heartbeat", ' + DEEP + "]"], ids=["frame", "payload"])
def test_deeply_nested_json_as_an_ocpp_frame_is_a_format_violation(client, body):
    response = client.http.post("/ocpp/CP-1", headers=JSON, body=body)
    assert response.status_code == 400
    assert response.json_body[2] == "FormatViolation" and response.json_body[3]


def _signed(key: object, query: dict) -> str:
    """A token signed with the stage's own secret: what only a bug or a leaked secret could produce."""
    body = json.dumps({"k": key, "q": query}, separators=(",", ":"), sort_keys=True).encode()
    secret = settings.get().pagination_secret.encode()
    signature = base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()[:18]).decode()
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + signature


CHARGE_POINTS = {"route": "chargepoints", "status": None}
SESSIONS = {"route": "sessions", "status": None, "chargePointId": None}


# Keys the database must judge: moto does not check ExclusiveStartKey against the index (it crashes or
# pages on), so these run on DynamoDB Local only.
NOT_OF_THE_INDEX = [
    {"nothing": {"S": "here"}},
    {"chargePointId": {"N": "1"}},
    {"chargePointId": {"S": "CP-1"}},
    {"chargePointId": {"S": "CP-1"}, "fleet": {"S": "another-fleet"}},
]
NOT_A_KEY = [
    {"chargePointId": {"S": "CP-1"}, "fleet": {"B": "AA=="}},
    {"chargePointId": {"S": "CP-1"}, "fleet": {"X": 1}},
    {"chargePointId": {"S": 1}},
    {"chargePointId": "CP-1"},
    {},
    ["CP-1"],
    "CP-1",
    7,
]


@pytest.mark.parametrize("key", NOT_OF_THE_INDEX + NOT_A_KEY)
def test_a_signed_token_whose_key_is_not_a_key_of_the_index_is_a_400(backend, app_module, key):
    from chalice.test import Client

    if backend == "moto" and key in NOT_OF_THE_INDEX:
        pytest.skip("moto does not check ExclusiveStartKey against the index")
    boot("CP-1")
    with Client(app_module.app) as client:
        for route, query in (("chargepoints", CHARGE_POINTS), ("sessions", SESSIONS)):
            response = client.http.get(f"/{route}?nextToken={_signed(key, {**query, 'route': route})}")
            assert response.status_code == 400, (route, key, response.body)
            assert "nextToken is not valid" in response.json_body["Message"]


@pytest.mark.parametrize("charge_point_id", ["CP-1\n", "CP-1\r\n", "\nCP-1"])
def test_a_charge_point_id_must_be_the_whole_string(charge_point_id):
    assert not ocpp_frames.is_valid_charge_point_id(charge_point_id)


def test_a_trailing_newline_creates_no_look_alike_charger(client):
    frame = [2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
    response = client.http.post("/ocpp/CP-1%0A", headers=JSON, body=json.dumps(frame))
    assert response.status_code == 400
    assert storage.get_charge_point("CP-1\n") is None
    assert client.http.get("/chargepoints").json_body["chargePoints"] == []
