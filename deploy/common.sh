# Sourced by the deploy scripts: the same preparation for `chalice package` and `chalice deploy`.
# - the dashboard: static/ is the single source; vendor/static links to it and chalice copies vendor/
#   to the archive's root, where chalicelib/dashboard.py looks (a checkout without symlinks is refused);
# - the stage's environment is exported while chalice imports app.py, so the schedule's rate and the
#   settings checks (prod refuses open auth) see what the deployed functions will see;
# - no chalicelib/__pycache__ in the archive (this machine's bytecode is dead weight in Lambda).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
CHALICE=${CHALICE:-$(dirname "$PY")/chalice}
APP=ev-charging

prepare() {
    local stage=$1
    case "$stage" in dev|prod) ;; *) echo "stage must be dev or prod, got '$stage'" >&2; exit 2 ;; esac
    if [ ! -L vendor/static ] || [ ! -f vendor/static/index.html ]; then
        echo "vendor/static must be a symlink to ../static (ln -sfn ../static vendor/static)" >&2
        exit 1
    fi
    eval "$("$PY" deploy/templates.py stage-env "$stage")"
    # chalice wants a region even to package (the template itself names none: it uses ${AWS::Region}).
    export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}
    find chalicelib -name __pycache__ -type d -prune -exec rm -rf {} +
}
