#!/usr/bin/env bash
# Start the controller as a long-lived container, as the original image was run, restarted by
# Docker after a crash or a reboot but not after `docker stop`. Settings come from this
# script's environment; unset optional ones are not passed. On EC2 give the instance a role
# (deploy/iam-policy.json) instead of keys. Arguments go to the controller:
#   EMR_PREFIX=dynamodb-backup- EMR_REGION=us-east-1 AUTOSCALER_CLUSTER=autoscaling \
#   AUTOSCALER_REGION=us-east-1 AUTOSCALER_SERVICE=dynamodb-autoscaler deploy/docker-run.sh
set -euo pipefail

IMAGE=${IMAGE:-dynamodb-autoscaler-control:1.0.0}
NAME=${NAME:-dynamodb-autoscaler-control}
# Checked here too: with --restart a bad configuration would otherwise restart in a loop.
: "${EMR_PREFIX:?is required}" "${EMR_REGION:?is required}"
# The ECS autoscaler's settings may be left out only in native mode (DYNAMODB_TABLE_PREFIX).
if [ -z "${DYNAMODB_TABLE_PREFIX:-}" ]; then
    : "${AUTOSCALER_CLUSTER:?is required unless DYNAMODB_TABLE_PREFIX is set}"
    : "${AUTOSCALER_REGION:?is required unless DYNAMODB_TABLE_PREFIX is set}"
    : "${AUTOSCALER_SERVICE:?is required unless DYNAMODB_TABLE_PREFIX is set}"
fi

# --stop-timeout: `docker stop` waits this long before SIGKILL. The controller exits at once
# on SIGTERM, except that it lets an update-service in flight finish (at most CALL_TIMEOUT,
# 30 s by default).
exec docker run --detach --name "$NAME" --restart unless-stopped --stop-timeout 40 \
    --env EMR_PREFIX --env EMR_REGION \
    --env AUTOSCALER_CLUSTER --env AUTOSCALER_REGION --env AUTOSCALER_SERVICE \
    --env POLL_INTERVAL --env DRY_RUN --env DEBUG_OUTPUT \
    --env CALL_TIMEOUT --env CALL_ATTEMPTS \
    --env DYNAMODB_TABLE_PREFIX --env DYNAMODB_REGION \
    --env RESUME_COUNT --env RESUME_DELAY --env LOG_FORMAT \
    --env AWS_ACCESS_KEY_ID --env AWS_SECRET_ACCESS_KEY --env AWS_SESSION_TOKEN \
    "$IMAGE" "$@"
