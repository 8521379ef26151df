"""GET /openapi.json describes every route the app has, with the security each one carries."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib import openapi, rest, settings
from tests.support import OPEN


def _operations(document: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, methods in document["paths"].items() for method in methods}


def test_the_served_document_is_openapi_3_and_lists_exactly_the_apps_routes(client, app_module):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    document = response.json_body
    assert document["openapi"].startswith("3.")
    routed = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    assert _operations(document) == routed


def test_every_path_parameter_is_described(app_module):
    document = openapi.document()
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            entry = app_module.app.routes[path][method.upper()]
            described = {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"}
            assert described == set(entry.view_args), (path, method)
            assert operation["responses"], (path, method)


def test_every_schema_reference_resolves():
    document = openapi.document()
    schemas = document["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    found = set(refs(document))
    assert found and all(ref.rsplit("/", 1)[1] in schemas for ref in found)


def test_the_protected_routes_of_the_app_are_exactly_the_documented_secured_ones(app_module):
    """With the stage's settings (none in the tests) the app carries no authorizer; the document marks
    the same operations as operator routes when the stage asks for an API key."""
    current = settings.get()
    with_key = dataclasses.replace(current, operator_auth="api-key")
    secured = {
        (path, method.upper())
        for path, methods in openapi.document(with_key)["paths"].items()
        for method, operation in methods.items()
        if {"operator": []} in operation.get("security", [])
    }

    routes = {(path, method) for path, methods in app_module.app.routes.items() for method in methods}
    assert secured == {(path, method) for path, method in routes if f"{method} {path}" not in OPEN}
    key_now = rest.operator_route_options(current) == {"api_key_required": True}
    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            assert bool(entry.api_key_required) == (key_now and (path, method) in secured), (path, method)


@pytest.mark.parametrize(
    "operator_auth,ocpp_auth,schemes",
    [
        ("none", "none", set()),
        ("api-key", "basic", {"operator", "ocpp"}),
        ("iam", "none", {"operator"}),
    ],
)
def test_security_schemes_follow_the_stage(operator_auth, ocpp_auth, schemes):
    stage = dataclasses.replace(settings.get(), operator_auth=operator_auth, ocpp_auth=ocpp_auth)
    document = openapi.document(stage)
    assert set(document["components"].get("securitySchemes", {})) == schemes
    ocpp = document["paths"]["/ocpp/{charge_point_id}"]["post"]
    assert ("security" in ocpp) == (ocpp_auth == "basic")
