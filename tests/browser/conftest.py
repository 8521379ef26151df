"""Fixtures for the dashboard browser tests (Playwright + Debian's /usr/bin/chromium).

* DASHBOARD_TEST_URL=http://127.0.0.1:8765/  -> test an already running server (e.g. a mock).
  Otherwise the real app is started with `chalice local` on a free port (SIMULATOR_INTERVAL_SECONDS=2).
* DASHBOARD_TEST_SERVER_CMD="python3 mock.py --port {port}" -> command used by the
  server-stop test when DASHBOARD_TEST_URL is set (default: that test is skipped then).
* Without Playwright or /usr/bin/chromium the tests are skipped, unless CI is set: then they fail.
"""
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

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


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, json.loads(r.read().decode())


def chalice_command(port):
    script = Path(sys.executable).parent / "chalice"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "chalice"]
    return prefix + ["local", "--stage", "local", "--host", "127.0.0.1", "--port", str(port), "--no-autoreload"]


class ServerProcess:
    """A server started in its own process group, restartable on the same port."""

    def __init__(self, command, port, env=None, cwd=REPO):
        self.command, self.port, self.env, self.cwd = command, port, env, cwd
        self.url = f"http://127.0.0.1:{port}/"
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="dashboard-server-", suffix=".log", delete=False)

    def start(self, timeout=90):
        self.proc = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if http_get_json(self.url + "stats", timeout=2)[0] == 200:
                    return self
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.5)
        output = Path(self.log.name).read_text(errors="replace")[-4000:]
        self.stop()
        raise RuntimeError(f"server {self.command} did not answer GET /stats within {timeout} s:\n{output}")

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def app_env():
    return {**os.environ, "SIMULATOR_INTERVAL_SECONDS": "2"}


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


@pytest.fixture(scope="session")
def browser(browser_requirements):
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
