"""A pause whose change would start after its pause window gives up (act.TooLate): its record
may be removed by another controller once settled, and the change must not land after that."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from controller.act import Actor, Status
from controller.autoscalers.ecs import RecordPausedCount, SetDesiredCount
from controller.config import load
from controller.decide import Decision, Verb
from tests.test_config import env

CONFIG = load([], env(CALL_TIMEOUT="10", CALL_ATTEMPTS="1"))
PAUSE = Decision(
    Verb.PAUSE,
    "backup",
    "desired 3 -> 0",
    (
        RecordPausedCount("arn", "dynamodb-autoscaler-control:paused-desired-count:x", 3),
        SetDesiredCount(0),
    ),
    kind="ecs",
)


class SlowRecord:
    """Each call moves the clock on by `seconds`, as a slow (retried) call would."""

    def __init__(self, clock: list[float], seconds: float) -> None:
        self.clock, self.seconds = clock, seconds
        self.calls: list[str] = []

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        self.calls.append(" ".join(args[:2]))
        self.clock[0] += self.seconds
        return {}


def test_a_change_within_the_window_goes_ahead() -> None:
    clock = [100.0]
    aws = SlowRecord(clock, CONFIG.pause_window - 1)

    outcome = Actor(CONFIG, aws, threading.Event(), lambda: clock[0]).carry_out(PAUSE, 100.0)

    assert outcome.status is Status.DONE
    assert aws.calls == ["ecs tag-resource", "ecs update-service"]


def test_a_change_past_the_window_gives_up_and_says_so() -> None:
    clock = [100.0]
    aws = SlowRecord(clock, CONFIG.pause_window + 1)

    outcome = Actor(CONFIG, aws, threading.Event(), lambda: clock[0]).carry_out(PAUSE, 100.0)

    assert outcome.failed
    assert aws.calls == ["ecs tag-resource"], "the scale-down never starts"
    assert outcome.detail == (
        f"gave up after 1 of 2 steps: more than {CONFIG.pause_window:g}s since its pause began"
    )


def test_the_window_counts_from_when_the_pause_began_not_from_the_record() -> None:
    """The pause id carries the time the tick decided; other controllers judge the record's
    age by it, so a slow start of the record itself eats into the window."""
    clock = [100.0 + CONFIG.pause_window]  # the record is sent as the window ends
    aws = SlowRecord(clock, 1)

    outcome = Actor(CONFIG, aws, threading.Event(), lambda: clock[0]).carry_out(PAUSE, 100.0)

    assert outcome.failed
    assert aws.calls == ["ecs tag-resource"]


def test_the_settle_time_outlasts_a_pause_window_and_its_last_call() -> None:
    for timeout, attempts in (("30", "4"), ("5", "1"), ("1", "20")):
        config = load([], env(CALL_TIMEOUT=timeout, CALL_ATTEMPTS=attempts))
        assert config.record_settle > config.pause_window + config.call_bound
