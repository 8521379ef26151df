"""Fixtures for the dashboard browser tests (Playwright + Debian's /usr/bin/chromium).

* DASHBOARD_TEST_URL=http://127.0.0.1:8765/  -> test an already running server (e.g. a mock).
  Otherwise the real app is started with `chalice local` on a free port (SIMULATOR_INTERVAL_SECONDS=2,
  FLEET_ENERGY_LIVE_SECONDS=2).
* DASHBOARD_TEST_SERVER_CMD="python3 mock.py --port {port}" -> command used by the
  server-stop test when DASHBOARD_TEST_URL is set (default: that test is skipped then).
* Without Playwright or /usr/bin/chromium the tests are skipped, unless CI is set: then they fail.
"""

import os
import shlex
from pathlib import Path

import pytest

from tests.live_server import ServerProcess, chalice_command, free_port, live_env  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def _missing_requirement():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright (pip install playwright) is not installed"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def browser_requirements():
    reason = _missing_requirement()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests cannot run in CI: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")


# How old the fleet chart's shared live figure may get in the test server (60 s in a real stage): a tab
# waits for it to be taken again after an earlier tab's.
LIVE_FIGURE_SECONDS = 2


def app_env():
    """The local stage as `make run` has it, with fast ticks, a live fleet figure taken again every
    LIVE_FIGURE_SECONDS and an in-memory DynamoDB Local so that several servers can run at once."""
    return live_env(SIMULATOR_INTERVAL_SECONDS="2", FLEET_ENERGY_LIVE_SECONDS=str(LIVE_FIGURE_SECONDS))


@pytest.fixture(scope="session")
def live_server(browser_requirements):
    """Base URL (with trailing slash) of the dashboard under test."""
    url = os.environ.get("DASHBOARD_TEST_URL")
    if url:
        yield url if url.endswith("/") else url + "/"
        return
    port = free_port()
    server = ServerProcess(chalice_command(port), port, env=app_env()).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def own_server(browser_requirements):
    """A private, stoppable server instance (for the API-unreachable test)."""
    port = free_port()
    if os.environ.get("DASHBOARD_TEST_URL"):
        template = os.environ.get("DASHBOARD_TEST_SERVER_CMD")
        if not template:
            pytest.skip("DASHBOARD_TEST_URL is set without DASHBOARD_TEST_SERVER_CMD: cannot start a private server")
        command = shlex.split(template.format(port=port))
    else:
        command = chalice_command(port)
    server = ServerProcess(command, port, env=app_env()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(browser_requirements):
    """Per module: Playwright's sync API keeps an event loop running while it is open, which would stop
    the asyncio tests (the WebSocket gateway's) that run after the browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """Factory: new_page(width, height) -> page in a fresh context; page.errors collects console errors."""
    contexts = []

    def make(width=1440, height=900):
        ctx = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        page.errors = []
        page.on("console", lambda m: page.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(f"pageerror: {e}"))
        return page

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
