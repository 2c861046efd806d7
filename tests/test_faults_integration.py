"""Faults injected between the controller and AWS, run as a user runs it: `--once` against moto.

The CLI double (tests/support/fake_aws.py) fails, hangs or prints garbage for one operation and
passes every other call through to the real aws CLI. Each test checks what a person would
check: how many attempts were made (the double's call log), that the tick ended within the
bound the settings promise, the exit status, and the service's desired count in moto.
"""

from __future__ import annotations

import json
import os
import signal
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Stack, processes_using
from tests.support.moto import CLUSTER, PREFIX, SERVICE, free_port

# Two attempts show a retry and keep the backoff (about 1 s) short; the default is 4.
ATTEMPTS = 2
TIMEOUT = 10
SETTINGS = {"CALL_ATTEMPTS": str(ATTEMPTS), "CALL_TIMEOUT": str(TIMEOUT)}
# Scheduling on a loaded machine, between and around the calls a bound accounts for.
SLACK = 5.0


def aws_error(code: str, operation: str, message: str) -> str:
    return f"\nAn error occurred ({code}) when calling the {operation} operation: {message}\n"


def fail(code: str, operation: str = "ListClusters", message: str = "details", times: int = -1):
    return {"fail": times, "exit": 255, "stderr": aws_error(code, operation, message)}


def bound(attempts: int = ATTEMPTS, timeout: float = TIMEOUT, calls: int = 1) -> float:
    """The longest a tick may take by design: every attempt of `calls` CLI calls in a row
    times out, and every backoff is at its longest (about 1 s doubling, plus 1 s jitter)."""
    backoffs = sum(min(2**n + 1, 10) for n in range(attempts - 1))
    return calls * (attempts * timeout + backoffs) + SLACK


def tick_seconds(stderr: str) -> float:
    """From the start-up line to the tick's last line, by the log's own timestamps."""
    stamps = [
        datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
        for line in stderr.splitlines()
        if line[:4].isdigit()
    ]
    assert len(stamps) >= 2, stderr
    return (stamps[-1] - stamps[0]).total_seconds()


def retries_logged(stderr: str) -> list[str]:
    return [
        line.split(" WARNING ")[1].split(",")[0]
        for line in stderr.splitlines()
        if " WARNING " in line
    ]


# --- EMR faults: the service is paused and no backup runs, so only a blind tick resumes ---------

EMR_FAULTS = [
    pytest.param(
        fail("ThrottlingException", message="Rate exceeded"),
        ATTEMPTS,
        "ThrottlingException",
        id="throttling",
    ),
    pytest.param(fail("InternalServerError"), ATTEMPTS, "InternalServerError", id="5xx-internal"),
    pytest.param(
        fail(
            "AccessDeniedException",
            message="not authorized to perform: elasticmapreduce:ListClusters",
        ),
        1,
        "AccessDeniedException",
        id="access-denied",
    ),
    pytest.param(
        fail("ValidationException", message="1 validation error"),
        1,
        "ValidationException",
        id="validation",
    ),
    pytest.param(
        {"stdout": "<html><body>502 Bad Gateway</body></html>"}, 1, "not JSON", id="garbage"
    ),
    pytest.param({"stdout": ""}, 1, "no 'Clusters' list", id="empty-output"),
    pytest.param(
        # A backup cluster without its state: skipping the entry would read as "none active".
        {"stdout": json.dumps({"Clusters": [{"Id": "j-1", "Name": f"{PREFIX}1"}]})},
        1,
        "EMR cluster entry 0 might match but its state cannot be read",
        id="missing-fields",
    ),
]


@pytest.mark.parametrize(("plan", "attempts", "shown"), EMR_FAULTS)
def test_emr_fault_never_resumes(
    stack: Stack, plan: dict[str, Any], attempts: int, shown: str
) -> None:
    stack.service(desired=0)
    stack.fake_aws({"emr list-clusters": plan})

    result = stack.run("--once", **SETTINGS)

    assert result.returncode == 1, result.stderr
    assert stack.desired() == 0, "EMR state unknown: the paused service must stay paused"
    assert stack.operations().count("emr list-clusters") == attempts
    assert "ecs update-service" not in stack.operations()
    assert "EMR query failed" in result.stderr and shown in result.stderr
    assert "ECS query failed" not in result.stderr
    assert "EMR state unknown, changing nothing" in result.stderr
    assert retries_logged(result.stderr) == [
        f"attempt {n} of {ATTEMPTS} failed" for n in range(1, attempts)
    ]
    assert tick_seconds(result.stderr) <= bound()


def test_a_hung_emr_query_is_killed_at_the_timeout_and_retried(stack: Stack) -> None:
    stack.service(desired=0)
    stack.fake_aws({"emr list-clusters": {"hang": True}})

    result = stack.run("--once", CALL_ATTEMPTS="2", CALL_TIMEOUT="2")

    assert result.returncode == 1, result.stderr
    assert stack.desired() == 0
    assert stack.operations().count("emr list-clusters") == 2
    assert "EMR query failed" in result.stderr
    assert "Timeout: no answer within 2s, process killed" in result.stderr
    assert retries_logged(result.stderr) == ["attempt 1 of 2 failed"]
    assert tick_seconds(result.stderr) <= bound(attempts=2, timeout=2)
    left = processes_using(str(stack.calls_file))
    for pid in left:  # so that a failure here leaks nothing into later tests
        os.kill(pid, signal.SIGKILL)
    assert left == [], "a killed CLI (or its child) was left running"


def test_a_fault_that_clears_after_two_attempts_lets_the_tick_succeed(stack: Stack) -> None:
    stack.service(desired=0)
    stack.fake_aws(
        {"emr list-clusters": fail("ThrottlingException", message="Rate exceeded", times=2)}
    )

    result = stack.run("--once", CALL_ATTEMPTS="3", CALL_TIMEOUT=str(TIMEOUT))

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1, "once EMR answered (no backup), the rule resumes"
    assert stack.operations().count("emr list-clusters") == 3
    assert retries_logged(result.stderr) == ["attempt 1 of 3 failed", "attempt 2 of 3 failed"]
    assert "resume: desired 0 -> 1" in result.stderr
    assert "query failed" not in result.stderr
    assert tick_seconds(result.stderr) <= bound(attempts=3, calls=2)


def test_moto_down_is_a_connection_error_retried_then_a_failed_tick(stack: Stack) -> None:
    stack.service(desired=0)
    stack.fake_aws()  # records the calls, passes them through to the real CLI

    # A port nothing listens on. AWS_MAX_ATTEMPTS=1 turns off botocore's own retries so that
    # the call log counts the controller's attempts, and the test stays short.
    result = stack.run(
        "--once",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_MAX_ATTEMPTS="1",
        **SETTINGS,
    )

    assert result.returncode == 1, result.stderr
    assert stack.desired() == 0
    assert (
        sorted(stack.operations())
        == ["ecs describe-services"] * ATTEMPTS + ["emr list-clusters"] * ATTEMPTS
    )
    assert "EMR query failed" in result.stderr and "ECS query failed" in result.stderr
    # each side: a warning per retry and one final error
    assert result.stderr.count("EndpointConnectionError") == 2 * ATTEMPTS
    assert tick_seconds(result.stderr) <= bound()


# --- ECS faults: a backup runs and the service is up, so the rule would pause -----------------


def fails_while_a_backup_runs(
    stack: Stack, operation: str, plan: dict[str, Any], attempts: int
) -> str:
    """Run a tick with `operation` misbehaving; it must fail and leave the count alone."""
    stack.service(desired=1)
    stack.world.start_cluster(f"{PREFIX}1")
    stack.fake_aws({operation: plan})

    result = stack.run("--once", **SETTINGS)

    assert result.returncode == 1, result.stderr
    assert stack.desired() == 1
    assert stack.operations().count(operation) == attempts
    return result.stderr


@pytest.mark.parametrize(
    ("plan", "attempts", "shown"),
    [
        pytest.param(
            fail("ThrottlingException", "DescribeServices"),
            ATTEMPTS,
            "ThrottlingException",
            id="throttling",
        ),
        pytest.param(
            fail("AccessDeniedException", "DescribeServices"),
            1,
            "AccessDeniedException",
            id="access-denied",
        ),
        pytest.param(
            {"stdout": json.dumps({"services": [{"serviceName": SERVICE, "status": "ACTIVE"}]})},
            1,
            "the service entry is malformed",
            id="missing-fields",
        ),
    ],
)
def test_ecs_query_fault_changes_nothing_and_says_it_was_ecs(
    stack: Stack, plan: dict[str, Any], attempts: int, shown: str
) -> None:
    stderr = fails_while_a_backup_runs(stack, "ecs describe-services", plan, attempts)

    assert "ecs update-service" not in stack.operations()
    assert "ECS query failed" in stderr and shown in stderr
    assert "EMR query failed" not in stderr
    assert f"backups: EMR cluster {PREFIX}1 (" in stderr, "the EMR side still reports what it saw"
    assert tick_seconds(stderr) <= bound()


@pytest.mark.parametrize(
    ("plan", "attempts"),
    [
        pytest.param(fail("ServiceUnavailableException", "UpdateService"), ATTEMPTS, id="5xx"),
        pytest.param(fail("AccessDeniedException", "UpdateService"), 1, id="access-denied"),
    ],
)
def test_a_failed_update_is_reported_and_the_tick_fails(
    stack: Stack, plan: dict[str, Any], attempts: int
) -> None:
    stderr = fails_while_a_backup_runs(stack, "ecs update-service", plan, attempts)

    assert f"service {CLUSTER}/{SERVICE}: desired=1" in stderr
    assert "pause: desired 1 -> 0 FAILED" in stderr
    assert tick_seconds(stderr) <= bound(calls=2)


# --- credentials --------------------------------------------------------------------------


def test_secrets_never_appear_in_the_output_even_inside_a_cli_error(stack: Stack) -> None:
    secret = stack.env["AWS_SECRET_ACCESS_KEY"]
    token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+session+token=="
    stack.service(desired=0)
    # A CLI message that quotes both (some credential-provider errors echo what they read).
    leaky = f"signature for key {secret} with token {token} is invalid"
    stack.fake_aws({"emr list-clusters": fail("ThrottlingException", message=leaky)})

    result = stack.run("--once", DEBUG_OUTPUT="1", AWS_SESSION_TOKEN=token, CALL_ATTEMPTS="2")

    output = result.stdout + result.stderr
    assert result.returncode == 1
    assert " DEBUG " in output
    assert "signature for key *** with token *** is invalid" in output
    assert secret not in output
    assert token not in output
