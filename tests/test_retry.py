"""The retry policy: what is retried, how often, and that shutdown cuts it short."""

from __future__ import annotations

import logging
import threading

import pytest
import tenacity

from controller.aws import AwsError, Interrupted, retrying

NO_WAIT = tenacity.wait_none()


class Flaky:
    """A call that fails with `error` for its first `failures` attempts."""

    def __init__(self, failures: int, error: AwsError) -> None:
        self.failures = failures
        self.error = error
        self.attempts = 0

    def __call__(self) -> str:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        return "ok"


THROTTLED = AwsError("aws emr list-clusters", "ThrottlingException", "Rate exceeded", True)
DENIED = AwsError("aws emr list-clusters", "AccessDeniedException", "not authorized", False)


def test_retryable_failure_that_clears_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    call = Flaky(2, THROTTLED)

    with caplog.at_level(logging.WARNING):
        result = retrying(call, attempts=4, stop=threading.Event(), describe="x", wait=NO_WAIT)

    assert result == "ok"
    assert call.attempts == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("attempt 1 of 4 failed")
    assert "ThrottlingException" in warnings[0]


def test_retryable_failure_gives_up_after_the_attempts() -> None:
    call = Flaky(10, THROTTLED)

    with pytest.raises(AwsError) as raised:
        retrying(call, attempts=4, stop=threading.Event(), describe="x", wait=NO_WAIT)

    assert call.attempts == 4
    assert raised.value.attempts == 4
    assert "after 4 attempts" in str(raised.value)


def test_non_retryable_failure_is_tried_once() -> None:
    call = Flaky(10, DENIED)

    with pytest.raises(AwsError) as raised:
        retrying(call, attempts=4, stop=threading.Event(), describe="x", wait=NO_WAIT)

    assert call.attempts == 1
    assert raised.value.code == "AccessDeniedException"


def test_shutdown_during_the_backoff_interrupts_at_once() -> None:
    stop = threading.Event()
    stop.set()
    call = Flaky(10, THROTTLED)

    with pytest.raises(Interrupted):
        retrying(call, attempts=4, stop=stop, describe="x", wait=tenacity.wait_fixed(3600))

    assert call.attempts == 1


def test_default_backoff_is_exponential_with_jitter_capped_at_10s() -> None:
    waits: list[float] = []
    stop = threading.Event()
    original = stop.wait

    def record(seconds: float | None = None) -> bool:
        waits.append(seconds or 0.0)
        return original(0)

    stop.wait = record  # type: ignore[method-assign]
    with pytest.raises(AwsError):
        retrying(Flaky(10, THROTTLED), attempts=7, stop=stop, describe="x")

    assert len(waits) == 6
    assert 1 <= waits[0] <= 2
    assert 2 <= waits[1] <= 3
    assert all(w <= 10 for w in waits)
    assert waits[-1] == 10
