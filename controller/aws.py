"""Run the real AWS CLI: one process per call, a timeout per call, retries, typed errors.

Everything that touches a child process lives here, so the rest of the package sees only
parsed JSON or one of the exceptions below.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import shlex
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sh

if TYPE_CHECKING:
    from concurrent.futures import Executor

    import tenacity

log = logging.getLogger(__name__)

JsonDict = dict[str, Any]
# The longest wait between two attempts of a call: tenacity's exponential wait is capped at
# 10 s, plus up to 1 s of jitter. Here, not in config, because config imports the sources,
# which import the runner; config reads them from here for its bounds on a call.
RETRY_WAIT_MAX = 10.0
RETRY_JITTER = 1.0
T = TypeVar("T")
R = TypeVar("R")


class Runner(Protocol):
    """What the kinds need: run one CLI call, get its JSON back."""

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> JsonDict: ...


class Each(Protocol):
    """Run `call` on every item, concurrently where it can (the tick's pool); results in the
    items' order. How a kind makes its one-by-one calls."""

    def __call__(self, call: Callable[[T], R], items: Sequence[T], /) -> list[R]: ...


def one_by_one(call: Callable[[T], R], items: Sequence[T], /) -> list[R]:
    return [call(item) for item in items]


def concurrently(pool: Executor) -> Each:
    """Each call on `pool`, all at once. The caller holds a thread while it waits, so the pool
    must have more threads than callers waiting at once (loop.workers)."""

    def each(call: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        futures = [pool.submit(call, item) for item in items]
        return [future.result() for future in futures]

    return each


class Interrupted(Exception):
    """Shutdown was requested; the call was stopped or never started."""


class CliNotRunnable(Exception):
    """The AWS CLI could not be started at all: a configuration problem, not an AWS one."""


# eq=False: exceptions compare and hash by identity, as Python's own do.
@dataclass(eq=False)
class AwsError(Exception):
    """A CLI call that failed for good (after retries, or at once when retrying is pointless)."""

    command: str
    code: str
    message: str
    retryable: bool
    attempts: int = 1

    def __str__(self) -> str:
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"`{self.command}` failed{tries}: {self.code}: {self.message}"


class UnexpectedOutput(AwsError):
    """The CLI succeeded but printed something other than the JSON we need."""

    def __init__(self, command: str, message: str) -> None:
        super().__init__(command, "UnexpectedOutput", message, retryable=False)


def shown_value(value: object) -> str:
    """A JSON value as an UnexpectedOutput message names it: never the repr of something
    huge or deep (repr of a deeply nested list raises RecursionError, of a huge int ValueError)."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'array'}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return "a huge number"
    if isinstance(value, str) and len(value) > 40:
        return repr(value[:40]) + "..."
    return repr(value)


# Error codes as botocore and the CLI print them. Throttling and server-side faults are
# worth another try; everything the caller got wrong (permissions, parameters, names) is not.
RETRYABLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
        "BandwidthLimitExceeded",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
        "TransactionInProgressException",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerException",
        "ServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "IDPCommunicationError",
    }
)

# botocore's ClientError text; the retry note is there when botocore itself retried.
_AWS_ERROR = re.compile(
    r"An error occurred \((?P<code>[^)]+)\) when calling the \w+ operation"
    r"(?: \(reached max retries: \d+\))?:\s*(?P<message>.*)",
    re.S,
)
# When the body is not in the service's protocol (an XML error from a proxy, or moto's
# IAM check on a JSON service), botocore reports only the HTTP status; the body says more.
_XML_ERROR = re.compile(r"<Code>(?P<code>[^<]+)</Code>\s*<Message>(?P<message>[^<]*)</Message>")

# Failures that happen before AWS answers, in the order they are checked.
_LOCAL_FAILURES: tuple[tuple[str, str, bool], ...] = (
    ("Unable to locate credentials", "NoCredentials", False),
    ("Partial credentials found", "PartialCredentials", False),
    ("Could not connect to the endpoint URL", "EndpointConnectionError", True),
    ("Connect timeout on endpoint URL", "ConnectTimeout", True),
    ("Read timeout on endpoint URL", "ReadTimeout", True),
    (
        "Connection was closed before we received a valid response",
        "ConnectionClosed",
        True,
    ),
    ("SSL validation failed", "SSLError", False),
    ("Parameter validation failed", "ParamValidation", False),
    ("The config profile", "ProfileNotFound", False),
    ("Invalid endpoint", "InvalidEndpoint", False),
)

# Usage errors: v2 exits 252, v1 exits 2 (argparse); neither gets better by trying again.
_USAGE_EXIT_CODES = frozenset({2, 252})


def classify(exit_code: int, stderr: str) -> tuple[str, str, bool]:
    """Map a failed CLI run to (error code, message, retryable), the way botocore would."""
    text = stderr.strip()
    found = _AWS_ERROR.search(text)
    if found:
        code, message = found["code"], found["message"]
        status = int(code) if code.isdigit() else None
        body = _XML_ERROR.search(message) if status else None
        if body:
            code, message = body["code"], body["message"]
        message = " ".join(message.split())
        # 429 is HTTP's "too many requests"; 5xx is the service's own fault.
        retryable = code in RETRYABLE_CODES or status == 429 or (status or 0) >= 500
        return code, message, retryable
    last_line = text.splitlines()[-1].strip() if text else f"exit status {exit_code}"
    for needle, code, retryable in _LOCAL_FAILURES:
        if needle in text:
            return code, last_line, retryable
    if exit_code in _USAGE_EXIT_CODES or "usage:" in text:
        return "UsageError", last_line, False
    if exit_code < 0:
        return "Killed", f"the CLI was killed by signal {-exit_code}", True
    # A process that died without an AWS answer: a crash or a broken network. Retrying
    # cannot change anything in AWS, so it is the safe guess.
    return "CliFailed", last_line, True


def _wait_or_stop(stop: threading.Event, describe: str, seconds: float) -> None:
    if stop.wait(seconds):
        raise Interrupted(describe)


def _log_retry(attempts: int, state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "attempt %d of %d failed, retrying in %.1fs: %s",
        state.attempt_number,
        attempts,
        delay,
        error,
    )


def retrying(
    call: Callable[[], T],
    *,
    attempts: int,
    stop: threading.Event,
    describe: str,
    wait: tenacity.wait.wait_base | None = None,
) -> T:
    """Call `call` until it succeeds, fails for good, runs out of attempts or shutdown starts."""
    try:
        return call()
    except AwsError as error:
        if not error.retryable or attempts < 2:
            raise
        first_failure = error
    # Imported at the first retry, not at start-up: most runs never retry, and importing
    # tenacity (13 modules) would cost every start 3-4 ms (docs/performance.md).
    import tenacity  # noqa: PLC0415

    retryer = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        # Exponential from about 1 s, capped at 10 s, with jitter so that several
        # controllers hitting the same throttled API do not retry in step.
        wait=wait
        or tenacity.wait_exponential_jitter(initial=1, max=RETRY_WAIT_MAX, jitter=RETRY_JITTER),
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, AwsError) and e.retryable),
        before_sleep=functools.partial(_log_retry, attempts),
        sleep=functools.partial(_wait_or_stop, stop, describe),
        reraise=True,
    )
    pending = [first_failure]

    def attempt() -> T:
        # tenacity's first attempt is the one already made above: it only reports its failure.
        if pending:
            raise pending.pop()
        return call()

    try:
        return retryer(attempt)
    except AwsError as error:
        error.attempts = retryer.statistics.get("attempt_number", 1)
        raise


class AwsCli:
    """The real CLI, run through `sh` with arguments as a list (never through a shell)."""

    def __init__(
        self,
        executable: str,
        *,
        env: Mapping[str, str],
        timeout: float,
        attempts: int,
        stop: threading.Event,
        endpoint_url: str | None = None,
        concurrent: int | None = None,
    ) -> None:
        # At most `concurrent` CLI processes at a time (MAX_CONCURRENT_CALLS; None: no
        # bound). The callers' threads may be many more: one waiting here holds no process,
        # and a retry's wait holds no place (the bound is taken per attempt).
        self._slots = threading.BoundedSemaphore(concurrent) if concurrent else None
        # v2 opens a pager for long output unless told not to; with no terminal that hangs.
        self._env = {**env, "AWS_PAGER": ""}
        self._command = sh.Command(executable)
        self._executable = executable
        self._timeout = timeout
        self._attempts = attempts
        self._stop = stop
        self._endpoint = ["--endpoint-url", endpoint_url] if endpoint_url else []
        # Held while a CLI is started and registered; notified when a call starts or ends (the
        # PID 1 reaper waits on it, see controller/runtime/reap.py).
        self._lock = threading.Condition()
        # Process group id of each call in flight (each CLI runs in a group of its own), and
        # whether it changes something.
        self._in_flight: dict[int, bool] = {}
        self._started = 0

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> JsonDict:
        argv = [*args, *self._endpoint, "--output", "json"]
        shown = shlex.join(["aws", *argv])
        log.debug("running %s", shown)
        out = retrying(
            lambda: self._run_once(argv, shown, mutating),
            attempts=self._attempts,
            stop=self._stop,
            describe=shown,
        )
        try:
            doc = json.loads(out) if out.strip() else {}
        except ValueError as error:
            # Not JSON, or an integer longer than Python's limit on digits in a string.
            raise UnexpectedOutput(shown, f"not JSON ({error})") from None
        except RecursionError:
            raise UnexpectedOutput(shown, "JSON nested too deeply to read") from None
        if not isinstance(doc, dict):
            raise UnexpectedOutput(shown, f"expected a JSON object, got {type(doc).__name__}")
        return doc

    def interrupt(self) -> None:
        """Stop every query in flight; an update in flight is left to finish."""
        with self._lock:
            for pid, mutating in self._in_flight.items():
                if not mutating:
                    _kill_group(pid)

    def _run_once(self, argv: list[str], shown: str, mutating: bool) -> str:
        if self._slots is None:
            return self._spawn_and_wait(argv, shown, mutating)
        with self._slots:
            return self._spawn_and_wait(argv, shown, mutating)

    def _spawn_and_wait(self, argv: list[str], shown: str, mutating: bool) -> str:
        # Spawning under the lock closes the race with interrupt(): a query either starts
        # before the kill (and is killed) or sees the stop flag and never starts.
        with self._lock:
            if self._stop.is_set() and not mutating:
                raise Interrupted(shown)
            try:
                running = self._command(
                    *argv,
                    _env=self._env,
                    _bg=True,
                    _bg_exc=False,
                    _tty_out=False,
                    # Its own process group: whatever the CLI starts (a credential_process,
                    # a wrapper's child) can be killed with it, and a Ctrl-C meant for us
                    # does not cut an update short.
                    _new_group=True,
                )
            except sh.ForkException as error:
                reason = str(error).strip().splitlines()[-1].strip()
                raise CliNotRunnable(f"cannot run {self._executable!r}: {reason}") from None
            pid = running.pid
            self._in_flight[pid] = mutating
            self._started += 1
            self._lock.notify_all()
        deadline = Deadline(self._timeout, pid)
        try:
            running.wait()
            return str(running.stdout.decode("utf-8", "replace"))
        except sh.ErrorReturnCode as failed:
            if deadline.expired:
                raise AwsError(
                    shown,
                    "Timeout",
                    f"no answer within {self._timeout:g}s, process killed",
                    True,
                ) from None
            if self._stop.is_set() and not mutating:
                raise Interrupted(shown) from None
            code, message, retryable = classify(
                failed.exit_code, failed.stderr.decode("utf-8", "replace")
            )
            raise AwsError(shown, code, message, retryable) from None
        finally:
            deadline.cancel()
            with self._lock:
                self._in_flight.pop(pid, None)
                self._lock.notify_all()

    # What the PID 1 reaper needs (controller/runtime/reap.py's Parent). Call with `children` held.
    @property
    def children(self) -> threading.Condition:
        return self._lock

    @property
    def started(self) -> int:
        return self._started

    def waits_for(self, pid: int) -> bool:
        return pid in self._in_flight


class Deadline:
    """Kills a call's whole process group when its time is up.

    Not sh's own `_timeout`: its timer thread polls every 0.1 s and `wait()` joins that
    thread, so every call lasted up to 100 ms longer than the CLI (107 ms a call with a CLI
    that answers at once, against 9-10 ms with this timer; docs/performance.md). A timer
    thread sleeps until it fires or is cancelled, and kills the group, not only the CLI, so
    anything the CLI started dies with it.
    """

    def __init__(self, seconds: float, pgid: int) -> None:
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire, (pgid,))
        self._timer.daemon = True
        self._timer.start()

    def _expire(self, pgid: int) -> None:
        self.expired = True
        _kill_group(pgid)

    def cancel(self) -> None:
        self._timer.cancel()


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
