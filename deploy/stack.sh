#!/usr/bin/env bash
# Deploy path 1, the whole system as one CloudFormation stack (SAM):
#   deploy/stack.sh STAGE [Key=Value ...]   package, upload to the artifacts bucket, create or update
#                                           ev-charging-STAGE, print its outputs and start the demo fleet
#                                           (Key=Value: more stack parameters, as deploy/gateway.sh passes)
#   deploy/stack.sh STAGE --delete          delete the stack (tables are kept: DeletionPolicy RetainExceptOnCreate)
# The artifacts bucket is ev-charging-artifacts-ACCOUNT-REGION-STAGE, created when missing (versioned,
# encrypted, no public access): the packaged template is over the 51,200 bytes `aws cloudformation deploy`
# accepts inline, so it goes through S3 too.
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/stack.sh STAGE [Key=Value ...] | deploy/stack.sh STAGE --delete}
shift
STACK=$APP-$STAGE
check_stage "$STAGE"
use_region
if [ "${1:-}" = "--delete" ]; then
    aws cloudformation delete-stack --stack-name "$STACK"
    aws cloudformation wait stack-delete-complete --stack-name "$STACK"
    echo "deleted $STACK; its tables remain (RetainExceptOnCreate): docs/deployment.md says how to remove them"
    exit 0
fi
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
BUCKET=$APP-artifacts-$ACCOUNT-$AWS_DEFAULT_REGION-$STAGE
if aws s3api head-bucket --bucket "$BUCKET" > /dev/null 2>&1; then
    echo "artifacts bucket: s3://$BUCKET"
else
    if [ "$AWS_DEFAULT_REGION" = us-east-1 ]; then
        aws s3api create-bucket --bucket "$BUCKET" > /dev/null
    else
        aws s3api create-bucket --bucket "$BUCKET" \
            --create-bucket-configuration "LocationConstraint=$AWS_DEFAULT_REGION" > /dev/null
    fi
    aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration \
        BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
    aws s3api put-bucket-encryption --bucket "$BUCKET" --server-side-encryption-configuration \
        '{"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}'
    aws s3api put-bucket-versioning --bucket "$BUCKET" --versioning-configuration Status=Enabled
    echo "created the artifacts bucket s3://$BUCKET (versioned, encrypted, no public access)"
fi
deploy/package.sh "$STAGE" "out/$STAGE"
prepare "$STAGE"
ensure_api_gateway_logging_role
aws cloudformation package --template-file "out/$STAGE/sam.json" --s3-bucket "$BUCKET" --s3-prefix "$STACK" \
    --output-template-file "out/$STAGE/packaged.yaml" > /dev/null
aws cloudformation deploy --template-file "out/$STAGE/packaged.yaml" --stack-name "$STACK" \
    --s3-bucket "$BUCKET" --s3-prefix "$STACK" --no-fail-on-empty-changeset \
    --parameter-overrides "Stage=$STAGE" "$@" --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND
aws cloudformation describe-stacks --stack-name "$STACK" \
    --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table
start_demo_fleet "$APP-$STAGE-simulate_tick"
