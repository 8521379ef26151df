"""How long a newcomer waits: start `make run` as a user would, and measure the seconds from the moment it
prints its URLs until every demo charger is complete in GET /chargepoints (a status reported over OCPP, a
location, a max power, a connector count and every connector's status). Stops `make run` with SIGINT to its
process group, as Ctrl-C would. Usage: python -m scripts.first_minute [--runs 3]"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from chalicelib.local_runtime import free_port

ROOT = Path(__file__).resolve().parents[1]
DEMO = ("CP-DEMO-001", "CP-DEMO-002", "CP-DEMO-003")


def complete(charge_point: dict) -> bool:
    connectors = charge_point.get("connectors") or 0
    reported = charge_point.get("connectorStatus") or {}
    return (
        charge_point.get("status") not in (None, "Unknown")
        and bool(charge_point.get("location"))
        and bool(charge_point.get("maxPower"))
        and connectors > 0
        and all(reported.get(str(c), {}).get("status") for c in range(1, connectors + 1))
    )


def fleet_complete(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/chargepoints?limit=100", timeout=2) as response:
            listed = {cp["chargePointId"]: cp for cp in json.load(response)["chargePoints"]}
    except OSError:
        return False
    return all(cp in listed and complete(listed[cp]) for cp in DEMO)


def measure(timeout: float = 120) -> float:
    """One fresh `make run` (its database in a new, empty directory): seconds from URLs to complete."""
    port = free_port()
    printed = threading.Event()
    with tempfile.TemporaryDirectory(prefix="first-minute-") as data:
        env = {**os.environ, "PORT": str(port), "OCPP_PORT": str(free_port()), "LOCAL_DATA_DIR": data}
        run = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

        def watch() -> None:
            for line in run.stdout:
                if "Dashboard:" in line:
                    printed.set()

        threading.Thread(target=watch, daemon=True).start()
        try:
            if not printed.wait(timeout):
                raise TimeoutError(f"make run printed no URLs within {timeout} s")
            start = time.monotonic()
            while not fleet_complete(f"http://127.0.0.1:{port}"):
                if time.monotonic() - start > timeout:
                    raise TimeoutError(f"the demo fleet was not complete {timeout} s after the URLs")
                time.sleep(0.05)
            return time.monotonic() - start
        finally:
            os.killpg(run.pid, signal.SIGINT)
            run.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    seconds = [measure() for _ in range(runs)]
    print("seconds from URLs to a complete demo fleet: " + ", ".join(f"{s:.2f}" for s in seconds), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
