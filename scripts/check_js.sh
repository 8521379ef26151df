#!/bin/sh
# The dashboard's JavaScript check, run by `make lint`: every module of static/ parses (node --check), and the
# unit tests of its pure parts pass (node --test tests/js). Exits non-zero on the first failure.
set -eu
cd "$(dirname "$0")/.."
command -v node >/dev/null || { echo "check_js: node (>= 20) is needed to check static/*.js" >&2; exit 1; }
for file in static/*.js; do
  node --check "$file"
done
node --test --test-reporter=spec tests/js/*.test.mjs
