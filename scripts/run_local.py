"""`make run`: the whole system offline. Starts `chalice local --stage local` on 127.0.0.1:$PORT (which
starts its own DynamoDB Local, simulator ticks and OCPP gateway), prints where to look, and stops
everything it started on SIGINT, SIGTERM or SIGHUP, and when its parent (make) dies, even by SIGKILL:
the server and its database die with their parent too (chalicelib.local_runtime.die_with_parent)."""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib.local_runtime import die_with_parent  # noqa: E402

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# The server has this long to stop by itself (it stops DynamoDB Local first) before it is killed.
GRACE_SECONDS = 3.5


class Stop(Exception):
    """A stop signal arrived, or make is gone."""


def _stop_signal(signum: int, frame: object) -> None:
    # Only the first one counts: a second (make's process group gets the signal too, then make's death
    # sends another) must not interrupt the stopping.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stop(signal.Signals(signum).name)


def port_taken(host: str, port: int) -> bool:
    """Whether a server listens there already: bound the way the servers bind it."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 120) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            time.sleep(0.5)
    return False


def _banner(base: str, ocpp_host: str, ocpp_port: str) -> str:
    return f"""
EV charging central system is running offline.
  Dashboard:       {base}/
  REST API:        {base}/chargepoints  {base}/sessions  {base}/stats
  Simulate a tick: curl -X POST {base}/simulate
  Play a charger:  curl -X POST {base}/ocpp/MY-CHARGER -H 'Content-Type: application/json' \\
                     -d '[2,"1","BootNotification",{{"chargePointVendor":"Me","chargePointModel":"Curl"}}]'
  Real chargers:   ws://{ocpp_host}:{ocpp_port}/ocpp/{{chargePointId}}  (OCPP 1.6J, subprotocol ocpp1.6)
  Fleet over WS:   {sys.executable} -m scripts.ws_chargers --url ws://{ocpp_host}:{ocpp_port}/ocpp --count 10
Ctrl-C stops everything.
"""


def _stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (the server and DynamoDB Local), SIGKILL after the grace."""
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> int:
    parent = os.getppid()
    die_with_parent()  # make killed, even by SIGKILL: SIGTERM here, and everything below stops
    for sig in STOP_SIGNALS:  # also when inherited as ignored (a background job): these mean stop
        signal.signal(sig, _stop_signal)
    if os.getppid() != parent:  # make died before die_with_parent took effect
        return 0
    port = os.environ.get("PORT", "8000")
    # The OCPP WebSocket gateway runs inside the chalice local process (chalicelib/local_runtime.py).
    ocpp_host, ocpp_port = os.environ.get("OCPP_HOST", "127.0.0.1"), os.environ.get("OCPP_PORT", "9000")
    for name, host, number in (("PORT", "127.0.0.1", port), ("OCPP_PORT", ocpp_host, ocpp_port)):
        if number != "0" and port_taken(host, int(number)):
            print(
                f"Port {number} ({name}) on {host} is already in use: is another `make run` still running? "
                f"Stop it, or choose another port: {name}=<free port> make run",
                file=sys.stderr,
            )
            return 1
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "local", "--stage", "local", "--host", "127.0.0.1", "--port", port, "--no-autoreload"]
    # Its own session, so that a terminal's Ctrl-C reaches it once, from here; and it dies with this process.
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True, preexec_fn=die_with_parent)
    base = f"http://127.0.0.1:{port}"
    try:
        if not wait_until_up(f"{base}/stats", server):
            print(f"The server did not come up (exit code {server.poll()}); see the output above.", file=sys.stderr)
            return 1
        print(_banner(base, ocpp_host, ocpp_port), flush=True)
        while server.poll() is None:
            if os.getppid() != parent:  # the watchdog behind die_with_parent
                return 0
            time.sleep(0.2)
        return server.returncode
    except Stop:
        return 0
    finally:
        for sig in STOP_SIGNALS:  # stopping now: nothing may interrupt it
            signal.signal(sig, signal.SIG_IGN)
        _stop_server(server)


if __name__ == "__main__":
    sys.exit(main())
