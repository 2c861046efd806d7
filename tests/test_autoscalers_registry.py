"""The kinds of autoscaler are listed once (controller/autoscalers/__init__.py's ALL): --help,
the start-up words, the tick's line and JSON, the metrics, the threads of a tick, the carrying
out of steps and the template's policies follow each kind's own declaration."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import autoscalers, report, settings
from controller.act import DONE, Actor
from controller.autoscalers import dynamodb
from controller.autoscalers.autoscaler import AnyStep, Autoscaler
from controller.autoscalers.ecs import SetDesiredCount, parse_service
from controller.config import Config, dimensions, load
from controller.decide import Decision, Observed, Verb
from controller.http.metrics import Metrics
from controller.loop import workers
from controller.runtime import emf
from tests.support.fake_runner import service_doc
from tests.test_config import env

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class SetReservedConcurrency:
    """A step of the made-up kind below."""

    count: int


class Functions:
    """A made-up kind of autoscaler (Lambda functions' reserved concurrency), declared as a
    module would: what it saw, and the calls its steps made."""

    def __init__(self) -> None:
        self.seen: int | None = 5  # the reserved concurrency read; None: could not be read
        self.calls: list[tuple[str, int]] = []

    def apply(self, run: object, config: Config, step: AnyStep) -> bool:
        if not isinstance(step, SetReservedConcurrency):
            return False
        self.calls.append(("put-function-concurrency", step.count))
        return True

    def held(self, config: Config, seen: Observed, steps: Sequence[AnyStep]) -> dict[str, bool]:
        if self.seen is None:
            return {}
        count = self.seen
        for step in steps:
            if isinstance(step, SetReservedConcurrency):
                count = step.count
        return {"lambda:fn-": count == 0}

    def declaration(self) -> Autoscaler:
        return Autoscaler(
            name="lambda",
            mode="Lambda mode (functions' reserved concurrency)",
            settings=(("LAMBDA_FUNCTION_PREFIX", "unset", "functions whose name starts so"),),
            policy="iam-policy-lambda.json",
            condition="LambdaMode",
            on=lambda config: True,
            pausing=lambda config: "the functions 'fn-'...",
            dimensions=lambda config: {"LambdaFunctionPrefix": "fn-"},
            part=lambda seen: self.seen,
            shown=lambda config, seen: f"functions fn-*: reserved={self.seen}",
            field=lambda config, seen: ("functions", {"prefix": "fn-", "reserved": self.seen}),
            held=self.held,
            known=lambda config: ["lambda:fn-"],
            apply=self.apply,
            measured=lambda config, seen, steps: {"ReservedConcurrency": float(self.seen or 0)},
            units=(("ReservedConcurrency", "Count"),),
            fans_out=True,
        )


@pytest.fixture
def functions(monkeypatch: pytest.MonkeyPatch) -> Functions:
    kind = Functions()
    monkeypatch.setattr(autoscalers, "ALL", (*autoscalers.ALL, kind.declaration()))
    return kind


def ecs_only() -> Config:
    return load([], env())


def service(desired: int) -> Observed:
    return Observed(backups=[], service=parse_service(service_doc(desired)))


def test_help_lists_each_kinds_settings_in_its_own_group_in_the_order_of_the_list() -> None:
    groups = [group for group, _ in settings.GROUPS]
    listed = [group for group in groups if group in {kind.mode for kind in autoscalers.ALL}]

    assert listed == [kind.mode for kind in autoscalers.ALL]
    for kind in autoscalers.ALL:
        assert dict(settings.GROUPS)[kind.mode] == kind.settings
        shown = settings.help_text().split(f"  {kind.mode}:\n", 1)[1]
        for name, default, what in kind.settings:
            assert re.search(
                rf"^    {name} +{re.escape(what)} \(default: {default}\)$", shown, re.M
            )


def test_a_kind_in_the_list_is_in_the_tick_line_and_the_json(functions: Functions) -> None:
    config = ecs_only()
    seen = service(2)

    line = report.line(config, seen, [])
    fields = report.fields(config, seen, [], ok=True)

    assert line.endswith(
        "| service autoscaling/dynamodb-autoscaler: desired=2 running=2 pending=0 status=ACTIVE | "
        "functions fn-*: reserved=5 | action: no change"
    )
    assert fields["functions"] == {"prefix": "fn-", "reserved": 5}
    assert fields["service"]["desired"] == 2


def test_a_kind_that_could_not_be_read_fails_the_tick_and_leaves_paused_unknown(
    functions: Functions,
) -> None:
    config = ecs_only()
    functions.seen = None

    assert [kind.name for kind in autoscalers.unread(config, service(2))] == ["lambda"]
    assert "Paused" not in emf.values(config, service(2), [], ok=False, seconds=1.0)
    functions.seen = 5
    assert autoscalers.unread(config, service(2)) == []


def test_the_paused_gauge_starts_each_known_label_at_zero_and_follows_the_steps_done(
    functions: Functions,
) -> None:
    config = ecs_only()
    metrics = Metrics(config)

    def paused() -> dict[str, float]:
        return {
            sample.labels["autoscaler"]: sample.value
            for family in text_string_to_metric_families(metrics.exposition().decode())
            for sample in family.samples
            if sample.name.endswith("_paused")
        }

    assert paused() == {
        "circuit-breaker": 0,
        "ecs:autoscaling/dynamodb-autoscaler": 0,
        "lambda:fn-": 0,
    }
    steps = (SetDesiredCount(0), SetReservedConcurrency(0))
    done = [(Decision(Verb.PAUSE, "backup active", "both", steps), DONE)]
    metrics.tick(service(2), done, ok=True, seconds=1.0, breaker=False)

    assert paused() == {
        "circuit-breaker": 0,
        "ecs:autoscaling/dynamodb-autoscaler": 1,
        "lambda:fn-": 1,
    }


def test_its_own_cloudwatch_metrics_and_dimensions_join_the_tick(functions: Functions) -> None:
    config = ecs_only()

    measured = emf.values(config, service(2), [], ok=True, seconds=1.0)

    assert measured["ReservedConcurrency"] == 5
    assert dimensions(config) == {
        "AutoscalerService": "autoscaling/dynamodb-autoscaler",
        "LambdaFunctionPrefix": "fn-",
    }
    block = emf.block(config, service(2), [], True, seconds=1.0, at=datetime.now(timezone.utc))
    (directive,) = block["_aws"]["CloudWatchMetrics"]
    assert {"Name": "ReservedConcurrency", "Unit": "Count"} in directive["Metrics"]
    assert block["ReservedConcurrency"] == 5


def test_a_kind_that_fans_out_gets_the_threads_for_its_calls(functions: Functions) -> None:
    config = ecs_only()

    # EMR, the service and the functions: one thread each, and MAX_CONCURRENT_CALLS (8) for
    # the functions' one call per item.
    assert workers(config, 8) == 3 + 8


def test_its_steps_are_carried_out_by_its_own_apply(functions: Functions) -> None:
    config = ecs_only()
    actor = Actor(config, lambda args, mutating=False: {}, threading.Event())

    actor.apply(SetReservedConcurrency(0))

    assert functions.calls == [("put-function-concurrency", 0)]
    with pytest.raises(TypeError, match="no kind of autoscaler carries out"):
        actor.apply(object())  # type: ignore[arg-type]


def test_config_is_in_circuit_breaker_mode_only_when_no_kind_is_on() -> None:
    ecs = ecs_only()
    breaker_only = load(
        [],
        env(
            AUTOSCALER_CLUSTER=None,
            AUTOSCALER_REGION=None,
            AUTOSCALER_SERVICE=None,
            HTTP_PORT="9100",
        ),
    )

    assert [kind.name for kind in autoscalers.configured(ecs)] == ["ecs"]
    assert not ecs.breaker_only
    assert autoscalers.configured(breaker_only) == []
    assert breaker_only.breaker_only


def test_the_template_attaches_each_kinds_policy_under_its_condition() -> None:
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


def test_contributing_shows_dynamodbs_declaration_as_it_stands() -> None:
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    module = (ROOT / "controller" / "autoscalers" / "dynamodb.py").read_text()
    declaration = module[module.index("AUTOSCALER = Autoscaler(") :]
    declaration = declaration[: declaration.index("\n)\n") + 3]

    assert f"```python\n{declaration}```" in contributing
    assert dynamodb.AUTOSCALER in autoscalers.ALL


def test_settings_list_nothing_a_kind_does_not_declare() -> None:
    declared = {name for kind in autoscalers.ALL for name, _, _ in kind.settings}

    assert {"AUTOSCALER_SERVICE", "DYNAMODB_TABLE_PREFIX"} <= declared
    assert declared <= set(settings.NAMES)
