"""CLOUDWATCH_NAMESPACE: the tick's JSON line is also CloudWatch embedded metric format (EMF).

Each line is checked against the structure of AWS's published EMF specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
SPEC below is that structure as a JSON schema, and `check` adds the rules a schema cannot say
(every reference names a member of the root node, of the right type).
"""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import jsonschema
import pytest

from controller.config import Config, ConfigError, load
from controller.loop import Controller
from controller.runtime import emf
from tests.conftest import Stack
from tests.support.fake_runner import CONFIG, FakeAws
from tests.support.moto import CLUSTER, PREFIX, SERVICE, executable
from tests.support.rule import observed
from tests.test_config import env
from tests.test_one_line import logged

NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)
_NAME = {"type": "string", "minLength": 1, "maxLength": 255}
# The units the specification lists (CloudWatch's StandardUnit).
UNITS = [
    *("Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes"),
    *("Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits"),
    *("Percent", "Count", "Count/Second", "None"),
    *(f"{size}/Second" for size in ("Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes")),
    *(f"{size}/Second" for size in ("Bits", "Kilobits", "Megabits", "Gigabits", "Terabits")),
]
SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "properties": {
                            "Namespace": _NAME,
                            "Dimensions": {
                                "type": "array",
                                "minItems": 1,
                                # A DimensionSet: at most 30 keys (9 in older versions of the
                                # specification; ours have at most 2), may be empty.
                                "items": {"type": "array", "maxItems": 9, "items": _NAME},
                            },
                            "Metrics": {
                                "type": "array",
                                "maxItems": 100,
                                "items": {
                                    "type": "object",
                                    "required": ["Name"],
                                    "properties": {"Name": _NAME, "Unit": {"enum": UNITS}},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def check(line: dict[str, Any]) -> None:
    """A valid EMF document: the schema, and every reference a member of the root node."""
    jsonschema.validate(line, SPEC)
    for directive in line["_aws"]["CloudWatchMetrics"]:
        for dimension in (d for dimensions in directive["Dimensions"] for d in dimensions):
            value = line[dimension]
            # CloudWatch's rule for a dimension value: ASCII, 1 to 1024 characters, not blank.
            assert isinstance(value, str) and value.isascii() and value.strip(), dimension
            assert len(value) <= 1024
        for metric in directive["Metrics"]:
            value = line[metric["Name"]]
            assert isinstance(value, (int, float)) and not isinstance(value, bool), metric


def ticks(stderr: str) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, stderr.splitlines()) if "action" in line]


def metrics(line: dict[str, Any]) -> dict[str, float]:
    (directive,) = line["_aws"]["CloudWatchMetrics"]
    return {m["Name"]: line[m["Name"]] for m in directive["Metrics"]}


def test_the_specifications_own_example_passes_the_check() -> None:
    example = {
        "_aws": {
            "Timestamp": 1574109732004,
            "CloudWatchMetrics": [
                {
                    "Namespace": "lambda-function-metrics",
                    "Dimensions": [["functionVersion"]],
                    "Metrics": [{"Name": "time", "Unit": "Milliseconds"}],
                }
            ],
        },
        "functionVersion": "$LATEST",
        "time": 100,
    }

    check(example)
    with pytest.raises(jsonschema.ValidationError):
        check({**example, "_aws": {"CloudWatchMetrics": []}})  # no Timestamp
    with pytest.raises(KeyError):
        check({k: v for k, v in example.items() if k != "time"})  # a metric not on the root


def tick_line(config: Config, aws: FakeAws) -> dict[str, Any]:
    with logged(json_lines=True) as (buffer, _), ThreadPoolExecutor(2) as pool:
        Controller(config, aws, pool).tick()
    (line,) = ticks(buffer.getvalue())
    return line


def test_a_pause_shows_in_the_metrics_of_the_same_tick() -> None:
    config = replace(CONFIG, log_format="json", cloudwatch_namespace="Ops")
    aws = FakeAws(clusters=[], desired=2)

    steady = tick_line(config, aws)
    aws.clusters = ["backup-1"]
    paused = tick_line(config, aws)

    for line in (steady, paused):
        check(line)
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Ops"
        assert directive["Dimensions"] == [["AutoscalerService"]]
        assert line["AutoscalerService"] == "c1/svc"
        assert abs(line["_aws"]["Timestamp"] / 1000 - time.time()) < 600
    assert metrics(steady) == {
        "Paused": 0,
        "TickOk": 1,
        "BackupsHolding": 0,
        "OldestBackupAge": 0,
        "StuckBackups": 0,
        "TickDuration": steady["TickDuration"],
    }
    assert (paused["Paused"], paused["BackupsHolding"], paused["action"]) == (1, 1, ["pause"])


def test_what_a_tick_cannot_know_is_left_out_not_sent_as_zero() -> None:
    config = replace(CONFIG, log_format="json", cloudwatch_namespace="Ops")
    blind = FakeAws(clusters=[], desired=0)
    blind.desired = "unreadable"  # type: ignore[assignment]  # describe-services unreadable

    line = tick_line(config, blind)

    check(line)
    assert "Paused" not in metrics(line)
    assert (line["TickOk"], line["ok"]) == (0, False)


def test_native_mode_names_the_table_prefix_and_counts_suspended_targets() -> None:
    config = load([], env(DYNAMODB_TABLE_PREFIX="orders-"))
    config = replace(config, cloudwatch_namespace="Ops")

    block = emf.block(config, observed((), targets=()), [], True, seconds=0.5, at=NOW)

    check(block)
    assert block["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["AutoscalerService", "DynamodbTablePrefix"]
    ]
    assert block["DynamodbTablePrefix"] == "orders-"
    assert block["SuspendedTargets"] == 0


def test_circuit_breaker_mode_has_an_empty_dimension_set_and_the_breakers_answer() -> None:
    config = load([], env(AUTOSCALER_CLUSTER=None, AUTOSCALER_SERVICE=None,
                          AUTOSCALER_REGION=None, HTTP_PORT="9102"))  # fmt: skip
    config = replace(config, cloudwatch_namespace="Ops")

    unknown = emf.block(config, observed((), unknown=("EMR",)), [], False, seconds=1, at=NOW)
    clear = emf.block(config, observed(()), [], True, seconds=1, at=NOW)

    check(unknown)
    assert unknown["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[]]
    assert (unknown["Paused"], clear["Paused"]) == (1, 0), "blind, the breaker says wait"
    assert "BackupsHolding" not in unknown


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"LOG_FORMAT": None}, "CLOUDWATCH_NAMESPACE is set but LOG_FORMAT is not json"),
        ({"CLOUDWATCH_NAMESPACE": "AWS/ECS"}, "must not start with 'AWS/'"),
        ({"CLOUDWATCH_NAMESPACE": "Ops\n"}, "must be printable ASCII text"),
        ({"CLOUDWATCH_NAMESPACE": "x" * 256}, "at most 255 characters"),
        ({"DYNAMODB_TABLE_PREFIX": "ordres-é"}, "DYNAMODB_TABLE_PREFIX must be ASCII"),
    ],
)
def test_a_namespace_cloudwatch_would_not_take_is_refused_at_start(
    changes: dict[str, str | None], problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load([], env(**{"LOG_FORMAT": "json", "CLOUDWATCH_NAMESPACE": "Ops", **changes}))

    assert any(problem in found for found in raised.value.problems), raised.value.problems


def test_with_text_logs_the_controller_refuses_to_start_naming_the_setting() -> None:
    result = subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--once"],
        env={**env(), "CLOUDWATCH_NAMESPACE": "Ops"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "CLOUDWATCH_NAMESPACE is set but LOG_FORMAT is not json" in result.stderr


def test_every_tick_line_against_moto_is_emf_and_its_values_follow_the_pause(
    stack: Stack,
) -> None:
    stack.service(desired=2)
    settings = {"LOG_FORMAT": "json", "CLOUDWATCH_NAMESPACE": "DynamoDBAutoscalerControl"}

    steady = stack.run("--once", **settings)
    stack.world.start_cluster(f"{PREFIX}nightly")
    pausing = stack.run("--once", **settings)
    held = stack.run("--once", **settings)

    lines = []
    for result in (steady, pausing, held):
        assert result.returncode == 0, result.stderr
        (line,) = ticks(result.stderr)
        check(line)
        assert line["AutoscalerService"] == f"{CLUSTER}/{SERVICE}"
        lines.append(line)
    assert [(line["Paused"], line["BackupsHolding"], line["action"]) for line in lines] == [
        (0, 0, []),
        (1, 1, ["pause"]),
        (1, 1, []),
    ]
    assert all(line["TickOk"] == 1 and line["StuckBackups"] == 0 for line in lines)
    assert 0 <= lines[2]["OldestBackupAge"] < 600
