#!/usr/bin/env bash
# Build the deployment archive and the SAM template for one stage:
#   deploy/package.sh STAGE [OUT_DIR]      -> OUT_DIR/sam.json, OUT_DIR/deployment.zip (default out/STAGE)
# Both deploy paths and the tests go through here, so they ship the same archive:
# - the dashboard: static/ is the single source; vendor/static links to it, and chalice copies vendor/
#   to the archive's root, where chalicelib/dashboard.py looks for it (checked, not assumed);
# - the stage's environment is exported while chalice imports app.py, so the schedule and the settings
#   checks (prod refuses open auth) see what the deployed functions will see.
set -euo pipefail
cd "$(dirname "$0")/.."
STAGE=${1:?usage: deploy/package.sh STAGE [OUT_DIR]}
OUT=${2:-out/$STAGE}
PY=${PYTHON:-.venv/bin/python}
CHALICE=${CHALICE:-$(dirname "$PY")/chalice}

deploy/check-static.sh
eval "$("$PY" deploy/templates.py stage-env "$STAGE")"
# chalice wants a region to package, though the template names none (it uses ${AWS::Region}).
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-${AWS_REGION:-us-east-1}}
# chalice also zips chalicelib/__pycache__: bytecode of this machine's Python, dead weight in Lambda.
find chalicelib -name __pycache__ -type d -prune -exec rm -rf {} +
rm -rf "$OUT"
"$CHALICE" package --stage "$STAGE" --merge-template .chalice/resources.json "$OUT"
echo "packaged $STAGE: $OUT/sam.json, $OUT/deployment.zip ($(wc -c < "$OUT/deployment.zip") bytes)"
