#!/usr/bin/env bash
# Deploy path 2, step 2: `chalice deploy`, then the wiring chalice has no setting for (its event rules
# always go on the default bus): the handlers' rules on ev-bus-STAGE with a dead-letter queue, the
# failure destinations, and the API stage's throttling, access logs and operator API key; then the
# demo fleet's first tick.
#   deploy/chalice-deploy.sh STAGE            deploy (run deploy/data-stack.sh STAGE first)
#   deploy/chalice-deploy.sh STAGE --delete   unwire, then `chalice delete`
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/chalice-deploy.sh STAGE [--delete]}
prepare "$STAGE"
if [ "${2:-}" = "--delete" ]; then
    "$PY" deploy/wire_custom_bus.py --stage "$STAGE" --delete
    "$CHALICE" delete --stage "$STAGE"
    exit 0
fi
ensure_api_gateway_logging_role
"$CHALICE" deploy --stage "$STAGE"
"$PY" deploy/wire_custom_bus.py --stage "$STAGE"
start_demo_fleet "$APP-$STAGE-simulate_tick"
