#!/usr/bin/env bash
# Deploy path 2, step 1: the data resources for `chalice deploy`, from the same declarations
# (.chalice/resources.json): tables, bus ev-bus-STAGE, dead-letter queues, log groups with retention.
#   deploy/data-stack.sh STAGE            create or update the stack ev-charging-data-STAGE
#   deploy/data-stack.sh STAGE --delete   delete it (tables are kept: DeletionPolicy RetainExceptOnCreate)
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/data-stack.sh STAGE [--delete]}
STACK=$APP-data-$STAGE
check_stage "$STAGE"
use_region
if [ "${2:-}" = "--delete" ]; then
    aws cloudformation delete-stack --stack-name "$STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK"
    echo "deleted $STACK; its tables remain (RetainExceptOnCreate)"
    exit 0
fi
mkdir -p "out/$STAGE"
"$PY" deploy/templates.py data-template > "out/$STAGE/data.json"
aws cloudformation deploy --template-file "out/$STAGE/data.json" --stack-name "$STACK" \
    --parameter-overrides "Stage=$STAGE" --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset
aws cloudformation describe-stacks --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
