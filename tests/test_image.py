"""The container image, as far as it can be checked without building it.

Its command lines are read from the Dockerfile and run on the host against moto: the
entrypoint as PID 1 of a new PID namespace (what it is in a container), `--once`, and the
HEALTHCHECK command. The static parts are checked as BuildKit and the Docker SDK read them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from docker.utils.build import exclude_paths

from tests.conftest import Loop, Stack
from tests.support.image import (
    ROOT,
    exec_form,
    healthcheck_command,
    instruction,
    instructions,
    on_host,
    run_command,
)

# --kill-child: a failed test that kills unshare takes its PID 1 down with it.
PID_NAMESPACE = ["unshare", "--pid", "--mount-proc", "--kill-child"]


def pid_namespaces_work() -> str:
    """'' when this machine can start a PID namespace, else why not."""
    try:
        done = subprocess.run(
            [*PID_NAMESPACE, "true"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as error:
        return str(error)
    return "" if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"


needs_pid_namespace = pytest.mark.skipif(
    bool(why := pid_namespaces_work()),
    reason=f"cannot create a PID namespace here (needs root or user namespaces): {why}",
)


def start_as_pid_1(argv: list[str], env: dict[str, str], log: Path) -> tuple[Loop, int]:
    """Run argv as PID 1 of a new PID namespace; return it and its pid as seen from here."""
    loop = Loop(
        subprocess.Popen(
            [*PID_NAMESPACE, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
        log,
    )
    children = Path(f"/proc/{loop.process.pid}/task/{loop.process.pid}/children")
    deadline = time.monotonic() + 30
    while not children.read_text().split():
        assert time.monotonic() < deadline, "unshare did not start its child"
        time.sleep(0.01)
    init = int(children.read_text().split()[0])
    nspid = status(init)["NSpid"].split()
    assert nspid[-1] == "1", f"not PID 1 in its namespace: NSpid {nspid}"
    return loop, init


def status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def zombie_children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            fields = status(int(proc.name)) if proc.name.isdigit() else {}
        except OSError:
            continue  # exited while we looked
        if fields.get("PPid") == str(pid) and fields.get("State", "").startswith("Z"):
            found.append(int(proc.name))
    return found


@needs_pid_namespace
def test_entrypoint_as_pid_1_exits_0_within_2s_on_sigterm(stack: Stack, loops: list[Loop]) -> None:
    stack.service(desired=1)
    loop, init = start_as_pid_1(run_command(), stack.env, stack.tmp / "pid1.log")
    loops.append(loop)
    loop.wait_for("action: no change")
    assert zombie_children(init) == [], "PID 1 left a finished aws call unreaped"

    started = time.monotonic()
    os.kill(init, signal.SIGTERM)
    code = loop.process.wait(10)
    elapsed = time.monotonic() - started

    assert code == 0, loop.output
    assert elapsed < 2, f"took {elapsed:.1f}s to exit"
    assert "received SIGTERM" in loop.output
    assert "shutdown requested; exiting" in loop.output


@needs_pid_namespace
def test_pid_1_without_a_handler_would_ignore_sigterm(tmp_path: Path, loops: list[Loop]) -> None:
    """The trap the test above proves the controller avoids, shown on a program without one.

    The kernel applies no default action to PID 1, so SIGTERM kills it only through a
    handler it installed. Python installs one for SIGINT only; the controller adds SIGTERM.
    """
    loop, init = start_as_pid_1(["sleep", "60"], dict(os.environ), tmp_path / "sleep.log")
    loops.append(loop)

    os.kill(init, signal.SIGTERM)

    with pytest.raises(subprocess.TimeoutExpired):
        loop.process.wait(1)


def test_docker_run_once_then_the_healthcheck_passes(stack: Stack) -> None:
    stack.service(desired=0)

    once = subprocess.run(
        run_command("--once"), env=stack.env, capture_output=True, text=True, check=False
    )
    health = subprocess.run(
        on_host(healthcheck_command()), env=stack.env, capture_output=True, text=True, check=False
    )

    assert once.returncode == 0, once.stderr
    assert stack.desired() == 1
    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith("healthy: last successful tick at ")


def test_final_stage_runs_the_controller_as_non_root() -> None:
    user = instruction("USER").value[0].split(":")[0]
    assert user not in ("root", "0")
    assert exec_form("ENTRYPOINT") == ["dynamodb-autoscaler-control"]
    assert exec_form("CMD") == [], "arguments after the image name must reach the controller"
    assert healthcheck_command() == ["dynamodb-autoscaler-control", "healthcheck"]


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    # The filter docker-py applies to .dockerignore before exclude_paths.
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    context = exclude_paths(str(ROOT), patterns)

    copied = [
        source
        for command in instructions()
        if command.cmd.upper() == "COPY"
        if not any(flag.startswith("--from=") for flag in command.flags)
        for source in command.value[:-1]
    ]
    assert copied, "the Dockerfile copies nothing from the build context"
    for source in copied:
        assert source.rstrip("/") in context, f"{source} is excluded by .dockerignore"
    for private in (".venv", ".git", "tests", "deploy", "scripts"):
        assert not any(path.split("/")[0] == private for path in context), private
