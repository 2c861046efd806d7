"""deploy/'s Prometheus and CloudWatch examples: read as their tools read them, checked against
the metrics the controller really exports, and the alarm recipe run against moto."""

from __future__ import annotations

import json
import re
import subprocess

import boto3
import yaml

from controller.autoscalers.ecs import Ecs
from controller.config import Config
from controller.http.metrics import Metrics
from controller.sources.emr import Emr
from tests.conftest import Stack
from tests.support.image import ROOT
from tests.support.moto import REGION

DEPLOY = ROOT / "deploy"
ALARM = DEPLOY / "cloudwatch-stuck-backup-alarm.sh"
CONFIG = Config(REGION, (Emr("backup-", REGION),), (Ecs("c1", REGION, "svc"),), http_port=9102)


def exported() -> set[str]:
    text = Metrics(CONFIG).exposition().decode()
    return {line.split("{")[0].split()[0] for line in text.splitlines() if line[:1] != "#"}


def test_the_scrape_reads_metrics_on_the_documented_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus-scrape.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    (target,) = job["static_configs"][0]["targets"]
    assert target.endswith(":9102")
    assert "HTTP_PORT=9102" in (ROOT / "docs" / "metrics.md").read_text()


def test_every_alert_rule_uses_a_metric_the_controller_exports() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus-rules.yml").read_text())
    (group,) = rules["groups"]
    names = exported()
    used = set()
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        used.update(re.findall(r"dynamodb_autoscaler_control_\w+", rule["expr"]))
    assert used
    assert used <= names, used - names


def test_the_alarm_recipe_creates_a_filter_and_an_alarm(stack: Stack) -> None:
    logs = boto3.client(
        "logs",
        region_name=REGION,
        endpoint_url=stack.server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    logs.create_log_group(logGroupName="/ecs/dynamodb-autoscaler-control")
    topic = "arn:aws:sns:us-east-1:123456789012:ops"

    done = subprocess.run(
        ["bash", str(ALARM)],
        env={**stack.env, "SNS_TOPIC_ARN": topic},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    (found,) = logs.describe_metric_filters(logGroupName="/ecs/dynamodb-autoscaler-control")[
        "metricFilters"
    ]
    assert found["filterPattern"] == '"ERROR" "stuck backup:"'
    (transformation,) = found["metricTransformations"]
    cloudwatch = boto3.client(
        "cloudwatch",
        region_name=REGION,
        endpoint_url=stack.server.url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    (alarm,) = cloudwatch.describe_alarms(AlarmNamePrefix="dynamodb-autoscaler-control")[
        "MetricAlarms"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["metricNamespace"],
        transformation["metricName"],
    )
    assert alarm["AlarmActions"] == [topic]
    assert json.dumps(alarm["Threshold"]) == "1.0"
