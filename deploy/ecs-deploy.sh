#!/usr/bin/env bash
# First deployment on ECS Fargate: the task role (trusted by ECS tasks of this account only,
# with the IAM policies the configured sources and modes need), the log group, the task
# definition and a service that keeps one task running. Everything comes from the
# environment; nothing in deploy/ needs editing:
#   CLUSTER=my-cluster SUBNETS=subnet-0a,subnet-0b SECURITY_GROUPS=sg-0c REGION=us-east-1 \
#   IMAGE=123456789012.dkr.ecr.us-east-1.amazonaws.com/dynamodb-autoscaler-control:1.0.0 \
#   EMR_PREFIX=dynamodb-backup- EMR_REGION=us-east-1 AUTOSCALER_CLUSTER=autoscaling \
#   AUTOSCALER_REGION=us-east-1 AUTOSCALER_SERVICE=dynamodb-autoscaler deploy/ecs-deploy.sh
# The controller's optional settings (SETTINGS below) go into the task definition when set.
# The subnets need a route to the AWS APIs and the image registry (a NAT gateway or VPC
# endpoints), or set ASSIGN_PUBLIC_IP=ENABLED in a public subnet.
set -euo pipefail
if ((BASH_VERSINFO[0] * 100 + BASH_VERSINFO[1] < 404)); then
    echo "ecs-deploy.sh: needs bash 4.4 or newer (macOS: brew install bash)" >&2
    exit 2
fi
shopt -s inherit_errexit                          # a failure inside $(...) stops the script
shopt -u patsub_replacement 2>/dev/null || true # bash 5.2: `&` in a replacement is literal
cd "$(dirname "$0")"
export AWS_PAGER="" # the CLI v2 would page each answer

NAME=dynamodb-autoscaler-control
# Every setting the controller reads that belongs in a deployment (not AWS_CLI,
# AWS_ENDPOINT_URL or HEARTBEAT_FILE, which the image fixes).
SETTINGS=(
    EMR_PREFIX EMR_REGION EMR_STATES MAX_BACKUP_AGE MAX_FAN_OUT
    GLUE_JOB_PREFIX EMR_EKS_JOB_PREFIX EMR_SERVERLESS_JOB_PREFIX
    AUTOSCALER_CLUSTER AUTOSCALER_REGION AUTOSCALER_SERVICE
    DYNAMODB_TABLE_PREFIX DYNAMODB_REGION
    RESUME_COUNT RESUME_COUNT_MAX RESUME_DELAY
    POLL_INTERVAL DRY_RUN DEBUG_OUTPUT CALL_TIMEOUT CALL_ATTEMPTS MAX_CONCURRENT_CALLS LOG_FORMAT
    HTTP_PORT HTTP_ADDRESS
)
# What starts a pause: at least one is needed.
TRIGGERS=(EMR_PREFIX GLUE_JOB_PREFIX EMR_EKS_JOB_PREFIX EMR_SERVERLESS_JOB_PREFIX)
AUTOSCALER=(AUTOSCALER_CLUSTER AUTOSCALER_REGION AUTOSCALER_SERVICE)

is_set() { [ -n "${!1:-}" ]; }

missing=()
for name in CLUSTER SUBNETS SECURITY_GROUPS IMAGE REGION EMR_REGION; do
    is_set "$name" || missing+=("$name")
done
triggers=0
for name in "${TRIGGERS[@]}"; do
    if is_set "$name"; then triggers=$((triggers + 1)); fi
done
[ "$triggers" -gt 0 ] || missing+=("one of ${TRIGGERS[*]}")
ecs_mode=0
for name in "${AUTOSCALER[@]}"; do
    if is_set "$name"; then ecs_mode=1; fi
done
if [ "$ecs_mode" = 1 ]; then
    # Half an ECS configuration is always a mistake.
    for name in "${AUTOSCALER[@]}"; do
        is_set "$name" || missing+=("$name")
    done
elif ! is_set DYNAMODB_TABLE_PREFIX && ! is_set HTTP_PORT; then
    missing+=("${AUTOSCALER[*]} (ECS mode), or DYNAMODB_TABLE_PREFIX, or HTTP_PORT")
fi
if is_set HTTP_PORT && ! [[ $HTTP_PORT =~ ^[0-9]{1,5}$ ]]; then
    echo "ecs-deploy.sh: HTTP_PORT must be a port number: '$HTTP_PORT'" >&2
    exit 2
fi
if [ "${#missing[@]}" -gt 0 ]; then
    echo "ecs-deploy.sh: nothing was created; these must be set:" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
fi
ASSIGN_PUBLIC_IP=${ASSIGN_PUBLIC_IP:-DISABLED}
# The native policy's tables are in DYNAMODB_REGION, which defaults to EMR_REGION.
if is_set DYNAMODB_TABLE_PREFIX; then DYNAMODB_REGION=${DYNAMODB_REGION:-$EMR_REGION}; fi

ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text --region "$REGION")
# shellcheck disable=SC2034 # read by fill() through ${!name}, as the IAM policies name it
AWS_ACCOUNT_ID=$ACCOUNT_ID
EXECUTION_ROLE_ARN=${EXECUTION_ROLE_ARN:-arn:aws:iam::$ACCOUNT_ID:role/ecsTaskExecutionRole}

json_string() { # $1 as the inside of a JSON string
    local s=$1
    if [[ $s =~ [[:cntrl:]] ]]; then
        echo "ecs-deploy.sh: a control character in a value: ${s@Q}" >&2
        exit 2
    fi
    s=${s//\\/\\\\}
    printf '%s' "${s//\"/\\\"}"
}

fill() { # file $1 with each ${NAME} replaced by that variable's value; an unset one stops here
    local text out="" match name
    text=$(<"$1")
    while [[ $text =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
        match=${BASH_REMATCH[0]} name=${BASH_REMATCH[1]}
        if ! is_set "$name"; then
            echo "ecs-deploy.sh: $1 needs $name, which is not set" >&2
            exit 2
        fi
        # Left to right, never re-reading what was filled in: a value is only data.
        out+=${text%%"$match"*}$(json_string "${!name}")
        text=${text#*"$match"}
    done
    printf '%s%s\n' "$out" "$text"
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The policies of what is configured, each filled in and checked before anything is created.
policies=()
add_policy() { # $1: file, $2: inline policy name
    fill "$1" >"$work/$2.json"
    policies+=("$2")
}
if [ "$ecs_mode" = 1 ]; then
    add_policy iam-policy.json "$NAME" # includes the EMR query
elif is_set EMR_PREFIX; then
    add_policy iam-policy-emr.json "$NAME-emr"
fi
if is_set DYNAMODB_TABLE_PREFIX; then
    add_policy iam-policy-native-autoscaling.json "$NAME-native-autoscaling"
fi
for source in GLUE_JOB_PREFIX:glue EMR_EKS_JOB_PREFIX:emr-eks EMR_SERVERLESS_JOB_PREFIX:emr-serverless; do
    name=${source%%:*} file=iam-policy-${source#*:}.json
    if is_set "$name"; then
        if [ -f "$file" ]; then
            add_policy "$file" "$NAME-${source#*:}"
        else
            echo "ecs-deploy.sh: warning: $name is set but deploy/$file is missing;" \
                "the task role will not be allowed to read that source" >&2
        fi
    fi
done

environment=()
for name in "${SETTINGS[@]}"; do
    if is_set "$name"; then
        environment+=("{\"name\": \"$name\", \"value\": \"$(json_string "${!name}")\"}")
    fi
done
ports=""
if is_set HTTP_PORT; then
    ports="{\"containerPort\": $((10#$HTTP_PORT)), \"protocol\": \"tcp\"}"
fi
definition=$(fill ecs-task-definition.json)
joined=$(printf '%s, ' "${environment[@]}")
definition=${definition/'"environment": []'/"\"environment\": [${joined%, }]"}
definition=${definition/'"portMappings": []'/"\"portMappings\": [$ports]"}
printf '%s\n' "$definition" >"$work/task-definition.json"
fill ecs-task-role-trust-policy.json >"$work/trust-policy.json"

# IAM is global, but the CLI still wants a region for it.
aws iam create-role --role-name "$NAME" --region "$REGION" \
    --assume-role-policy-document "file://$work/trust-policy.json"
for policy in "${policies[@]}"; do
    aws iam put-role-policy --role-name "$NAME" --policy-name "$policy" --region "$REGION" \
        --policy-document "file://$work/$policy.json"
done
aws logs create-log-group --log-group-name "/ecs/$NAME" --region "$REGION"
aws ecs register-task-definition --cli-input-json "file://$work/task-definition.json" \
    --region "$REGION"
# One task, never two: a new deployment stops the old task before starting the new one
# (two controllers on one service would fight over its count).
aws ecs create-service --cluster "$CLUSTER" --service-name "$NAME" --task-definition "$NAME" \
    --desired-count 1 --launch-type FARGATE \
    --deployment-configuration maximumPercent=100,minimumHealthyPercent=0 \
    --network-configuration "awsvpcConfiguration={subnets=[$SUBNETS],securityGroups=[$SECURITY_GROUPS],assignPublicIp=$ASSIGN_PUBLIC_IP}" \
    --region "$REGION"
