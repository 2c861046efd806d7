"""A kind of autoscaler is one module and one line in controller/autoscalers/__init__.py's
ALL: a made-up kind (tests/support/lambda_kind.py) added there, and nowhere else, is paused
and resumed by a tick, released by --release, shown by a dry run, the log, /metrics and
CloudWatch, and its settings are in --help and checked with the others."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import autoscalers, config
from controller.config import Config, dimensions, load
from controller.http.metrics import Metrics
from controller.loop import Controller, workers
from controller.release import release
from controller.runtime import emf
from tests.support.fake_runner import FakeAws
from tests.support.lambda_kind import TAG, Functions
from tests.test_config import env, problems

ROOT = Path(__file__).resolve().parent.parent
ECS_OFF = {"AUTOSCALER_CLUSTER": None, "AUTOSCALER_REGION": None, "AUTOSCALER_SERVICE": None}


class Lambda(FakeAws):
    """The EMR and ECS answers of FakeAws, and a function's concurrency and tags."""

    def __init__(self, clusters: Sequence[str] = (), reserved: int = 5) -> None:
        super().__init__(clusters)
        self.reserved = reserved
        self.function_tags: dict[str, str] = {}

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        if args[0] != "lambda":
            return super().__call__(args, mutating=mutating)
        self.calls.append((list(args), mutating))
        if args[1] == "get-function-concurrency":
            return {"ReservedConcurrentExecutions": self.reserved}
        if args[1] == "list-tags":
            return {"Tags": dict(self.function_tags)}
        if args[1] == "put-function-concurrency":
            self.reserved = int(args[-1])
        elif args[1] == "tag-resource":
            self.function_tags.update(json.loads(args[args.index("--tags") + 1]))
        elif args[1] == "untag-resource":
            for key in args[args.index("--tag-keys") + 1 :]:
                self.function_tags.pop(key, None)
        return {}


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new kind takes: its class in the list of kinds."""
    monkeypatch.setattr(autoscalers, "ALL", (*autoscalers.ALL, Functions))


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def lambda_only() -> Config:
    return load([], env(**ECS_OFF, LAMBDA_FUNCTION="fn-orders"))


def test_its_settings_are_read_checked_and_listed_with_the_others(listed: None) -> None:
    found = lambda_only().autoscalers

    assert found == (Functions("fn-orders", "us-east-1"),)
    (problem,) = problems([], env(**ECS_OFF, LAMBDA_FUNCTION="-fn"))
    assert problem.startswith("LAMBDA_FUNCTION starts with '-'")
    help_text = config.help_text()
    assert "  Lambda mode (a function's reserved concurrency):\n" in help_text
    assert re.search(
        r"^    LAMBDA_FUNCTION +the function whose .* \(default: unset\)$", help_text, re.M
    )
    assert "LAMBDA_FUNCTION" in config.names()


def test_a_tick_pauses_it_and_a_later_one_resumes_it_from_its_record(
    listed: None, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    aws = Lambda(clusters=["dynamodb-backup-1"], reserved=5)
    controller = Controller(lambda_only(), aws, pool)

    with caplog.at_level(logging.INFO):
        assert controller.tick()
    assert aws.reserved == 0
    assert [int(v) for k, v in aws.function_tags.items() if k.startswith(TAG)] == [5]
    (line,) = [r.getMessage() for r in caplog.records if "action:" in r.getMessage()]
    assert "function fn-orders: reserved=5 | action: pause: reserved 5 -> 0" in line

    aws.clusters = []
    assert controller.tick()
    assert aws.reserved == 5


def test_release_gives_it_back_and_removes_its_record(listed: None) -> None:
    aws = Lambda(reserved=0)
    aws.function_tags = {f"{TAG}0000beef0000": "7"}

    assert release(lambda_only(), aws, threading.Event()) == 0
    assert (aws.reserved, aws.function_tags) == (7, {})


def test_a_dry_run_shows_its_pause_and_changes_nothing(
    listed: None, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    aws = Lambda(clusters=["dynamodb-backup-1"], reserved=5)

    with caplog.at_level(logging.INFO):
        assert Controller(replace(lambda_only(), dry_run=True), aws, pool).tick()

    assert (aws.reserved, aws.function_tags) == (5, {})
    (line,) = [r.getMessage() for r in caplog.records if "action:" in r.getMessage()]
    assert "pause: reserved 5 -> 0 (backup active; dry run, not applied)" in line


def test_metrics_and_cloudwatch_show_it(listed: None, pool: ThreadPoolExecutor) -> None:
    config = replace(lambda_only(), log_format="json", cloudwatch_namespace="Ops")
    metrics = Metrics(config)

    def paused() -> dict[str, float]:
        return {
            sample.labels["autoscaler"]: sample.value
            for family in text_string_to_metric_families(metrics.exposition().decode())
            for sample in family.samples
            if sample.name.endswith("_paused")
        }

    assert paused() == {"circuit-breaker": 0, "lambda:fn-orders": 0}
    controller = Controller(config, Lambda(clusters=["dynamodb-backup-1"]), pool)
    ticks: list[Any] = []
    controller.on_tick = lambda seen, done, ok, seconds: ticks.append((seen, done, ok, seconds))
    assert controller.tick()
    seen, done, ok, seconds = ticks[0]
    metrics.tick(seen, done, ok, seconds, breaker=False)

    assert paused() == {"circuit-breaker": 0, "lambda:fn-orders": 1}
    assert dimensions(config) == {"LambdaFunction": "fn-orders"}
    assert emf.values(config, seen, done, ok, seconds)["ReservedConcurrency"] == 0
    block = emf.block(config, seen, done, ok, seconds=seconds, at=seen.at)
    (directive,) = block["_aws"]["CloudWatchMetrics"]
    assert {"Name": "ReservedConcurrency", "Unit": "Count"} in directive["Metrics"]


def test_it_holds_a_thread_of_its_own_in_a_tick(listed: None) -> None:
    # EMR and the function: a thread each, then two for the changes.
    assert workers(lambda_only(), 8) == 2 + 2


def test_each_kind_declares_its_policy_and_the_template_attaches_it_under_its_condition() -> None:
    template = (ROOT / "deploy" / "cloudformation.yaml").read_text()

    for kind in autoscalers.ALL:
        resource = f"{kind.name.capitalize()}Policy"
        attached = re.search(
            rf"^  {resource}:\n    Type: AWS::IAM::Policy\n    Condition: {kind.condition}\n",
            template,
            re.M,
        )
        assert attached, f"{resource} is not attached under {kind.condition}"
        assert (ROOT / "deploy" / kind.policy).is_file()


def test_config_is_in_circuit_breaker_mode_only_when_no_kind_is_on() -> None:
    breaker_only = load([], env(**ECS_OFF, HTTP_PORT="9100"))

    assert [kind.name for kind in load([], env()).autoscalers] == ["ecs"]
    assert breaker_only.autoscalers == ()
    assert breaker_only.breaker_only
