"""How the process behaves as a program: exit codes, configuration errors, signals."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Loop, Stack, processes_using
from tests.support.http import eventually
from tests.support.moto import PREFIX


def hanging(marker: str) -> bool:
    """Whether the CLI double that carries `marker` sleeps in the child it hangs on."""
    for pid in processes_using(marker):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0"):
                return True
        except OSError:
            pass  # it exited between the listing and the read
    return False


def test_configuration_errors_name_every_bad_setting_before_any_aws_call(stack: Stack) -> None:
    stack.fake_aws()
    env = {**stack.env, "EMR_REGION": "mars-1", "POLL_INTERVAL": "soon"}
    del env["EMR_PREFIX"], env["AUTOSCALER_SERVICE"]
    stack.env = env

    result = stack.run()

    assert result.returncode == 2
    for name in ("EMR_PREFIX", "AUTOSCALER_SERVICE", "EMR_REGION", "POLL_INTERVAL"):
        assert name in result.stderr
    assert "error: bad configuration" in result.stderr
    assert stack.calls() == []


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ((), {"EMR_PREFIX": ""}),
        (("--interval", "0"), {}),
        (("--interval", "-5"), {}),
        ((), {"POLL_INTERVAL": "nan"}),
        ((), {"DRY_RUN": "maybe"}),
        ((), {"AWS_CLI": "/nonexistent/aws"}),
    ],
)
def test_each_bad_setting_exits_2(stack: Stack, args: tuple[str, ...], env: dict[str, str]) -> None:
    result = stack.run("--once", *args, **env)

    assert result.returncode == 2, result.stderr
    assert "bad configuration" in result.stderr
    setting = next(iter(env), "--interval")
    assert setting in result.stderr


def test_unknown_flag_exits_2_with_usage(stack: Stack) -> None:
    result = stack.run("--onse")

    assert result.returncode == 2
    assert "usage: dynamodb-autoscaler-control" in result.stderr


def test_version_and_help(stack: Stack) -> None:
    version = stack.run("--version")
    helped = stack.run("--help")

    assert version.returncode == 0
    assert version.stdout.startswith("dynamodb-autoscaler-control 1.")
    assert helped.returncode == 0
    for flag in ("--once", "--interval", "--dry-run", "--version"):
        assert flag in helped.stdout


def test_python_m_controller_is_the_same_program(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "controller", "--version"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert result.stdout.startswith("dynamodb-autoscaler-control 1.")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_sleep_exits_0_at_once(
    stack: Stack, loops: list[Loop], sig: signal.Signals
) -> None:
    stack.service(desired=1)
    loop = stack.start("--interval", "60")
    loops.append(loop)
    loop.wait_for("action: no change")

    code, elapsed = loop.terminate(sig)

    assert code == 0, loop.output
    assert elapsed < 2, f"took {elapsed:.1f}s to exit"
    assert "shutdown requested; exiting" in loop.output


def test_sigterm_during_a_hung_query_stops_it_and_exits_0(stack: Stack, loops: list[Loop]) -> None:
    stack.service(desired=0)
    stack.fake_aws({"emr list-clusters": {"hang": True}})
    loop = stack.start("--interval", "60", DEBUG_OUTPUT="1")
    loops.append(loop)
    loop.wait_for("running aws emr list-clusters")
    # In flight once the double has started the child it hangs on: on a busy machine the
    # CLI can take longer than any fixed wait to get there.
    eventually(lambda: hanging(str(stack.calls_file)), what="the query hangs")

    code, elapsed = loop.terminate()

    assert code == 0, loop.output
    assert elapsed < 2, f"took {elapsed:.1f}s to exit"
    assert "stopped its queries, changed nothing" in loop.output
    assert stack.desired() == 0
    assert processes_using(str(stack.calls_file)) == [], "the hung CLI was left running"


def test_loop_keeps_going_after_an_aws_error(stack: Stack, loops: list[Loop]) -> None:
    stack.service(desired=1)
    stack.fake_aws(
        {
            "emr list-clusters": {
                "fail": 1,
                "exit": 254,
                "stderr": "An error occurred (ValidationException) when calling the "
                "ListClusters operation: bad",
            }
        }
    )
    loop = stack.start("--interval", "0.2")
    loops.append(loop)
    loop.wait_for("EMR query failed")
    stack.world.start_cluster(f"{PREFIX}after-error")

    loop.wait_for("pause: desired 1 -> 0")

    assert stack.desired() == 0
    assert loop.terminate()[0] == 0
