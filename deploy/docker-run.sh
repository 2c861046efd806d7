#!/usr/bin/env bash
# Start the controller as a long-lived container, as the original image was run, restarted by
# Docker after a crash or a reboot but not after `docker stop`. Settings come from this
# script's environment; unset optional ones are not passed. On EC2 give the instance a role
# (deploy/iam-policy.json) instead of keys. Arguments go to the controller:
#   EMR_PREFIX=dynamodb-backup- EMR_REGION=us-east-1 AUTOSCALER_CLUSTER=autoscaling \
#   AUTOSCALER_REGION=us-east-1 AUTOSCALER_SERVICE=dynamodb-autoscaler deploy/docker-run.sh
# With HTTP_PORT set the port is published on the host's loopback only (PUBLISH=ADDRESS:PORT
# to choose another host address and port): /circuit-breaker is not for the whole network.
set -euo pipefail

# The version lives in controller/__init__.py alone; a copy of this script outside the
# repository needs IMAGE.
VERSION_FILE="$(dirname "$0")/../controller/__init__.py"
if [ -z "${IMAGE:-}" ]; then
    version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$VERSION_FILE" 2>/dev/null || true)
    IMAGE=dynamodb-autoscaler-control:${version:?IMAGE is required (no $VERSION_FILE to read the version from)}
fi
NAME=${NAME:-dynamodb-autoscaler-control}
# Every setting the controller reads that belongs in a deployment (not AWS_CLI,
# AWS_ENDPOINT_URL or HEARTBEAT_FILE, which the image fixes), and the CLI's credentials.
SETTINGS=(
    EMR_PREFIX EMR_REGION EMR_STATES MAX_BACKUP_AGE MAX_FAN_OUT
    GLUE_JOB_PREFIX EMR_EKS_JOB_PREFIX EMR_SERVERLESS_JOB_PREFIX
    AUTOSCALER_CLUSTER AUTOSCALER_REGION AUTOSCALER_SERVICE
    DYNAMODB_TABLE_PREFIX DYNAMODB_REGION PAUSE_SCOPE
    RESUME_COUNT RESUME_COUNT_MAX RESUME_DELAY
    POLL_INTERVAL DRY_RUN DEBUG_OUTPUT CALL_TIMEOUT CALL_ATTEMPTS MAX_CONCURRENT_CALLS
    LOG_FORMAT LOG_LEVEL HTTP_PORT HTTP_ADDRESS CLOUDWATCH_NAMESPACE
    AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
)

# Checked here too: with --restart a bad configuration would otherwise restart in a loop.
: "${EMR_REGION:?is required}"
if [ -z "${EMR_PREFIX:-}${GLUE_JOB_PREFIX:-}${EMR_EKS_JOB_PREFIX:-}${EMR_SERVERLESS_JOB_PREFIX:-}" ]; then
    echo "$0: one of EMR_PREFIX, GLUE_JOB_PREFIX, EMR_EKS_JOB_PREFIX, EMR_SERVERLESS_JOB_PREFIX is required" >&2
    exit 2
fi
# The ECS autoscaler's settings may be left out only in native mode (DYNAMODB_TABLE_PREFIX)
# or when only the circuit breaker (HTTP_PORT) is wanted; half of them is always a mistake.
if [ -n "${AUTOSCALER_CLUSTER:-}${AUTOSCALER_REGION:-}${AUTOSCALER_SERVICE:-}" ] ||
    [ -z "${DYNAMODB_TABLE_PREFIX:-}${HTTP_PORT:-}" ]; then
    : "${AUTOSCALER_CLUSTER:?is required unless DYNAMODB_TABLE_PREFIX or HTTP_PORT is set}"
    : "${AUTOSCALER_REGION:?is required unless DYNAMODB_TABLE_PREFIX or HTTP_PORT is set}"
    : "${AUTOSCALER_SERVICE:?is required unless DYNAMODB_TABLE_PREFIX or HTTP_PORT is set}"
fi

args=()
for name in "${SETTINGS[@]}"; do
    # By name only: docker takes the value from this environment, and a value never shows
    # on a command line (`ps`).
    if [ -n "${!name:-}" ]; then args+=(--env "$name"); fi
done
if [ -n "${HTTP_PORT:-}" ]; then
    args+=(--publish "${PUBLISH:-127.0.0.1:$HTTP_PORT}:$HTTP_PORT")
fi

# --stop-timeout: `docker stop` waits this long before SIGKILL. The controller exits at once
# on SIGTERM, except that it lets an update-service in flight finish (at most CALL_TIMEOUT,
# 30 s by default).
exec docker run --detach --name "$NAME" --restart unless-stopped --stop-timeout 40 \
    "${args[@]}" "$IMAGE" "$@"
