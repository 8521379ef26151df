"""`make run`: the whole system offline. Starts `chalice local --stage local` on 127.0.0.1:$PORT (which
starts its own DynamoDB Local and simulator ticks), prints where to look, and on Ctrl-C stops everything
it started."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 120) -> bool:
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except OSError:
            time.sleep(0.5)
    return False


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    # A terminal closing or a `kill` stops everything too, not just Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    port = os.environ.get("PORT", "8000")
    chalice = Path(sys.executable).parent / "chalice"
    command = [str(chalice), "local", "--stage", "local", "--host", "127.0.0.1", "--port", port, "--no-autoreload"]
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    # The OCPP WebSocket gateway runs inside the chalice local process (chalicelib/local_runtime.py).
    ocpp_host, ocpp_port = os.environ.get("OCPP_HOST", "127.0.0.1"), os.environ.get("OCPP_PORT", "9000")
    try:
        if not wait_until_up(f"{base}/stats", server):
            print("The server did not come up; see the output above.", file=sys.stderr)
            return 1
        print(f"""
EV charging central system is running offline.
  Dashboard:       {base}/
  REST API:        {base}/chargepoints  {base}/sessions  {base}/stats
  Simulate a tick: curl -X POST {base}/simulate
  Play a charger:  curl -X POST {base}/ocpp/MY-CHARGER -H 'Content-Type: application/json' \\
                     -d '[2,"1","BootNotification",{{"chargePointVendor":"Me","chargePointModel":"Curl"}}]'
  Real chargers:   ws://{ocpp_host}:{ocpp_port}/ocpp/{{chargePointId}}  (OCPP 1.6J, subprotocol ocpp1.6)
  Fleet over WS:   {sys.executable} -m scripts.ws_chargers --url ws://{ocpp_host}:{ocpp_port}/ocpp --count 10
Ctrl-C stops everything.
""", flush=True)
        parent = os.getppid()
        while server.poll() is None:
            # Started by make and make was killed: nobody is left to press Ctrl-C, so stop too.
            if os.getppid() != parent:
                return 0
            time.sleep(1)
        return server.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
