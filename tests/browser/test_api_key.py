"""Deployed stages put every data route behind the operator's API key (API Gateway checks it before the
app runs). Here API Gateway's check is played by the browser's request interception, for exactly the
routes app.py leaves open (tests/test_stage_access.py proves the packaged template does the same)."""

import json
import re
from urllib.parse import urlsplit

from tests.support import OPEN

KEY = "operator-key-0123456789"
OPEN_PATHS = [re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", route.split(" ", 1)[1]) + "$") for route in OPEN]


class Gateway:
    """Refuses a request to a data route without the key, as API Gateway does: 403 {"message": "Forbidden"}."""

    def __init__(self):
        self.refused, self.passed = [], []

    def __call__(self, route):
        request = route.request
        path = urlsplit(request.url).path
        if any(p.match(path) for p in OPEN_PATHS) or request.method == "OPTIONS":
            return route.continue_()
        if request.headers.get("x-api-key") != KEY:
            self.refused.append(path)
            return route.fulfill(status=403, content_type="application/json", body=json.dumps({"message": "Forbidden"}))
        self.passed.append(path)
        return route.continue_()


def keyed_page(new_page, gateway):
    page = new_page()
    page.context.route("**/*", gateway)
    return page


def test_the_dashboard_asks_for_the_key_once_and_keeps_it_for_the_session(new_page, live_server):
    gateway = Gateway()
    page = keyed_page(new_page, gateway)
    page.goto(live_server)
    form = page.locator("[data-testid=key-form]")
    form.wait_for(state="visible")
    assert "needs the operator's API key" in form.inner_text()
    assert page.locator("[data-testid=api-banner]").is_hidden()
    assert gateway.refused and not gateway.passed

    page.fill("[data-testid=api-key]", "a-wrong-key")
    page.click("[data-testid=api-key-submit]")
    page.wait_for_function("() => /refused this API key/.test(document.getElementById('key-form-text').textContent)")
    assert form.is_visible()

    page.fill("[data-testid=api-key]", KEY)
    page.click("[data-testid=api-key-submit]")
    page.wait_for_function("() => document.querySelector('[data-testid=last-updated]').dataset.ts")
    assert form.is_hidden()
    assert {"/stats", "/chargepoints", "/sessions"} <= set(gateway.passed)
    assert page.evaluate(
        "Object.keys(sessionStorage).filter(k => k.startsWith('evdash.apiKey')).map(k => sessionStorage.getItem(k))"
    ) == [KEY]
    assert page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('evdash.apiKey'))") == []

    # The same tab, reloaded: no question, the key is sent from the start.
    refused = len(gateway.refused)
    page.reload()
    page.wait_for_function("() => document.querySelector('[data-testid=last-updated]').dataset.ts")
    assert form.is_hidden() and len(gateway.refused) == refused

    # A new browser session asks again.
    other = keyed_page(new_page, Gateway())
    other.goto(live_server)
    other.locator("[data-testid=key-form]").wait_for(state="visible")
    unexpected = [e for e in page.errors + other.errors if "403" not in e]
    assert unexpected == []


def test_a_local_server_asks_for_no_key(page, live_server):
    page.goto(live_server)
    page.wait_for_function("() => document.querySelector('[data-testid=last-updated]').dataset.ts")
    assert page.locator("[data-testid=key-form]").is_hidden()
    assert page.evaluate("Object.keys(sessionStorage).filter(k => k.startsWith('evdash.apiKey'))") == []
