"""The dashboard's files, served by the app itself so the page finds its API on its own origin."""
from __future__ import annotations

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


def asset(name: str) -> Response:
    path = STATIC_DIR / name
    content_type = CONTENT_TYPES.get(path.suffix)
    if "/" in name or name.startswith(".") or content_type is None or not path.is_file():
        raise NotFoundError(f"no dashboard file {name!r}")
    return Response(body=path.read_text(encoding="utf-8"), status_code=200,
                    headers={"Content-Type": content_type, "Cache-Control": "no-cache"})
