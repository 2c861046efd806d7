"""A pause or resume that takes long says how far it got, and a tick longer than POLL_INTERVAL
says so once. No timing: the clock and the wait for the changes are the test's own."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import pytest

from controller.loop import PROGRESS_EVERY, Controller, until_stopped
from tests.support.fake_runner import CONFIG, FakeAws


class SlowUpdate(FakeAws):
    """update-service waits until the test lets it finish."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finish = threading.Event()

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        if args[:2] == ["ecs", "update-service"]:
            assert self.finish.wait(30), "the test never let the update finish"
        return super().__call__(args, mutating=mutating)


class Waits:
    """Stands in for concurrent.futures.wait: the first `timeouts` waits end as if
    PROGRESS_EVERY seconds had passed with nothing more done, then the changes may finish."""

    def __init__(self, aws: SlowUpdate, clock: list[float], timeouts: int) -> None:
        self.aws, self.clock, self.timeouts = aws, clock, timeouts
        self.asked: list[float] = []

    def __call__(
        self, futures: set[Future[Any]], timeout: float
    ) -> tuple[set[Future[Any]], set[Future[Any]]]:
        self.asked.append(timeout)
        self.clock[0] += timeout
        if len(self.asked) <= self.timeouts:
            return {f for f in futures if f.done()}, {f for f in futures if not f.done()}
        self.aws.finish.set()
        done, pending = wait(futures)
        return done, pending


def progress(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "in progress" in r.getMessage()]


def test_a_long_pause_says_how_far_it_got_every_ten_seconds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws = SlowUpdate(clusters=["backup-orders"], desired=3)
    clock = [0.0]
    waits = Waits(aws, clock, timeouts=2)
    with ThreadPoolExecutor(4) as pool, caplog.at_level(logging.INFO):
        controller = Controller(CONFIG, aws, pool, clock=lambda: clock[0], waiting=waits)
        assert controller.tick()

    assert waits.asked == [PROGRESS_EVERY] * 3
    assert PROGRESS_EVERY <= 10
    assert progress(caplog) == [
        "pause in progress: 0 of 1 done, 10s so far",
        "pause in progress: 0 of 1 done, 20s so far",
    ]
    (line,) = [r for r in caplog.records if "action:" in r.getMessage()]
    assert "action: pause: desired 3 -> 0" in line.getMessage()
    assert aws.desired == 0


def test_changes_done_within_ten_seconds_say_nothing_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws = SlowUpdate(clusters=["backup-orders"], desired=3)
    clock = [0.0]
    with ThreadPoolExecutor(4) as pool, caplog.at_level(logging.INFO):
        controller = Controller(
            CONFIG, aws, pool, clock=lambda: clock[0], waiting=Waits(aws, clock, timeouts=0)
        )
        assert controller.tick()

    assert progress(caplog) == []


def test_a_tick_with_nothing_to_change_waits_for_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws = SlowUpdate(clusters=[], desired=1)
    waits = Waits(aws, [0.0], timeouts=5)
    with ThreadPoolExecutor(4) as pool, caplog.at_level(logging.INFO):
        assert Controller(CONFIG, aws, pool, waiting=waits).tick()

    assert progress(caplog) == []


class Ticks:
    """A controller whose ticks take the given seconds on the test's clock, then stops."""

    def __init__(self, clock: list[float], seconds: list[float], stop: threading.Event) -> None:
        self.clock, self.seconds, self.stop = clock, list(seconds), stop
        self.on_crash = None

    def tick(self) -> bool:
        self.clock[0] += self.seconds.pop(0)
        if not self.seconds:
            self.stop.set()
        return True


def test_a_tick_longer_than_poll_interval_says_so_once(caplog: pytest.LogCaptureFixture) -> None:
    clock, stop = [0.0], threading.Event()
    # A tick of exactly POLL_INTERVAL is not longer (and leaves no time to wait for).
    ticks = Ticks(clock, [75.4, 60.0, 61.0, 1.0], stop)

    status = until_stopped(ticks, interval=60, once=False, stop=stop, clock=lambda: clock[0])  # type: ignore[arg-type]

    assert status == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.getMessage().split(":")[0] for w in warnings] == [
        "the tick took 75s, longer than POLL_INTERVAL (60s)",
        "the tick took 61s, longer than POLL_INTERVAL (60s)",
    ]
    assert "the next one starts at once" in warnings[0].getMessage()
