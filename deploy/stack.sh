#!/usr/bin/env bash
# Deploy path 1, the whole system as one CloudFormation stack (SAM):
#   deploy/stack.sh STAGE BUCKET     package, upload the archive to BUCKET, create or update ev-charging-STAGE
#   deploy/stack.sh STAGE --delete   delete the stack (the tables are kept: DeletionPolicy Retain)
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/stack.sh STAGE BUCKET | deploy/stack.sh STAGE --delete}
TARGET=${2:?usage: deploy/stack.sh STAGE BUCKET | deploy/stack.sh STAGE --delete}
STACK=$APP-$STAGE
if [ "$TARGET" = "--delete" ]; then
    aws cloudformation delete-stack --stack-name "$STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK"
    echo "deleted $STACK; its tables remain (Retain): deploy/data-stack.sh explains how to remove them"
    exit 0
fi
deploy/package.sh "$STAGE" "out/$STAGE"
aws cloudformation package --template-file "out/$STAGE/sam.json" --s3-bucket "$TARGET" \
    --output-template-file "out/$STAGE/packaged.yaml"
aws cloudformation deploy --template-file "out/$STAGE/packaged.yaml" --stack-name "$STACK" \
    --parameter-overrides "Stage=$STAGE" --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
aws cloudformation describe-stacks --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
