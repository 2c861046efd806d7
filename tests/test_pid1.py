"""The console script as PID 1 of its own PID namespace, as in a container: it reaps the
orphans it inherits, and its own CLI calls keep their exit statuses.

`unshare --pid --fork --mount-proc` (root only) runs it as PID 1 without Docker. Its CLI is
the double (tests/support/fake_aws.py): a hung call's child (a `sleep`, as a credential_process
would be) is orphaned when the call is killed at its timeout, and becomes PID 1's to reap.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import FAKE_AWS, Loop
from tests.support.moto import controller_env, executable

DENIED = (
    "An error occurred (AccessDeniedException) when calling the ListClusters operation: "
    "User: arn:aws:iam::123456789012:user/c is not authorized to perform: "
    "elasticmapreduce:ListClusters"
)


def unshare_refused() -> str | None:
    """Why `unshare` cannot make a PID namespace here, or None when it can."""
    try:
        probe = subprocess.run(
            ["unshare", "--pid", "--fork", "--mount-proc", "true"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except FileNotFoundError:
        return "unshare(1) is not installed"
    if probe.returncode != 0:
        return f"unshare --pid --fork --mount-proc is not permitted: {probe.stderr.strip()}"
    return None


def pid_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/pid")


def states_in(namespace: str) -> dict[int, str]:
    """Each process in the PID namespace and its state letter (Z: zombie), by host pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns" / "pid") != namespace:
                continue
            # The state follows the command name, which is in parentheses and may hold any.
            found[int(proc.name)] = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone in between
            continue
    return found


@pytest.fixture
def as_pid1(tmp_path: Path) -> Iterator[tuple[Loop, str, Path]]:
    """The controller's loop, run as PID 1 of a new PID namespace with the CLI double.

    Yields the loop, its namespace, and the file where the double records its calls.
    """
    refused = unshare_refused()
    if refused:
        pytest.skip(refused)
    plan = {
        # Fails at once with an AWS error: a status the runner must collect itself.
        "emr list-clusters": {"fail": -1, "stderr": DENIED, "exit": 254},
        # Hangs with a child until killed at CALL_TIMEOUT: that child becomes an orphan.
        "ecs describe-services": {"hang": True},
    }
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    calls = tmp_path / "calls.jsonl"
    env = controller_env(
        "http://127.0.0.1:9",  # never reached: every call is planned
        tmp_path / "home",
        AWS_CLI=str(FAKE_AWS),
        FAKE_AWS_PLAN=str(tmp_path / "plan.json"),
        FAKE_AWS_CALLS=str(calls),
        FAKE_AWS_REAL="/bin/false",
        CALL_TIMEOUT="1",
        CALL_ATTEMPTS="1",
        DEBUG_OUTPUT="1",
        HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )
    command = ["unshare", "--pid", "--fork", "--mount-proc"]
    command += [executable("dynamodb-autoscaler-control"), "--interval", "0.1"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    loop = Loop(process, tmp_path / "loop.log")
    try:
        # unshare forks the namespace's PID 1; from here it has a host pid of its own.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        deadline = time.monotonic() + 30
        while not children.read_text().split():
            assert time.monotonic() < deadline, f"no PID 1 started:\n{loop.output}"
            time.sleep(0.05)
        init = int(children.read_text().split()[0])
        loop.wait_for("pausing")  # the controller runs, not just unshare's child
        yield loop, pid_namespace(init), calls
        with contextlib.suppress(ProcessLookupError):  # already gone: the test says why
            os.kill(init, signal.SIGTERM)
        assert process.wait(30) == 0, loop.output
    finally:
        loop.kill()


def hung_calls(calls: Path) -> int:
    if not calls.exists():
        return 0
    return sum(1 for line in calls.read_text().splitlines() if json.loads(line)[0] == "ecs")


def test_pid1_reaps_the_orphans_of_calls_killed_at_their_timeout(
    as_pid1: tuple[Loop, str, Path],
) -> None:
    loop, namespace, calls = as_pid1
    # Each tick's ECS call hangs for CALL_TIMEOUT (1 s) and orphans one child.
    loop.wait_for("ECS query failed", count=4, timeout=60)

    samples = []
    for _ in range(10):
        samples.append(sum(state == "Z" for state in states_in(namespace).values()))
        time.sleep(0.1)

    assert hung_calls(calls) >= 4
    # Without reaping, every orphan stays a zombie: at least 4 by now, and more each tick.
    # A zombie may show for the moment between its exit and its reaping, never for long.
    assert min(samples) == 0, f"zombies in the namespace: {samples}\n{loop.output}"
    # An orphan is reaped when it exits, which may be after the tick that hung on it has
    # logged its failure: waited for, not counted at a fixed moment.
    loop.wait_for("reaped orphaned process", count=3, timeout=60)


def test_pid1_keeps_the_exit_status_of_its_own_calls_while_it_reaps(
    as_pid1: tuple[Loop, str, Path],
) -> None:
    loop, _, _ = as_pid1
    loop.wait_for("reaped orphaned process", count=3, timeout=60)
    loop.wait_for("EMR query failed:", count=4, timeout=60)

    failures = [line for line in loop.lines if "EMR query failed:" in line]
    # Each failure is the AWS error the CLI printed and exited 254 with: had the reaper taken
    # the exit status, the runner would have seen no status (or an error) instead.
    assert all("AccessDeniedException" in line for line in failures), loop.output
    assert "Traceback" not in loop.output
