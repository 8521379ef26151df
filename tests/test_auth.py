"""Security per stage: operator routes behind an API key or IAM in deployed stages, chargers behind HTTP
Basic with their own password (OCPP security profile 1, stored hashed), CORS not `*` in prod."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import auth, settings, storage
from tests.support import OPEN, ROOT, TEST_ENV

PASSWORD = "correct-horse-battery-1"
HEARTBEAT = json.dumps([2, "hb-1", "Heartbeat", {}])
BOOT = json.dumps([2, "boot-1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}])


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def basic_auth(aws, monkeypatch):
    """Loads the settings now: chalice.test.Client puts the dev stage's variables in os.environ during
    each request, so settings first read inside a request would name dev's tables."""
    monkeypatch.setenv("OCPP_AUTH", "basic")
    settings.get.cache_clear()
    assert settings.get().ocpp_auth == "basic"
    yield
    settings.get.cache_clear()


def set_password(client, charge_point_id: str, password: str = PASSWORD):
    return client.http.put(
        f"/chargepoints/{charge_point_id}/password",
        body=json.dumps({"password": password}),
        headers={"Content-Type": "application/json"},
    )


def post_ocpp(client, charge_point_id: str, frame: str, authorization: str | None = None):
    headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
    return client.http.post(f"/ocpp/{charge_point_id}", body=frame, headers=headers)


# --- passwords ---------------------------------------------------------------------------------------


def test_a_password_is_stored_as_a_salted_slow_hash_only(aws):
    auth.set_password("CP-1", PASSWORD)
    stored = storage.get_password_hash("CP-1")
    scheme, iterations, salt, digest = stored.split("$")
    assert scheme == "pbkdf2_sha256" and int(iterations) >= 600_000 and len(base64.b64decode(salt)) == 16
    assert PASSWORD not in stored
    assert auth.hash_password(PASSWORD, iterations=1000) != auth.hash_password(PASSWORD, iterations=1000)  # salted
    assert auth.verify_password(PASSWORD, stored) and not auth.verify_password(PASSWORD + "x", stored)


def test_a_password_item_is_not_a_charge_point(client):
    auth.set_password("CP-1", PASSWORD)
    assert storage.get_charge_point("CP-1") is None
    assert client.http.get("/chargepoints").json_body["chargePoints"] == []
    assert client.http.get("/stats").json_body["totalChargePoints"] == 0


@pytest.mark.parametrize(
    "stored", ["", "plain", "md5$1$AA==$AA==", "pbkdf2_sha256$x$AA==$AA==", "pbkdf2_sha256$1000$%%%$AA=="]
)
def test_a_broken_stored_hash_never_verifies(stored):
    assert not auth.verify_password(PASSWORD, stored)


def test_the_verified_passwords_forget_the_least_recently_verified_when_full(monkeypatch):
    """Above the bound a charger that reconnects is still verified without the slow hash, unless it is the
    one verified longest ago (clearing the cache when full made every charger pay it again)."""
    monkeypatch.setattr(auth, "_verified", OrderedDict())
    monkeypatch.setattr(auth, "_MAX_VERIFIED", 3)
    passwords = {name: f"{name}-password-of-16+" for name in "ABCDE"}
    stored = {name: auth.hash_password(password, iterations=1000) for name, password in passwords.items()}
    real_pbkdf2, hashed = hashlib.pbkdf2_hmac, []

    def pbkdf2(name, password, salt, rounds, *args):
        hashed.append(password.decode()[0])
        return real_pbkdf2(name, password, salt, rounds, *args)

    monkeypatch.setattr(auth.hashlib, "pbkdf2_hmac", pbkdf2)

    def verify(*names: str) -> str:
        """The chargers among `names` whose password was hashed again."""
        hashed.clear()
        for name in names:
            assert auth.verify_password(passwords[name], stored[name])
        return "".join(hashed)

    assert verify("A", "B", "C") == "ABC"
    assert verify("A") == ""  # B is now the least recently verified ...
    assert verify("D") == "D"  # ... and makes room for D
    assert verify("A", "C", "D") == "" and verify("B") == "B"  # A made room for B
    assert list(auth._verified) == [stored[name] for name in "CDB"]
    # A wrong password is hashed and refused, and leaves the cache as it was.
    assert not auth.verify_password("C-wrong-password-16", stored["C"]) and verify("C") == ""
    # A new password is a new stored hash: the old password no longer verifies, the new one is hashed once.
    old, passwords["C"] = passwords["C"], "C-new-password-of-16"
    stored["C"] = auth.hash_password(passwords["C"], iterations=1000)
    assert not auth.verify_password(old, stored["C"])
    assert verify("C") == "C" and verify("C") == ""
    # Threads verifying at once keep the bound and are all answered right.
    with ThreadPoolExecutor(4) as pool:
        names = "ABDE" * 50
        assert all(pool.map(lambda name: auth.verify_password(passwords[name], stored[name]), names))
    assert len(auth._verified) == 3


@pytest.mark.parametrize(
    "body,message",
    [
        ('{"password": "short"}', "16 to 40 characters"),
        ('{"password": "' + "x" * 41 + '"}', "16 to 40 characters"),
        ('{"password": 1234567890123456789}', "16 to 40 characters"),
        ('{"password": "sixteen-chars-\\u00e9\\u00e9"}', "printable ASCII"),
        ('{"password": "sixteen-chars-\\n\\t"}', "printable ASCII"),
        ('{"pass": "correct-horse-battery-1"}', "JSON object"),
        ("not json", "must be JSON"),
    ],
)
def test_a_bad_password_is_refused_with_a_clear_message(client, body, message):
    response = client.http.put("/chargepoints/CP-1/password", body=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and message in response.json_body["Message"]
    assert storage.get_password_hash("CP-1") is None


# --- OCPP security profile 1 ----------------------------------------------------------------------


def test_the_ocpp_route_is_open_when_ocpp_auth_is_none(client):
    assert post_ocpp(client, "CP-1", BOOT).status_code == 200


def test_with_basic_auth_a_charger_needs_its_own_id_and_password(basic_auth, client):
    assert set_password(client, "CP-1").status_code == 200
    auth.set_password("CP-2", "another-password-22")
    refused = [
        None,
        "Bearer abc",
        "Basic !!!",
        basic("CP-1", "wrong-password-123456"),
        basic("CP-2", PASSWORD),
        basic("CP-1", "another-password-22"),
        "Basic " + base64.b64encode(b"CP-1").decode(),
    ]
    for authorization in refused:
        response = post_ocpp(client, "CP-1", BOOT, authorization)
        assert response.status_code == 401, authorization
        assert "HTTP Basic" in response.json_body["Message"]
    assert storage.get_charge_point("CP-1") is None  # nothing written for a refused charger
    answer = post_ocpp(client, "CP-1", BOOT, basic("CP-1", PASSWORD))
    assert answer.status_code == 200 and answer.json_body[2]["status"] == "Accepted"
    assert post_ocpp(client, "CP-1", HEARTBEAT, basic("cp-1", PASSWORD)).status_code == 401  # ids are exact


def test_a_charger_without_a_password_cannot_send(basic_auth, client):
    assert post_ocpp(client, "CP-9", BOOT, basic("CP-9", PASSWORD)).status_code == 401


def test_a_new_password_replaces_the_old_one_at_once(basic_auth, client):
    set_password(client, "CP-1")
    assert post_ocpp(client, "CP-1", BOOT, basic("CP-1", PASSWORD)).status_code == 200
    set_password(client, "CP-1", "the-new-password-000")
    assert post_ocpp(client, "CP-1", HEARTBEAT, basic("CP-1", PASSWORD)).status_code == 401
    assert post_ocpp(client, "CP-1", HEARTBEAT, basic("CP-1", "the-new-password-000")).status_code == 200


def test_check_basic_auth_for_the_websocket_upgrade(aws):
    auth.set_password("CP:7", PASSWORD)  # OCPP ids may hold ':'; the user name is matched whole
    assert auth.check_basic_auth("CP:7", basic("CP:7", PASSWORD))
    assert auth.check_basic_auth("CP:7", "basic " + basic("CP:7", PASSWORD).split()[1])  # scheme is case-blind
    assert not auth.check_basic_auth("CP", basic("CP", "7:" + PASSWORD))
    assert not auth.check_basic_auth("CP:7", None)
    assert not auth.check_basic_auth("bad id/", basic("bad id/", PASSWORD))


# --- operators: per-stage settings, enforced by API Gateway ---------------------------------------------


def _routes_in_stage(env: dict) -> dict:
    """Import app.py in a fresh interpreter with a stage's settings; the routes' protection as it deploys."""
    script = (
        "import json, app\n"
        "print(json.dumps({f'{m} {p}': [bool(e.api_key_required), type(e.authorizer).__name__]"
        " for p, ms in app.app.routes.items() for m, e in ms.items()}))"
    )
    environment = {**os.environ, **TEST_ENV, **env}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_data_route_needs_the_operators_credentials_when_the_stage_says_so():

    routes = _routes_in_stage({"STAGE": "dev", "OPERATOR_AUTH": "api-key"})
    assert {name for name, (key, _) in routes.items() if not key} == OPEN
    iam = _routes_in_stage({"STAGE": "dev", "OPERATOR_AUTH": "iam"})
    assert {name for name, (_, authorizer) in iam.items() if authorizer != "IAMAuthorizer"} == OPEN
    open_routes = _routes_in_stage({"STAGE": "local", "OPERATOR_AUTH": "none"})
    assert not any(key or authorizer != "NoneType" for key, authorizer in open_routes.values())


def test_the_stages_are_configured_as_documented():
    stages = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
    for stage, (operator_auth, ocpp_auth) in {
        "local": ("none", "none"),
        "dev": ("api-key", "basic"),
        "prod": ("api-key", "basic"),
    }.items():
        env = stages[stage]["environment_variables"]
        assert (env.get("OPERATOR_AUTH", "none"), env.get("OCPP_AUTH", "none")) == (operator_auth, ocpp_auth), stage
        loaded = settings.load({**env, "STAGE": stage})
        assert loaded.operator_auth == operator_auth and loaded.ocpp_auth == ocpp_auth
    assert stages["prod"]["environment_variables"]["CORS_ALLOW_ORIGIN"] != "*"


@pytest.mark.parametrize(
    "variable,open_value", [("OPERATOR_AUTH", "none"), ("OCPP_AUTH", "none"), ("CORS_ALLOW_ORIGIN", "*")]
)
def test_prod_refuses_to_start_open(variable, open_value):
    safe = {
        "STAGE": "prod",
        "OPERATOR_AUTH": "api-key",
        "OCPP_AUTH": "basic",
        "CORS_ALLOW_ORIGIN": "https://ops.example.org",
    }
    settings.load(safe)
    with pytest.raises(settings.SettingsError, match=variable):
        settings.load({**safe, variable: open_value})


def test_cors_origin_comes_from_the_settings(app_module):
    assert app_module.app.api.cors.allow_origin == settings.get().cors_allow_origin
