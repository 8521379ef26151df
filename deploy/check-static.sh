#!/usr/bin/env bash
# The archive's dashboard comes from vendor/static, a link to static/ (one source, no copy to go stale).
# A checkout without symlinks (core.symlinks=false) turns it into a text file: say so instead of
# deploying an API without its dashboard.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -L vendor/static ] || [ ! -f vendor/static/index.html ]; then
    echo "vendor/static must be a symlink to ../static (ln -sfn ../static vendor/static)" >&2
    exit 1
fi
