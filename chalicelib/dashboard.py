"""The dashboard's files, served by the app itself so the page finds its API on its own origin."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from chalice import NotFoundError, Response

# Locally the files are in the project's static/; in the deployment archive vendor/static (a link to
# it) puts them at the same place relative to this file.
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@lru_cache(maxsize=1)
def _files() -> frozenset[str]:
    """The names that may be asked for: no path, however odd or long, reaches the file system."""
    return frozenset(path.name for path in STATIC_DIR.iterdir() if path.suffix in CONTENT_TYPES and path.is_file())


def asset(name: str) -> Response:
    if name not in _files():
        raise NotFoundError(f"no dashboard file {name[:100]!r}")
    path = STATIC_DIR / name
    content_type = CONTENT_TYPES[path.suffix]
    return Response(
        body=path.read_text(encoding="utf-8"),
        status_code=200,
        headers={"Content-Type": content_type, "Cache-Control": "no-cache"},
    )
