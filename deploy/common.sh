# Sourced by the deploy scripts: the same preparation for `chalice package` and `chalice deploy`.
# - the dashboard: static/ is the single source; vendor/static links to it and chalice copies vendor/
#   to the archive's root, where chalicelib/dashboard.py looks (a checkout without symlinks is refused);
# - the stage's environment is exported while chalice imports app.py, so the schedule's rate and the
#   settings checks (prod refuses open auth) see what the deployed functions will see;
# - no chalicelib/__pycache__ in the archive (this machine's bytecode is dead weight in Lambda, and it would
#   make every archive different, so a re-run with nothing changed would not be a no-op);
# - `aws` is the AWS CLI pinned in requirements-dev.txt (.venv/bin/aws), whatever else is on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-.venv/bin/python}
CHALICE=${CHALICE:-$(dirname "$PY")/chalice}
AWS_CLI=${AWS_CLI:-$(dirname "$PY")/aws}
APP=ev-charging

aws() { "$AWS_CLI" "$@"; }

# The region: the environment's, else the profile's (`aws configure get region`); never a silent default.
use_region() {
    local region=${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region || true)}}
    if [ -z "$region" ]; then
        echo "no AWS region: set AWS_REGION or 'aws configure set region eu-west-1'" >&2
        exit 2
    fi
    export AWS_DEFAULT_REGION=$region AWS_REGION=$region
}

check_stage() {
    case "$1" in dev|prod) ;; *) echo "stage must be dev or prod, got '$1'" >&2; exit 2 ;; esac
}

prepare() {
    local stage=$1
    check_stage "$stage"
    if [ ! -L vendor/static ] || [ ! -f vendor/static/index.html ]; then
        echo "vendor/static must be a symlink to ../static (ln -sfn ../static vendor/static)" >&2
        exit 1
    fi
    eval "$("$PY" deploy/templates.py stage-env "$stage")"
    use_region  # chalice wants a region even to package (the template itself names none)
    find chalicelib -name __pycache__ -type d -prune -exec rm -rf {} +
    export PYTHONDONTWRITEBYTECODE=1  # chalice imports app.py before it zips chalicelib/: the same archive every run
}

# API Gateway's CloudWatch role is one setting per account and region, shared by every stage and every
# other API there: set it once (its own stack) when nothing has set it, and never change an existing one.
ensure_api_gateway_logging_role() {
    local role
    role=$(aws apigateway get-account --query cloudwatchRoleArn --output text)
    if [ -n "$role" ] && [ "$role" != "None" ]; then
        echo "API Gateway's CloudWatch role in $AWS_DEFAULT_REGION is already set ($role): left as it is"
        return
    fi
    aws cloudformation deploy --template-file deploy/api-gateway-account.json --stack-name "$APP-api-gateway-account" \
        --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset
    echo "set API Gateway's CloudWatch role in $AWS_DEFAULT_REGION" \
        "(stack $APP-api-gateway-account, shared by every stage: no stage deletes it)"
}

# The gateway image's tag: a hash of what goes into it (Dockerfile), so the same code is the same image.
gateway_image_tag() {
    cat Dockerfile requirements.txt requirements-gateway.txt $(find chalicelib -name '*.py' | sort) \
        | sha256sum | cut -c1-16
}

# The demo fleet's first tick now, not at the schedule's first period.
start_demo_fleet() {
    local function=$1
    aws lambda invoke --function-name "$function" --invocation-type Event --payload '{}' /dev/null > /dev/null
    echo "started the demo fleet: invoked $function once (then every ${SIMULATOR_SCHEDULE_MINUTES} minutes)"
}
