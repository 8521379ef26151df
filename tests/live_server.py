"""A real `chalice local --stage local` in a subprocess, for tests that use the system as a user would."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.backends import table_variables

REPO = Path(__file__).resolve().parents[1]
# What the test stage sets for in-process tests; a local server must not inherit it.
_TEST_ONLY = ("STAGE", "LOCAL_RUNTIME", *table_variables(), "AWS_ENDPOINT_URL_DYNAMODB", "EVENT_BUS_NAME")


# The JVM of a test server's DynamoDB Local: a server lives seconds to a minute with a light load, so the
# quick compiler alone and one GC thread (up in about 2 s instead of 5 on 2 cores, and less CPU taken from
# the test meanwhile). The same engine answers; only how Java compiles it differs.
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


def live_env(**overrides):
    env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY}
    return {
        "JDK_JAVA_OPTIONS": SHORT_LIVED_JVM,
        **env,
        "LOCAL_DATA_DIR": "memory",
        "OCPP_PORT": str(free_port()),
        **overrides,
    }


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
        descriptor, log = tempfile.mkstemp(prefix="dashboard-server-", suffix=".log")
        os.close(descriptor)
        self.log = Path(log)

    def start(self, timeout=90):
        with self.log.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if http_get_json(self.url + "stats", timeout=2)[0] == 200:
                    return self
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(0.1)  # a refused connection costs nothing: the server is used the moment it answers
        output = self.log.read_text(errors="replace")[-4000:]
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
