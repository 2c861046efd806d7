"""Start-up stays lean: each run imports only what it needs (docs/performance.md).

What a run imported is read from `python -X importtime`, which names every module the first
time it is imported. No timing is asserted here; scripts/bench measures the cost.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.moto import (
    ACCOUNT,
    CLUSTER,
    REGION,
    SERVICE,
    controller_env,
    executable,
    free_port,
)

SERVICE_JSON = {
    "services": [
        {
            "serviceName": SERVICE,
            "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
            "desiredCount": 1,
            "runningCount": 1,
            "pendingCount": 0,
            "status": "ACTIVE",
            "tags": [],
        }
    ],
    "failures": [],
}

NOT_FOR_THE_HEALTHCHECK = [
    "sh",  # and asyncio with it
    "asyncio",
    "tenacity",
    "controller.aws",
    "controller.loop",
    "controller.decide",
    # The settings import the sources of backups, which the check has no use for.
    "controller.config",
    "controller.settings",
    "controller.sources",
]


def imported(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules `python -m controller ARGS` imports; it must exit 0."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "controller", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"imported package"}


def instant_cli(tmp_path: Path) -> Path:
    """A stand-in CLI that answers the two queries of an ECS-mode tick at once."""
    cli = tmp_path / "aws"
    cli.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        """emr) echo '{"Clusters": []}' ;;\n"""
        f"ecs) echo '{json.dumps(SERVICE_JSON)}' ;;\n"
        "*) exit 255 ;;\n"
        "esac\n"
    )
    cli.chmod(0o755)
    return cli


def instant_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The settings of an ECS-mode controller whose CLI is the instant stand-in."""
    return controller_env(
        "http://127.0.0.1:9",
        tmp_path / "home",
        AWS_CLI=str(instant_cli(tmp_path)),
        HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
        **extra,
    )


def test_a_tick_without_a_retry_imports_neither_the_health_check_nor_tenacity(
    tmp_path: Path,
) -> None:
    env = instant_env(tmp_path)

    modules = imported(["--once"], env)

    assert "controller.loop" in modules, "the tick did not run"
    assert (tmp_path / "heartbeat").exists(), "the tick did not succeed"
    assert "controller.runtime.health" not in modules
    assert "tenacity" not in modules  # imported at the first retry (controller/aws.py)


def test_the_healthcheck_imports_neither_the_cli_runner_nor_the_rule(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    beat = {"last_tick": time.time(), "interval": 60.0, "call_timeout": 30.0}
    heartbeat.write_text(json.dumps(beat))
    # Nothing but the heartbeat file: the check needs no other setting.
    env = {"PATH": "/usr/bin:/bin", "HEARTBEAT_FILE": str(heartbeat)}

    modules = imported(["healthcheck"], env)

    assert "controller.runtime.health" in modules
    assert sorted(modules & set(NOT_FOR_THE_HEALTHCHECK)) == []


def run_once(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = instant_env(tmp_path, **extra)
    return subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--once", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [(), ("--dry-run",)], ids=["once", "dry-run"])
def test_a_misspelled_setting_is_named_with_the_one_meant(tmp_path: Path, args: tuple[str]) -> None:
    # Native mode silently off, and a 5 s interval silently 60 s, is what a typo cost before.
    run = run_once(tmp_path, *args, DYNAMODB_TABLE_PREFX="orders-", POLL_INTERVALL="5")

    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 2, run.stderr
    assert (
        "DYNAMODB_TABLE_PREFX is not a setting; did you mean DYNAMODB_TABLE_PREFIX?"
        in (warnings[0])
    )
    assert "POLL_INTERVALL is not a setting; did you mean POLL_INTERVAL?" in warnings[1]
    # And the start-up line says which modes are on: native mode is not.
    (start,) = [line for line in run.stderr.splitlines() if "pausing" in line]
    assert "(ECS mode)" in start


def test_the_start_up_line_names_every_mode_on(tmp_path: Path) -> None:
    run = run_once(tmp_path, HTTP_PORT=str(free_port()), HTTP_ADDRESS="127.0.0.1")

    assert run.returncode == 0, run.stderr
    assert "(ECS mode, circuit-breaker mode)" in run.stderr


def handler_installed(pid: int) -> bool:
    """Whether the process catches SIGTERM yet: bit 15 of SigCgt in /proc/PID/status."""
    status = Path(f"/proc/{pid}/status").read_text()
    (caught,) = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    return bool(int(caught, 16) >> (signal.SIGTERM - 1) & 1)


# After the handler is in, a SIGTERM at any later moment: while importing, reading the
# settings, starting the pool, in the first tick, or in the wait for the next one.
@pytest.mark.parametrize("after", [0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64])
def test_sigterm_at_any_moment_of_start_up_exits_0_without_a_traceback(
    tmp_path: Path, after: float
) -> None:
    env = instant_env(tmp_path)
    proc = subprocess.Popen(
        [executable("dynamodb-autoscaler-control")],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The interpreter's own boot comes before any handler can be: wait for it, not a time.
        while proc.poll() is None and not handler_installed(proc.pid):
            os.sched_yield()
        time.sleep(after)  # the moment under test, not a wait for something to happen
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_a_sigterm_sent_before_exec_is_acted_on_at_the_first_moment_it_can_be(
    tmp_path: Path,
) -> None:
    # Started with SIGTERM blocked, as a launcher may leave it, the signal waits from before
    # exec until the controller takes it: the earliest moment a Python program can.
    env = instant_env(tmp_path)

    # A launcher that blocks SIGTERM, sends it to itself, then execs the controller.
    launcher = (
        "import os, signal, sys; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM]); "
        "os.kill(os.getpid(), signal.SIGTERM); os.execv(sys.argv[1], sys.argv[1:])"
    )
    command = executable("dynamodb-autoscaler-control")
    run = subprocess.run(
        [sys.executable, "-c", launcher, command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert "SIGTERM during start-up; exiting" in run.stderr
    assert "pausing" not in run.stderr, "it went on to start"
