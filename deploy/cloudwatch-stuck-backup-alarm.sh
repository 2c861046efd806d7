#!/usr/bin/env bash
# A CloudWatch alarm on the controller's ERROR lines about a stuck backup (one active for
# longer than MAX_BACKUP_AGE): a metric filter on its log group counts them, and the alarm
# fires on the first one. For a controller that writes its log to CloudWatch without the
# CloudFormation stack (deploy/cloudformation.yaml has this alarm already, on its metrics). A stuck backup is not a controller fault (a restart would not fix
# it), so the container's health check stays green: this alarm is how a person hears of it.
#   SNS_TOPIC_ARN=arn:aws:sns:us-east-1:123456789012:ops deploy/cloudwatch-stuck-backup-alarm.sh
# The pattern matches both LOG_FORMAT=text lines (`... ERROR   stuck backup: ...`) and
# LOG_FORMAT=json lines (`{"level": "ERROR", "message": "stuck backup: ...", ...}`).
# Needs logs:PutMetricFilter and cloudwatch:PutMetricAlarm; the controller needs neither.
set -euo pipefail
export AWS_PAGER=""  # the CLI v2 would page each answer

REGION=${REGION:-us-east-1}
NAME=dynamodb-autoscaler-control
LOG_GROUP=${LOG_GROUP:-/ecs/$NAME}  # where the awslogs driver writes, by convention
NAMESPACE=${NAMESPACE:-DynamoDBAutoscalerControl}
METRIC=StuckBackupErrors
# Without a topic the alarm still shows in the console and in `aws cloudwatch describe-alarms`.
actions=()
if [ -n "${SNS_TOPIC_ARN:-}" ]; then
    actions=(--alarm-actions "$SNS_TOPIC_ARN")
fi

aws logs put-metric-filter --region "$REGION" \
    --log-group-name "$LOG_GROUP" \
    --filter-name "$NAME-stuck-backup" \
    --filter-pattern '"ERROR" "stuck backup:"' \
    --metric-transformations \
    "metricName=$METRIC,metricNamespace=$NAMESPACE,metricValue=1,defaultValue=0"
# The controller logs the line on every tick while the backup stays stuck, so one 5-minute
# period with a line is enough, and the alarm clears by itself once the backup has ended.
aws cloudwatch put-metric-alarm --region "$REGION" \
    --alarm-name "$NAME-stuck-backup" \
    --alarm-description "A backup has run longer than MAX_BACKUP_AGE and no longer holds the pause: end it, or raise MAX_BACKUP_AGE (see the controller's log)" \
    --namespace "$NAMESPACE" --metric-name "$METRIC" \
    --statistic Sum --period 300 --evaluation-periods 1 \
    --threshold 1 --comparison-operator GreaterThanOrEqualToThreshold \
    --treat-missing-data notBreaching \
    "${actions[@]}"
