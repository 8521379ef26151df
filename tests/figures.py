"""The reliability figures docs/reliability.md quotes, written by the tests that produce them.

Each test module adds to its own section while it runs; the sections go to
tests/artifacts/reliability-figures.json (git-ignored), rewritten after every update so an interrupted
run still leaves what it counted."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

FILE = Path(__file__).resolve().parent / "artifacts" / "reliability-figures.json"
_lock = threading.Lock()
_sections: dict[str, Counter] = {}


def add(section: str, **counts: int) -> None:
    """Add counts to a section of this run's figures and save them."""
    with _lock:
        _sections.setdefault(section, Counter()).update(counts)
        FILE.parent.mkdir(parents=True, exist_ok=True)
        try:
            saved = json.loads(FILE.read_text())
        except (OSError, ValueError):  # none yet
            saved = {}
        saved.update({name: dict(sorted(counter.items())) for name, counter in _sections.items()})
        # Written whole and renamed into place, so a reader (another pytest run) never sees half a file.
        temporary = FILE.with_name(f"{FILE.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(saved, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, FILE)
