"""A tick never ends the loop, and a done update is reported done even when its answer cannot
be read. Fake runner here; the CLI double versions are in
tests/test_release_integration.py and tests/test_faults_integration.py."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from controller.act import Status
from controller.autoscalers.ecs import ForgetPausedCount, SetDesiredCount
from controller.aws import CliNotRunnable, UnexpectedOutput
from controller.config import load
from controller.decide import Decision, Verb
from controller.http.metrics import Metrics
from controller.loop import Controller, until_stopped
from tests.support.fake_runner import CONFIG, PAUSED_TAG, FakeAws
from tests.test_http import env


@pytest.fixture
def pool() -> Any:
    with ThreadPoolExecutor(2) as executor:
        yield executor


class Buggy(FakeAws):
    """Raises an exception nobody expected on the first `crashes` EMR queries."""

    def __init__(self, crashes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.crashes = crashes

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        if args[:2] == ["emr", "list-clusters"] and self.crashes > 0:
            self.crashes -= 1
            raise KeyError("a bug")
        return super().__call__(args, mutating=mutating)


def test_a_crashed_tick_is_a_failed_tick_and_the_loop_goes_on(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = Buggy(crashes=2, clusters=["backup-1"], desired=2)
    stop = threading.Event()
    beats: list[int] = []
    ticks = 0

    def heartbeat() -> None:
        beats.append(ticks)
        stop.set()

    controller = Controller(CONFIG, aws, pool, stop)
    original = controller.tick

    def counting() -> bool:
        nonlocal ticks
        ticks += 1
        return original()

    controller.tick = counting  # type: ignore[method-assign]

    assert (
        until_stopped(controller, interval=0.01, once=False, stop=stop, on_success=heartbeat) == 0
    )

    assert ticks == 3, "two crashed ticks, then one that completed"
    assert beats == [3], "no heartbeat for a crashed tick"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2
    assert all("tick failed: unexpected error" in r.getMessage() for r in errors)
    assert all(r.exc_info and r.exc_info[0] is KeyError for r in errors), "with the traceback"
    assert aws.desired == 0, "the third tick paused as usual"


def test_once_exits_1_after_a_crashed_tick(pool: Any, caplog: pytest.LogCaptureFixture) -> None:
    aws = Buggy(crashes=1, clusters=[], desired=1)

    assert (
        until_stopped(Controller(CONFIG, aws, pool), interval=60, once=True, stop=threading.Event())
        == 1
    )
    assert "tick failed: unexpected error" in caplog.text
    assert "KeyError: 'a bug'" in caplog.text


def test_a_cli_that_cannot_run_still_ends_the_loop(pool: Any) -> None:
    class NotRunnable(FakeAws):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            raise CliNotRunnable("cannot run 'aws': Exec format error")

    with pytest.raises(CliNotRunnable):
        until_stopped(
            Controller(CONFIG, NotRunnable(), pool), interval=60, once=False, stop=threading.Event()
        )


class Unreadable(FakeAws):
    """update-service is applied, but its answer cannot be read."""

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        answer = super().__call__(args, mutating=mutating)
        if args[:2] == ["ecs", "update-service"]:
            raise UnexpectedOutput("aws ecs update-service", "no 'service' object in the output")
        return answer


def test_an_accepted_update_with_an_unreadable_answer_is_done(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = Unreadable(clusters=[], desired=0)
    aws.tags = {PAUSED_TAG: "3"}
    controller = Controller(CONFIG, aws, pool)
    steps = (SetDesiredCount(3), ForgetPausedCount("arn", (PAUSED_TAG,)))

    outcome = controller.actor.carry_out(
        Decision(Verb.RESUME, "test", "desired 0 -> 3", steps, kind="ecs")
    )

    assert outcome.status is Status.DONE
    assert aws.desired == 3
    assert aws.tags == {}, "the step after it ran: the record is forgotten"
    warning = next(r for r in caplog.records if r.levelno == logging.WARNING)
    assert warning.getMessage() == (
        "`aws ecs update-service` succeeded but its answer could not be read "
        "(no 'service' object in the output); the step is done"
    )


def test_a_tick_with_an_unreadable_update_answer_logs_done(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    aws = Unreadable(clusters=[], desired=0)
    aws.tags = {PAUSED_TAG: "3"}

    assert Controller(CONFIG, aws, pool).tick()

    assert "FAILED" not in caplog.text
    assert "resume: desired 0 -> 3" in caplog.text
    assert aws.desired == 3


def test_a_crashed_tick_is_counted_as_failed_in_the_metrics(pool: Any) -> None:
    metrics = Metrics(load([], env(HTTP_PORT="9102")))
    controller = Controller(CONFIG, Buggy(crashes=1, clusters=[], desired=1), pool)
    controller.on_crash = metrics.crashed

    assert until_stopped(controller, interval=60, once=True, stop=threading.Event()) == 1
    text = metrics.exposition().decode()
    assert 'dynamodb_autoscaler_control_ticks_total{outcome="failed"} 1.0' in text
