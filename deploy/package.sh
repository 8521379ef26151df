#!/usr/bin/env bash
# Build the deployment archive and the SAM template for one stage (what the tests check, too):
#   deploy/package.sh STAGE [OUT_DIR]      -> OUT_DIR/sam.json, OUT_DIR/deployment.zip (default out/STAGE)
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/package.sh STAGE [OUT_DIR]}
OUT=${2:-out/$STAGE}
prepare "$STAGE"
rm -rf "$OUT"
"$CHALICE" package --stage "$STAGE" --merge-template .chalice/resources.json "$OUT"
"$PY" deploy/templates.py gateway-environment "$OUT/sam.json"
echo "packaged $STAGE: $OUT/sam.json, $OUT/deployment.zip ($(wc -c < "$OUT/deployment.zip") bytes)"
