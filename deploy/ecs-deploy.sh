#!/usr/bin/env bash
# First deployment on ECS Fargate: the task role (ecs-task-role-trust-policy.json, with
# iam-policy.json as its permissions), the log group, the task definition and a service that
# keeps one task running. Edit the account, region, image and settings in
# ecs-task-definition.json and ecs-task-role-trust-policy.json first, then:
#   CLUSTER=my-cluster SUBNETS=subnet-0a,subnet-0b SECURITY_GROUPS=sg-0c deploy/ecs-deploy.sh
# The subnets need a route to the AWS APIs and the image registry (a NAT gateway or VPC
# endpoints), or set ASSIGN_PUBLIC_IP=ENABLED in a public subnet.
set -euo pipefail
cd "$(dirname "$0")"
export AWS_PAGER=""  # the CLI v2 would page each answer

: "${CLUSTER:?is required: the ECS cluster to run in}"
: "${SUBNETS:?is required: comma-separated subnet ids}"
: "${SECURITY_GROUPS:?is required: comma-separated security group ids (outbound HTTPS)}"
REGION=${REGION:-us-east-1}
ASSIGN_PUBLIC_IP=${ASSIGN_PUBLIC_IP:-DISABLED}
NAME=dynamodb-autoscaler-control

# IAM is global, but the CLI still wants a region for it.
aws iam create-role --role-name "$NAME" --region "$REGION" \
    --assume-role-policy-document file://ecs-task-role-trust-policy.json
aws iam put-role-policy --role-name "$NAME" --policy-name "$NAME" --region "$REGION" \
    --policy-document file://iam-policy.json
aws logs create-log-group --log-group-name "/ecs/$NAME" --region "$REGION"
aws ecs register-task-definition --cli-input-json file://ecs-task-definition.json \
    --region "$REGION"
# One task, never two: a new deployment stops the old task before starting the new one.
aws ecs create-service --cluster "$CLUSTER" --service-name "$NAME" --task-definition "$NAME" \
    --desired-count 1 --launch-type FARGATE \
    --deployment-configuration maximumPercent=100,minimumHealthyPercent=0 \
    --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUPS],assignPublicIp=$ASSIGN_PUBLIC_IP}" \
    --region "$REGION"
