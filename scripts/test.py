"""`make test`: install what the browser tests need when it is missing, then run the whole suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_chromium() -> None:
    """Debian's chromium for the dashboard tests (no browser download: only package registries work)."""
    if Path("/usr/bin/chromium").exists():
        return
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None or not shutil.which("apt-get"):
        print("chromium is missing and cannot be installed here: the browser tests will say so", file=sys.stderr)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        prefix + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=True, env=env
    )


def main() -> int:
    ensure_chromium()
    # The slowest tests are named at the end: the suite has a time budget (README), and this shows where it goes.
    return subprocess.call([sys.executable, "-m", "pytest", "--durations=20", *sys.argv[1:]], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main())
