"""The records of a pause, without AWS: a record is data, not an order (RESUME_COUNT_MAX,
ASCII digits only), and a record that cannot be written never stops a pause."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.act import Actor, Status
from controller.autoscalers.dynamodb import ALL, RecordSuspended, SetSuspended, Target
from controller.autoscalers.ecs import (
    PAUSED_COUNT_TAG,
    Ecs,
    ForgetPausedCount,
    RecordPausedCount,
    Service,
    SetDesiredCount,
    recorded_count,
)
from controller.aws import AwsError
from controller.config import Config, ConfigError, load
from controller.decide import Decision, Observed, Verb
from controller.sources.backup import Backup
from tests.support.rule import Policy, decide, observed
from tests.test_config import env

ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
BACKUP = (Backup(kind="EMR cluster", id="j-1", name="dynamodb-backup-1", state="RUNNING"),)


FORGET = ForgetPausedCount(ARN, (PAUSED_COUNT_TAG,))


def paused(tag: str | None) -> Service:
    """Paused, with a record under the key a person (or version 1.0) writes by hand."""
    return Service(
        ARN, "svc", "ACTIVE", 0, 0, 0, records={} if tag is None else {PAUSED_COUNT_TAG: tag}
    )


def settled(service: Service, backups: tuple[Backup, ...] = ()) -> Observed:
    """The service's records seen long enough to be removed."""
    keys = frozenset((service.arn, key) for key in service.records)
    return observed(backups, service=service, settled=keys, pause_id="0000beef0000")


# --- a record is data, not an order ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("3", 3),
        ("10", 10),
        ("11", None),  # above the default RESUME_COUNT_MAX
        ("999999", None),
        ("0", None),
        ("007", 7),
        ("\u0661\u0662", None),  # Arabic-Indic "12": str.isdigit() says yes
        ("\u00b2", None),  # superscript two: isdigit() yes, int() raises
        ("\uff13", None),  # fullwidth 3: int() takes it
        (" 3", None),
        ("3\n", None),
        ("+3", None),
        ("3.0", None),
        ("1" * 5000, None),  # beyond Python's int() digit limit
        ("", None),
        (None, None),
    ],
)
def test_a_count_is_ascii_digits_within_the_maximum(tag: str | None, expected: int | None) -> None:
    assert recorded_count(tag) == expected


@given(st.text(), st.integers(min_value=1, max_value=5000))
def test_any_tag_yields_a_trusted_count_or_none(tag: str, maximum: int) -> None:
    count = recorded_count(tag, maximum)

    assert count is None or (
        1 <= count <= maximum and tag.isascii() and str(count) == tag.lstrip("0")
    )


@given(st.integers(min_value=1, max_value=5000))
def test_every_count_the_controller_writes_is_read_back(count: int) -> None:
    assert recorded_count(str(count), 5000) == count


@pytest.mark.parametrize("tag", ["999999", "\u0661\u0662", "\u00b2", "11"])
def test_an_untrusted_record_resumes_to_resume_count_with_an_alarm(tag: str) -> None:
    plan = decide(settled(paused(tag)), Policy(resume_count=2))

    (decision,) = plan.decisions
    assert decision.verb is Verb.RESUME
    assert decision.steps == (SetDesiredCount(2), FORGET)
    assert repr(tag) in decision.alarm
    assert "RESUME_COUNT_MAX=10" in decision.alarm and "RESUME_COUNT=2" in decision.alarm


def test_resume_count_max_is_the_bound_for_a_record() -> None:
    policy = Policy(resume_count=2, resume_count_max=500)

    (decision,) = decide(settled(paused("400")), policy).decisions

    assert decision.steps == (SetDesiredCount(400), FORGET)
    assert decision.alarm == ""


def test_resume_count_max_setting() -> None:
    def ecs(config: Config) -> Ecs:
        (kind,) = config.autoscalers
        assert isinstance(kind, Ecs)
        return kind

    assert ecs(load([], env())).resume_count_max == 10
    assert ecs(load([], env(RESUME_COUNT_MAX="5000", RESUME_COUNT="5000"))).resume_count_max == 5000


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"RESUME_COUNT": "11"}, "RESUME_COUNT (11) is above RESUME_COUNT_MAX (10)"),
        ({"RESUME_COUNT": "4", "RESUME_COUNT_MAX": "3"}, "RESUME_COUNT (4) is above"),
        ({"RESUME_COUNT_MAX": "5001"}, "RESUME_COUNT_MAX must be a whole number from 1 to 5000"),
        ({"RESUME_COUNT_MAX": "0"}, "RESUME_COUNT_MAX must be a whole number"),
        ({"RESUME_COUNT_MAX": "\u0661\u0660"}, "RESUME_COUNT_MAX must be a whole number"),
    ],
)
def test_bad_resume_count_max_is_a_configuration_error(
    changes: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load([], env(**changes))

    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_pausing_a_count_above_resume_count_max_says_so_at_once() -> None:
    busy = Service(ARN, "svc", "ACTIVE", 12, 12, 0)

    (decision,) = decide(settled(busy, BACKUP), Policy(resume_count=2)).decisions

    assert decision.verb is Verb.PAUSE
    key = f"{PAUSED_COUNT_TAG}:0000beef0000"
    assert decision.steps == (RecordPausedCount(ARN, key, 12), SetDesiredCount(0))
    assert "desired count 12 is above RESUME_COUNT_MAX=10" in decision.alarm
    assert "RESUME_COUNT=2" in decision.alarm
    (within,) = decide(observed(BACKUP, service=busy), Policy(resume_count_max=12)).decisions
    assert within.alarm == ""


# --- the pause never waits on the record ----------------------------------------------------


class Recorder:
    """A runner that fails the calls whose operation is in `fail` with `error`."""

    def __init__(self, fail: str, code: str, message: str) -> None:
        self.fail, self.code, self.message = fail, code, message
        self.calls: list[str] = []

    def __call__(self, args: list[str], mutating: bool = False) -> dict[str, Any]:
        operation = " ".join(args[:2])
        self.calls.append(operation)
        if operation == self.fail:
            raise AwsError(f"aws {operation}", self.code, self.message, retryable=False)
        if operation == "ecs update-service":
            return {
                "service": {
                    **SERVICE_DOC,
                    "desiredCount": int(args[args.index("--desired-count") + 1]),
                }
            }
        return {}


SERVICE_DOC = {
    "serviceArn": ARN,
    "serviceName": "svc",
    "status": "ACTIVE",
    "desiredCount": 0,
    "runningCount": 0,
    "pendingCount": 0,
}


def actor(runner: Recorder) -> Actor:
    return Actor(
        load([], env(RESUME_COUNT="2", DYNAMODB_TABLE_PREFIX="orders")), runner, threading.Event()
    )


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/c is not authorized to perform: ecs:TagResource",
            "add ecs:TagResource and ecs:UntagResource on the service to the controller's IAM",
        ),
        (
            "InvalidParameterException",
            "Long arn format must be used for tagging operations",
            "serviceLongArnFormat",
        ),
    ],
)
def test_a_service_pause_goes_ahead_when_its_record_cannot_be_written(
    code: str, message: str, fix: str, caplog: pytest.LogCaptureFixture
) -> None:
    runner = Recorder("ecs tag-resource", code, message)
    pause = Decision(
        Verb.PAUSE,
        "backup",
        "desired 3 -> 0",
        (RecordPausedCount(ARN, f"{PAUSED_COUNT_TAG}:0000beef0000", 3), SetDesiredCount(0)),
        kind="ecs",
    )

    outcome = actor(runner).carry_out(pause)

    assert runner.calls == ["ecs tag-resource", "ecs update-service"], "record first, then pause"
    assert outcome.status is Status.DONE and not outcome.failed
    assert outcome.detail == f"without a record ({code})"
    (error,) = [r for r in caplog.records if r.levelname == "ERROR"]
    assert message in error.getMessage() and fix in error.getMessage()
    assert "resume will set the desired count to RESUME_COUNT=2, not to the 3" in error.getMessage()


def test_a_table_is_suspended_when_its_record_cannot_be_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = Recorder(
        "resourcegroupstaggingapi tag-resources", "AccessDeniedException", "no tag:TagResources"
    )
    target = Target("table/orders", "dynamodb:table:ReadCapacityUnits", frozenset(), "arn:t")
    pause = Decision(
        Verb.PAUSE,
        "backup",
        "table orders, 1 of 1",
        (
            RecordSuspended("arn:t", {target.record_key("0000beef0000"): ALL}),
            SetSuspended(target, ALL),
        ),
        kind="dynamodb",
    )

    outcome = actor(runner).carry_out(pause)

    assert runner.calls == [
        "resourcegroupstaggingapi tag-resources",
        "application-autoscaling register-scalable-target",
    ]
    assert outcome.status is Status.DONE
    (error,) = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert "add tag:TagResources and tag:UntagResources, and dynamodb:TagResource" in error
    assert "will NOT resume the auto scaling of this table" in error
    assert "table/orders ReadCapacityUnits (DynamicScalingInSuspended/" in error


def test_any_other_failed_step_still_stops_the_steps() -> None:
    runner = Recorder("ecs update-service", "AccessDeniedException", "denied")
    resume = Decision(Verb.RESUME, "", "", (SetDesiredCount(3), FORGET), kind="ecs")

    outcome = actor(runner).carry_out(resume)

    assert outcome.failed
    assert runner.calls == ["ecs update-service"]
