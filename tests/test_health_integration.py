"""The heartbeat a real controller leaves against moto, judged by the real `healthcheck`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import Loop, Stack
from tests.support.moto import executable


def healthcheck(heartbeat: Path) -> subprocess.CompletedProcess[str]:
    """`healthcheck` with no controller settings at all: it must need none but the file."""
    return subprocess.run(
        [executable("dynamodb-autoscaler-control"), "healthcheck"],
        env={"PATH": "/usr/bin:/bin", "HEARTBEAT_FILE": str(heartbeat)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_running_loop_is_healthy_and_its_interval_flag_sets_the_limit(
    stack: Stack, loops: list[Loop]
) -> None:
    stack.service(desired=1)
    heartbeat = Path(stack.env["HEARTBEAT_FILE"])
    loop = stack.start("--interval", "5")
    loops.append(loop)
    wait_for_file(heartbeat)

    result = healthcheck(heartbeat)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("healthy: last successful tick at ")
    assert "limit 45s (3 x 5s interval + 30s call timeout)" in result.stdout
    assert loop.terminate()[0] == 0


def test_a_failed_tick_leaves_no_beat_and_forgets_an_earlier_one(stack: Stack) -> None:
    stack.service(desired=1)
    heartbeat = Path(stack.env["HEARTBEAT_FILE"])
    assert stack.run("--once").returncode == 0
    assert healthcheck(heartbeat).returncode == 0

    # As after a container restart (its /tmp kept) whose first tick fails.
    failed = stack.run("--once", AUTOSCALER_SERVICE="no-such-service")
    result = healthcheck(heartbeat)

    assert failed.returncode == 1
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"unhealthy: no successful tick yet: no heartbeat file at {heartbeat}\n"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            {"last_tick": time.time() - 3600, "interval": 60, "call_timeout": 30},
            "unhealthy: stale: last successful tick at ",
        ),
        ("not a heartbeat", "unhealthy: the heartbeat file {path} is unreadable: "),
        (None, "unhealthy: cannot read the heartbeat file {path}: "),
    ],
    ids=["stale", "garbage", "unreadable"],
)
def test_healthcheck_exits_1_with_the_reason(tmp_path: Path, content: object, reason: str) -> None:
    path = tmp_path / "heartbeat"
    if content is None:
        path.mkdir()
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))

    result = healthcheck(path)

    assert result.returncode == 1
    assert result.stderr.startswith(reason.format(path=path)), result.stderr


def test_a_heartbeat_file_in_a_missing_directory_is_a_configuration_error(stack: Stack) -> None:
    result = stack.run("--once", HEARTBEAT_FILE=str(stack.tmp / "no-such-dir" / "heartbeat"))

    assert result.returncode == 2
    assert "HEARTBEAT_FILE: the directory of" in result.stderr
