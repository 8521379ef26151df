#!/usr/bin/env bash
# The OCPP WebSocket gateway in the cloud: build the image (Dockerfile), push it to ECR, deploy path 1's stack
# with it (ECS Fargate behind a network load balancer, wss:// on 443 with your ACM certificate).
#   deploy/gateway.sh STAGE CERTIFICATE_ARN [VPC_ID SUBNET_ID,SUBNET_ID]   (default: the default VPC's subnets)
# The image tag is a hash of what goes into it: a re-run with nothing changed pushes and deploys nothing new.
source "$(dirname "$0")/common.sh"
STAGE=${1:?usage: deploy/gateway.sh STAGE CERTIFICATE_ARN [VPC_ID SUBNET_IDS]}
CERTIFICATE=${2:?a certificate is required: chargers connect with wss:// (ACM certificate ARN in this region)}
check_stage "$STAGE"
use_region
ACCOUNT=$(aws sts get-caller-identity --query Account --output text)
REPOSITORY=$APP-ocpp-gateway
if ! aws ecr describe-repositories --repository-names "$REPOSITORY" > /dev/null 2>&1; then
    aws ecr create-repository --repository-name "$REPOSITORY" --image-scanning-configuration scanOnPush=true \
        --image-tag-mutability IMMUTABLE > /dev/null
    echo "created the ECR repository $REPOSITORY"
fi
TAG=$(gateway_image_tag)
REGISTRY=$ACCOUNT.dkr.ecr.$AWS_DEFAULT_REGION.amazonaws.com
IMAGE=$REGISTRY/$REPOSITORY:$TAG
if aws ecr describe-images --repository-name "$REPOSITORY" --image-ids "imageTag=$TAG" > /dev/null 2>&1; then
    echo "image $IMAGE is already in ECR"
else
    docker build --tag "$IMAGE" .
    aws ecr get-login-password | docker login --username AWS --password-stdin "$REGISTRY"
    docker push "$IMAGE"
fi
VPC=${3:-$(aws ec2 describe-vpcs --filters Name=isDefault,Values=true --query 'Vpcs[0].VpcId' --output text)}
SUBNETS=${4:-$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$VPC" Name=default-for-az,Values=true \
    --query 'Subnets[].SubnetId' --output text | tr '\t' ',')}
CIDR=$(aws ec2 describe-vpcs --vpc-ids "$VPC" --query 'Vpcs[0].CidrBlock' --output text)
echo "gateway: $IMAGE in $VPC ($CIDR), subnets $SUBNETS"
deploy/stack.sh "$STAGE" "GatewayImage=$IMAGE" "GatewayCertificateArn=$CERTIFICATE" "GatewayVpcId=$VPC" \
    "GatewaySubnetIds=$SUBNETS" "GatewayVpcCidr=$CIDR"
