"""Cold-start import cost: each statement is timed in fresh interpreters (the median of N runs), the way
a Lambda cold start pays for it. Used to choose the telemetry library (docs/deployment.md).

usage: python deploy/import_cost.py [--runs 15] [--python PATH] [--compile] [STATEMENT ...]

--compile gives every run an empty bytecode cache, as in Lambda, where the archive holds no .pyc for the
packaged dependencies and /var/task is read-only: every cold start compiles them from source.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ["import boto3", "import app"]
PROBE = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"


def cost(python: str, statement: str, runs: int, compile_: bool) -> float:
    """Median seconds the statement takes in a fresh interpreter."""
    env = {
        **os.environ,
        "STAGE": "dev",
        "LOCAL_RUNTIME": "off",
        "AWS_LAMBDA_FUNCTION_NAME": "import-cost",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as cache:
            if compile_:
                env["PYTHONPYCACHEPREFIX"] = cache
            out = subprocess.run(
                [python, "-c", PROBE.format(stmt=statement)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        times.append(float(out.strip().splitlines()[-1]))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--compile", action="store_true", help="no bytecode cache: compile from source")
    parser.add_argument("statements", nargs="*", default=DEFAULT)
    args = parser.parse_args()
    for statement in args.statements:
        print(f"{cost(args.python, statement, args.runs, args.compile) * 1000:8.1f} ms  {statement}")


if __name__ == "__main__":
    main()
