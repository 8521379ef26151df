"""Fuzz the whole HTTP API with schemathesis, from the description it publishes at GET /openapi.json.

The app runs in this process behind a small WSGI adapter over Chalice's local gateway (the same code
path as `chalice local`), on moto. Every operation gets positive and negative (schema-breaking) cases;
every answer must: not be a 5xx, carry a status code, content type and body the description declares,
and, when it is a 4xx, say clearly what was wrong (Chalice's {"Code", "Message"}, or for the OCPP route
a CALLERROR with a description). Bounded by max_examples per operation so the file runs in about a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from http import HTTPStatus
from urllib.parse import quote

import hypothesis
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import app as app_module
from chalicelib import ocpp_frames
from tests import figures
from tests.ocpp_builders import boot, start

EXAMPLES_PER_OPERATION = 100


class ChaliceWsgi:
    """A WSGI app over Chalice's LocalGateway: the request handling `chalice local` serves."""

    def __init__(self) -> None:
        from chalice.config import Config
        from chalice.local import LocalGateway

        self.gateway = LocalGateway(app_module.app, Config())
        self.requests = 0

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        from chalice.local import LocalGatewayException

        # WSGI hands over the path decoded; the gateway wants it as it was on the wire.
        path = quote(environ.get("PATH_INFO", "/").encode("latin-1"), safe="/:@!$&'()*+,=") or "/"
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        self.requests += 1
        try:
            response = self.gateway.handle_request(environ["REQUEST_METHOD"], path, headers, body)
            status, headers, body = response["statusCode"], response["headers"], response["body"]
        except LocalGatewayException as error:  # what API Gateway itself answers (no such route)
            status, headers, body = error.CODE, error.headers, error.body
        start_response(f"{status} {HTTPStatus(status).phrase}", list(headers.items()))
        return [body.encode() if isinstance(body, str) else body or b""]


wsgi = ChaliceWsgi()
schema = schemathesis.openapi.from_wsgi("/openapi.json", wsgi)


@schemathesis.check
def clear_client_error(ctx, response, case) -> bool | None:
    """Every 4xx says what was wrong."""
    if not 400 <= response.status_code < 500:
        return None
    body = json.loads(response.content)
    if isinstance(body, list):  # the OCPP route answers a broken frame with the spec's CALLERROR
        assert body[0] == ocpp_frames.CALLERROR and body[2] and body[3], f"CALLERROR without a description: {body}"
    else:
        message = body.get("Message") or body.get("message")
        assert body.get("Code") and isinstance(message, str) and len(message) >= 10, f"unclear error: {body}"
    return True


@pytest.fixture
def seeded(aws):
    """A charge point with an active session, so that reads find something besides 404."""
    boot("CP-FUZZ")
    start("CP-FUZZ")
    yield


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api(case, seeded):
    before = wsgi.requests
    case.call_and_validate(
        checks=[
            schemathesis.checks.not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
            negative_data_rejection,
            clear_client_error,
        ]
    )
    figures.add("api-fuzz", requests=wsgi.requests - before)


def test_the_fuzzer_covers_every_route():
    described = {(path, method.upper()) for path, methods in schema.raw_schema["paths"].items() for method in methods}
    routed = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    assert described == routed


# --- page tokens: opaque and tamper-proof ----------------------------------------------------------


def _pages(client, path: str) -> list[str]:
    tokens = []
    response = client.http.get(path)
    while response.json_body["nextToken"]:
        tokens.append(response.json_body["nextToken"])
        response = client.http.get(f"{path}&nextToken={tokens[-1]}")
    return tokens


@pytest.fixture
def three_pages(client):
    for n in range(5):
        boot(f"CP-PAGE-{n}")
        start(f"CP-PAGE-{n}")
    tokens = _pages(client, "/chargepoints?limit=2")
    assert len(tokens) == 2 and len(_pages(client, "/sessions?limit=2")) == 2
    return tokens


def _refused(client, path: str) -> None:
    response = client.http.get(path)
    assert response.status_code == 400, (path, response.body)
    assert response.json_body == {
        "Code": "BadRequestError",
        "Message": "nextToken is not valid for this query: pass back the nextToken of the previous page",
    }


def test_a_page_token_reveals_no_key_and_only_works_for_its_own_query(client, three_pages):
    token = three_pages[0]
    assert "CP-PAGE" not in token and "chargePointId" not in token  # opaque: base64 of a signed body
    assert client.http.get(f"/chargepoints?limit=2&nextToken={token}").status_code == 200
    _refused(client, f"/chargepoints?limit=2&status=Unknown&nextToken={token}")  # another query
    _refused(client, f"/sessions?limit=2&nextToken={token}")  # another route


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # a changed signature
        lambda t: ("B" if t[0] != "B" else "C") + t[1:],  # a changed body, old signature
        lambda t: t.split(".")[0],  # no signature
        lambda t: t + ".x",  # an extra part
        lambda t: t.split(".")[0] + ".é",  # a non-ASCII signature
        lambda t: "é" + t,
        lambda t: "",
        lambda t: ".",
        lambda t: "%00",
    ],
)
def test_a_mutated_page_token_is_a_400(client, three_pages, mutate):
    _refused(client, f"/chargepoints?limit=2&nextToken={mutate(three_pages[0])}")


def test_a_forged_token_signed_with_another_secret_is_a_400(client, three_pages):
    body = json.dumps(
        {
            "k": {"fleet": {"S": "chargepoint"}, "chargePointId": {"S": "CP-PAGE-3"}},
            "q": {"route": "chargepoints", "status": None},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    signature = hmac.new(b"an attacker's guess", body, hashlib.sha256).digest()[:18]
    forged = base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + base64.urlsafe_b64encode(signature).decode()
    _refused(client, f"/chargepoints?limit=2&nextToken={forged}")
