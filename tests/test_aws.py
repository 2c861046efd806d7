"""The CLI runner on its own: error classification, retries and backoff, the child process."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.aws import (
    AwsCli,
    AwsError,
    CliNotRunnable,
    Interrupted,
    UnexpectedOutput,
    classify,
    retrying,
)


def aws_error(code: str, message: str = "details", retries: int | None = None) -> str:
    """stderr as botocore prints a service error (with its own retries, when it made some)."""
    retried = f" (reached max retries: {retries})" if retries is not None else ""
    operation = f"when calling the ListClusters operation{retried}"
    return f"\nAn error occurred ({code}) {operation}: {message}\n"


# Error codes AWS answers with: (code, retryable).
SERVICE_ERRORS = [
    # throttling, whatever the service calls it
    ("Throttling", True),
    ("ThrottlingException", True),
    ("RequestLimitExceeded", True),
    ("TooManyRequestsException", True),
    ("429", True),
    # the service's own faults
    ("InternalServerError", True),
    ("InternalFailure", True),
    ("ServiceUnavailable", True),
    ("ServiceUnavailableException", True),
    ("500", True),
    ("502", True),
    ("503", True),
    # what the caller got wrong: one attempt, then a clear error
    ("AccessDeniedException", False),
    ("AccessDenied", False),
    ("UnauthorizedOperation", False),
    ("ValidationException", False),
    ("InvalidParameterException", False),
    ("ClusterNotFoundException", False),
    ("ServiceNotFoundException", False),
    ("ServiceNotActiveException", False),
    ("ResourceNotFoundException", False),
    ("ExpiredTokenException", False),
    ("ExpiredToken", False),
    ("UnrecognizedClientException", False),
    ("InvalidClientTokenId", False),
    ("SignatureDoesNotMatch", False),
    ("400", False),
]


@pytest.mark.parametrize(("code", "retryable"), SERVICE_ERRORS)
@pytest.mark.parametrize("exit_code", [254, 255])  # v2 and v1 for a service error
def test_classify_service_errors(exit_code: int, code: str, retryable: bool) -> None:
    got_code, message, got_retryable = classify(exit_code, aws_error(code, "Some  text\nhere"))

    assert (got_code, got_retryable) == (code, retryable)
    assert message == "Some text here"


# Failures before AWS answers, as the CLI prints them: (exit status, stderr, code, retryable).
LOCAL_FAILURES = [
    (
        255,
        'Could not connect to the endpoint URL: "https://ecs.x.amazonaws.com/"',
        "EndpointConnectionError",
        True,
    ),
    (255, 'Connect timeout on endpoint URL: "https://x/"', "ConnectTimeout", True),
    (255, 'Read timeout on endpoint URL: "https://x/"', "ReadTimeout", True),
    (
        255,
        "Connection was closed before we received a valid response from endpoint URL",
        "ConnectionClosed",
        True,
    ),
    (-9, "", "Killed", True),
    (1, "Traceback (most recent call last):\n  ...\nMemoryError", "CliFailed", True),
    (
        255,
        'Unable to locate credentials. You can configure credentials by running "aws configure".',
        "NoCredentials",
        False,
    ),
    (
        255,
        "Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY",
        "PartialCredentials",
        False,
    ),
    (255, "The config profile (nope) could not be found", "ProfileNotFound", False),
    (255, "Invalid endpoint: http://a b", "InvalidEndpoint", False),
    (
        255,
        'Parameter validation failed:\nUnknown parameter in input: "Bogus"',
        "ParamValidation",
        False,
    ),
    (
        255,
        "usage: aws [options] <command> <subcommand>\n\nUnknown options: --bogus",
        "UsageError",
        False,
    ),
    (
        2,
        "usage: aws [options]\naws: error: argument operation: Invalid choice",
        "UsageError",
        False,
    ),
    (252, "aws: error: the following arguments are required: --cluster", "UsageError", False),
]


@pytest.mark.parametrize(("exit_code", "stderr", "code", "retryable"), LOCAL_FAILURES)
def test_classify_local_failures(exit_code: int, stderr: str, code: str, retryable: bool) -> None:
    got_code, message, got_retryable = classify(exit_code, f"\n{stderr}\n")

    assert (got_code, got_retryable) == (code, retryable)
    assert message and "\n" not in message


def test_classify_keeps_the_whole_message_after_botocore_retried() -> None:
    _, message, _ = classify(255, aws_error("ThrottlingException", "Rate exceeded", retries=4))

    assert message == "Rate exceeded"


def test_classify_reads_the_error_code_out_of_an_xml_body() -> None:
    # What a JSON service answers when something in front of it speaks XML (moto's IAM check).
    body = (
        '<?xml version="1.0" encoding="utf-8"?>\n<ErrorResponse><Errors><Error>'
        "<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/c is not "
        "authorized to perform: ecs:DescribeServices</Message><Type>Sender</Type>"
        "</Error></Errors></ErrorResponse>"
    )

    code, message, retryable = classify(255, aws_error("403", body))

    assert (code, retryable) == ("AccessDenied", False)
    assert message == (
        "User: arn:aws:iam::123456789012:user/c is not authorized to perform: ecs:DescribeServices"
    )


class Waits:
    """Stands in for the stop event: records each backoff instead of sleeping through it."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.seconds: list[float] = []
        self.stop_after = stop_after

    def wait(self, seconds: float) -> bool:
        self.seconds.append(seconds)
        return self.stop_after is not None and len(self.seconds) >= self.stop_after


def failing(*errors: AwsError) -> tuple[list[int], Callable[[], str]]:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return calls, call


def error(code: str, retryable: bool) -> AwsError:
    return AwsError("aws emr list-clusters", code, "msg", retryable)


def test_retryable_errors_are_retried_with_capped_exponential_backoff_and_jitter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    waits = Waits()
    calls, call = failing(*[error("ThrottlingException", True)] * 6)

    with caplog.at_level(logging.WARNING, "controller.aws"):
        result = retrying(call, attempts=7, stop=waits, describe="x")

    assert result == "ok"
    assert len(calls) == 7
    # about 1 s, doubling, with up to 1 s of jitter, never above 10 s
    for seconds, base in zip(waits.seconds, [1, 2, 4, 8, 10, 10], strict=True):
        assert base <= seconds <= min(base + 1, 10)
    assert len(set(waits.seconds[:4])) == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert [w.split(",")[0] for w in warnings] == [f"attempt {n} of 7 failed" for n in range(1, 7)]
    assert "ThrottlingException" in warnings[0]


def test_retries_stop_after_the_last_attempt_and_say_how_many() -> None:
    calls, call = failing(*[error("ThrottlingException", True)] * 5)

    with pytest.raises(AwsError) as raised:
        retrying(call, attempts=3, stop=Waits(), describe="x")

    assert len(calls) == 3
    assert raised.value.attempts == 3
    assert "failed after 3 attempts: ThrottlingException" in str(raised.value)


def test_a_permanent_error_is_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    waits = Waits()
    calls, call = failing(error("AccessDeniedException", False))

    with pytest.raises(AwsError) as raised, caplog.at_level(logging.WARNING):
        retrying(call, attempts=4, stop=waits, describe="x")

    assert len(calls) == 1
    assert waits.seconds == []
    assert raised.value.attempts == 1
    assert "attempts" not in str(raised.value)
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_shutdown_during_a_backoff_ends_the_retries() -> None:
    calls, call = failing(*[error("ThrottlingException", True)] * 5)

    with pytest.raises(Interrupted):
        retrying(call, attempts=4, stop=Waits(stop_after=1), describe="x")

    assert len(calls) == 1


# --- the child process: real processes, no AWS --------------------------------------------


def script(tmp_path: Path, body: str, name: str = "fake-aws") -> str:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def cli(executable: str, timeout: float = 10, attempts: int = 1) -> AwsCli:
    return AwsCli(
        executable,
        env={"PATH": os.environ["PATH"]},
        timeout=timeout,
        attempts=attempts,
        stop=threading.Event(),
    )


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_timeout_kills_the_cli_and_everything_it_started(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # A CLI that starts a helper (as a credential_process would) and never answers.
    hung = script(tmp_path, f"sleep 300 &\necho $$ $! > {pids}\nwait")

    started = time.monotonic()
    with pytest.raises(AwsError) as raised:
        cli(hung, timeout=1)(["emr", "list-clusters"])
    elapsed = time.monotonic() - started

    assert raised.value.code == "Timeout"
    assert raised.value.retryable
    assert elapsed < 10
    cli_pid, helper_pid = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(cli_pid) or alive(helper_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in (cli_pid, helper_pid) if alive(pid)]
    for pid in survivors:  # so that a failure here leaks nothing into later tests
        os.kill(pid, signal.SIGKILL)
    assert survivors == [], "the CLI or a process it started outlived the timeout"


def test_timeouts_are_retried_up_to_the_attempts(tmp_path: Path) -> None:
    count = tmp_path / "count"
    hung = script(tmp_path, f"echo x >> {count}\nexec sleep 300")

    with pytest.raises(AwsError) as raised:
        cli(hung, timeout=1, attempts=2)(["emr", "list-clusters"])

    assert raised.value.attempts == 2
    assert len(count.read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("stdout", "problem"),
    [
        ("<html>502 Bad Gateway</html>", "not JSON"),
        ('{"Clusters": [', "not JSON"),
        ('["a list"]', "expected a JSON object, got list"),
        ("null", "expected a JSON object, got NoneType"),
    ],
)
def test_output_that_is_not_a_json_object_is_unexpected(
    tmp_path: Path, stdout: str, problem: str
) -> None:
    count = tmp_path / "count"
    printer = script(tmp_path, f"echo x >> {count}\nprintf '%s' '{stdout}'")

    with pytest.raises(UnexpectedOutput) as raised:
        cli(printer, attempts=3)(["emr", "list-clusters"])

    assert problem in str(raised.value)
    assert len(count.read_text().splitlines()) == 1, "unexpected output is not retried"


def test_arguments_reach_the_cli_as_they_are_never_through_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    printer = tmp_path / "echo-argv"
    printer.write_text(
        f"#!{sys.executable}\nimport json, sys\nprint(json.dumps({{'argv': sys.argv[1]}}))\n"
    )
    printer.chmod(0o755)
    name = f"x$(touch {marker})`touch {marker}`; touch {marker} 'q' \"dq\" ü"

    doc = cli(str(printer))([name])

    assert doc == {"argv": name}
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    ["#!/nonexistent/interpreter\n", "\x7fELF truncated, not a program"],
    ids=["bad-interpreter", "not-a-program"],
)
def test_an_executable_that_cannot_run_is_a_configuration_problem(
    tmp_path: Path, content: str
) -> None:
    broken = tmp_path / "aws"
    broken.write_text(content)
    broken.chmod(0o755)

    with pytest.raises(CliNotRunnable) as raised:
        cli(str(broken), attempts=3)(["emr", "list-clusters"])

    assert str(broken) in str(raised.value)


@pytest.fixture
def clock_that_never_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every timed wait in this process waits as if its time never came.

    A runner that notices the end of its CLI by polling (sh's own `_timeout` wakes every
    0.1 s, `RunningCommand.wait(timeout)` sleeps 0.1 s between looks) then never returns;
    one that waits on the process itself returns as soon as the process exits. Not a timing:
    either the call returns or it hangs.
    """
    untimed = threading.Condition.wait

    def wait(self: threading.Condition, timeout: float | None = None) -> bool:
        return untimed(self, None)  # Event.wait, Timer and Queue all wait through this

    monkeypatch.setattr(threading.Condition, "wait", wait)
    monkeypatch.setattr(time, "sleep", lambda _seconds: threading.Event().wait())


def returns(call: Callable[[], object]) -> object:
    """`call()`'s result, or a failure if it does not return (the thread is left behind)."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(30)  # Thread.join waits on a lock, not a Condition: untouched by the fixture
    assert not thread.is_alive(), "the call did not return after its CLI exited"
    return result[0]


@pytest.mark.usefixtures("clock_that_never_ticks")
def test_a_call_returns_when_its_cli_exits_without_waiting_for_a_clock(tmp_path: Path) -> None:
    printer = script(tmp_path, """echo '{"Clusters": []}'""")

    assert returns(lambda: cli(printer)(["emr", "list-clusters"])) == {"Clusters": []}


@pytest.mark.usefixtures("clock_that_never_ticks")
def test_a_failed_call_returns_when_its_cli_exits_without_waiting_for_a_clock(
    tmp_path: Path,
) -> None:
    denied = aws_error("AccessDeniedException")
    failing_cli = script(tmp_path, f"printf '%s' '{denied}' >&2\nexit 254")

    def call() -> object:
        with pytest.raises(AwsError) as raised:
            cli(failing_cli, attempts=1)(["emr", "list-clusters"])
        return raised.value.code

    assert returns(call) == "AccessDeniedException"


def test_no_more_cli_processes_at_once_than_the_runner_allows(tmp_path: Path) -> None:
    running, counts = tmp_path / "running", tmp_path / "counts"
    running.mkdir()
    # Each CLI notes how many run beside it (itself included), stays a moment, then leaves.
    busy = script(
        tmp_path,
        f"touch {running}/$$\nls {running} | wc -l >> {counts}\nsleep 0.2\nrm {running}/$$\n"
        """echo '{"Clusters": []}'""",
    )
    bounded = AwsCli(
        busy,
        env={"PATH": os.environ["PATH"]},
        timeout=30,
        attempts=1,
        stop=threading.Event(),
        concurrent=2,
    )

    threads = [threading.Thread(target=bounded, args=(["emr", "list-clusters"],)) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    seen = [int(line) for line in counts.read_text().split()]
    assert len(seen) == 6, "every call ran"
    assert max(seen) <= 2, f"more than 2 CLI processes at once: {seen}"
