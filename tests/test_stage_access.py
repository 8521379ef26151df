"""Deployed stages (issues 10 and 12): every data route needs the operator's credentials, and every route,
preflight and response alike, names the stage's own CORS origin, not Chalice's default `*`.

Checked where it is decided: on the packaged prod template (what API Gateway enforces) and on real
responses of the app imported with prod's own settings from .chalice/config.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support import OPEN, ROOT, TEST_ENV

# What stays open in every stage: the dashboard's files, the API's description and the chargers' own route
# (which checks the charger's own password when OCPP_AUTH=basic).
STAGES = json.loads((ROOT / ".chalice" / "config.json").read_text())["stages"]
PROD_ORIGIN = STAGES["prod"]["environment_variables"]["CORS_ALLOW_ORIGIN"]


def _swagger(packaged, stage: str) -> dict:
    resources = json.loads((packaged[stage] / "sam.json").read_text())["Resources"]
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::Serverless::Api"]
    return api["Properties"]["DefinitionBody"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_data_route_needs_the_api_key_in_the_packaged_template(packaged, stage):
    paths = _swagger(packaged, stage)["paths"]
    routes = {
        f"{method.upper()} {path}": spec
        for path, methods in paths.items()
        for method, spec in methods.items()
        if method != "options"
    }
    assert set(routes) > OPEN and len(routes) > len(OPEN)
    for route, spec in routes.items():
        keyed = spec.get("security") == [{"api_key": []}]
        assert keyed == (route not in OPEN), route


def test_every_route_and_preflight_names_prods_origin_in_the_packaged_template(packaged):
    assert PROD_ORIGIN != "*"
    for path, methods in _swagger(packaged, "prod")["paths"].items():
        assert "options" in methods, f"{path} has no CORS preflight"
        headers = methods["options"]["x-amazon-apigateway-integration"]["responses"]["default"]["responseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{PROD_ORIGIN}'", path
        assert "X-Api-Key" in headers["method.response.header.Access-Control-Allow-Headers"], path


# Answers that need no database: a preflight, the open routes, and refusals made before any read.
REQUESTS = [
    ("OPTIONS", "/stats"),
    ("OPTIONS", "/sessions"),
    ("OPTIONS", "/chargepoints/CP-1/commands"),
    ("GET", "/openapi.json"),
    ("GET", "/"),
    ("GET", "/assets/dashboard.js"),
    ("GET", "/sessions?limit=0"),
    ("GET", "/exports/sessions.csv"),
    ("GET", "/chargepoints/bad%20id"),
    ("POST", "/simulate"),
]


def _answers_in_stage(stage: str) -> list[dict]:
    """Import app.py in a fresh interpreter with the stage's configured variables and ask it REQUESTS
    through Chalice's API Gateway stand-in; each answer's status and headers."""
    script = (
        "import json, sys, app\n"
        "from chalice.config import Config\n"
        "from chalice.local import LocalGateway\n"
        "gateway = LocalGateway(app.app, Config())\n"
        "out = []\n"
        "for method, path in json.loads(sys.argv[1]):\n"
        "    headers = {'origin': 'https://elsewhere.example', 'content-type': 'application/json'}\n"
        "    answer = gateway.handle_request(method, path, headers, b'[]' if method == 'POST' else b'')\n"
        "    out.append({'status': answer['statusCode'], 'headers': answer['headers']})\n"
        "print(json.dumps(out))"
    )
    env = {**os.environ, **TEST_ENV, **STAGES[stage]["environment_variables"], "LOCAL_RUNTIME": "off"}
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(REQUESTS)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_real_answers_with_prod_settings_carry_prods_origin():
    for (method, path), answer in zip(REQUESTS, _answers_in_stage("prod"), strict=True):
        assert answer["status"] < 500, (method, path, answer)
        assert answer["headers"].get("Access-Control-Allow-Origin") == PROD_ORIGIN, (method, path, answer)
