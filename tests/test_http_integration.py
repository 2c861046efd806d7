"""The HTTP endpoints of a running controller against moto, through a pause and a resume."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from tests.conftest import Loop, Stack
from tests.support.http import eventually, get, samples, value
from tests.support.moto import CLUSTER, PREFIX, SERVICE, free_port

M = "dynamodb_autoscaler_control"
ECS_TARGET = f"ecs:{CLUSTER}/{SERVICE}"


def start(stack: Stack, loops: list[Loop], **env: str) -> int:
    port = free_port()
    loop = stack.start(HTTP_PORT=str(port), HTTP_ADDRESS="127.0.0.1", **env)
    loops.append(loop)
    loop.wait_for(f"serving /metrics, /healthz and /circuit-breaker on 127.0.0.1 port {port}")
    return port


def test_the_endpoints_follow_a_pause_and_a_resume(stack: Stack, loops: list[Loop]) -> None:
    stack.service(desired=2)
    backup = stack.world.start_cluster(f"{PREFIX}orders")
    port = start(stack, loops, POLL_INTERVAL="0.2")
    loop = loops[0]

    loop.wait_for("pause: desired 2 -> 0")
    eventually(lambda: get(port, "/healthz")[0] == 200, what="healthy after a tick")
    found = samples(port)
    assert value(found, f"{M}_paused", autoscaler=ECS_TARGET) == 1
    assert value(found, f"{M}_paused", autoscaler="circuit-breaker") == 1
    assert value(found, f"{M}_changes_total", verb="pause", outcome="done") == 1
    assert value(found, f"{M}_backups", kind="EMR cluster") == 1
    assert value(found, f"{M}_oldest_backup_age_seconds") > 0, "moto's real creation time"
    update = {"operation": "ecs update-service", "outcome": "ok"}
    assert value(found, f"{M}_aws_cli_calls_total", **update) == 1
    status, text = get(port, "/circuit-breaker")
    assert status == 503
    assert text.startswith(f"wait: backup active: EMR cluster {PREFIX}orders ({backup}, WAITING)")

    stack.world.terminate_cluster(backup)
    loop.wait_for("resume: desired 0 -> 2")
    eventually(lambda: get(port, "/circuit-breaker")[0] == 200, what="the breaker closes")
    found = samples(port)
    assert value(found, f"{M}_paused", autoscaler=ECS_TARGET) == 0
    assert value(found, f"{M}_changes_total", verb="resume", outcome="done") == 1
    assert value(found, f"{M}_backups", kind="EMR cluster") == 0
    assert value(found, f"{M}_oldest_backup_age_seconds") == 0
    ticks = value(found, f"{M}_ticks_total", outcome="ok")
    # A steady tick is two calls, one per query; the pause and resume added two and two.
    reads = sum(
        value(found, f"{M}_aws_cli_calls_total", operation=op, outcome="ok")
        for op in ("emr list-clusters", "ecs describe-services")
    )
    assert ticks <= reads / 2 <= ticks + 1
    assert get(port, "/circuit-breaker") == (200, "scale: no backup active\n")
    assert get(port, "/nothing-here")[0] == 404
    assert stack.desired() == 2

    # SIGTERM still ends the process promptly, even with a client holding a connection open.
    with socket.create_connection(("127.0.0.1", port)):
        code, elapsed = loop.terminate()
    assert code == 0
    assert elapsed < 2, elapsed
    assert "GET /metrics" not in loop.output, "requests are logged at debug level only"


def test_circuit_breaker_mode_waits_out_the_resume_delay(stack: Stack, loops: list[Loop]) -> None:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.fake_aws()  # pass-through, to record which calls the controller makes
    backup = stack.world.start_cluster(f"{PREFIX}orders")
    port = start(stack, loops, POLL_INTERVAL="0.2", RESUME_DELAY="3")
    loop = loops[0]
    loop.wait_for("pausing an autoscaler that polls /circuit-breaker on port")

    eventually(lambda: get(port, "/circuit-breaker")[1].startswith("wait: backup active"))
    assert get(port, "/circuit-breaker")[0] == 503
    assert value(samples(port), f"{M}_paused", autoscaler="circuit-breaker") == 1

    stack.world.terminate_cluster(backup)
    eventually(lambda: "resume pending" in get(port, "/circuit-breaker")[1], what="pending")
    assert get(port, "/circuit-breaker")[0] == 503
    eventually(lambda: get(port, "/circuit-breaker")[0] == 200, what="the delay passed")
    assert get(port, "/circuit-breaker")[1] == "scale: no backup active\n"
    assert value(samples(port), f"{M}_paused", autoscaler="circuit-breaker") == 0
    assert get(port, "/healthz")[0] == 200

    code, _ = loop.terminate()
    assert code == 0
    assert set(stack.operations()) == {"emr list-clusters"}, "EMR is all this mode reads"
    assert "action: no change" in loop.output


def test_the_breaker_waits_for_a_backup_seen_and_names_the_source_it_cannot_read(
    stack: Stack, loops: list[Loop]
) -> None:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.env["GLUE_JOB_PREFIX"] = "dynamodb-export-"
    stack.fake_aws(
        {
            "glue list-jobs": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (AccessDeniedException) when calling the ListJobs "
                "operation: User is not authorized to perform: glue:ListJobs",
            }
        }
    )
    backup = stack.world.start_cluster(f"{PREFIX}orders")
    port = start(stack, loops, POLL_INTERVAL="0.2")

    eventually(lambda: get(port, "/circuit-breaker")[1].startswith("wait: backup"), what="seen")
    assert get(port, "/circuit-breaker") == (
        503,
        f"wait: backup active: EMR cluster {PREFIX}orders ({backup}, WAITING); "
        "Glue state unknown\n",
    )

    stack.world.terminate_cluster(backup)
    eventually(
        lambda: get(port, "/circuit-breaker") == (503, "wait: Glue state unknown\n"),
        what="still waiting on Glue",
    )
    found = samples(port)
    assert value(found, f"{M}_paused", autoscaler="circuit-breaker") == 1
    assert value(found, f"{M}_ticks_total", outcome="ok") == 0, "every tick failed"
    assert get(port, "/healthz")[0] == 503

    code, _ = loops[0].terminate()
    assert code == 0


def listening_ports(pid: int) -> set[int]:
    """TCP ports the process listens on, from its socket inodes and /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_without_http_port_nothing_listens_and_nothing_extra_loads(
    stack: Stack, loops: list[Loop]
) -> None:
    stack.service(desired=1)
    loop = stack.start("--interval", "0.2")
    loops.append(loop)
    loop.wait_for("action:", count=2)
    assert listening_ports(loop.process.pid) == set()
    loop.terminate()

    with_port = start(stack, loops, POLL_INTERVAL="0.2")
    loops[-1].wait_for("action:")
    assert listening_ports(loops[-1].process.pid) == {with_port}
    loops[-1].terminate()

    # The same --once run, in an interpreter that says what it imported.
    probe = (
        "import sys; from controller.cli import main; code = main(['--once']); "
        "sys.stdout.write(' '.join(sorted(m for m in sys.modules if 'prometheus' in m "
        "or m in ('http.server', 'controller.http.server', 'controller.http.metrics')))); "
        "sys.exit(code)"
    )
    python = str(Path(stack.command).parent / "python")
    done = subprocess.run(
        [python, "-c", probe], env=stack.env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_sigterm_before_the_first_tick_ends_with_the_server_running(
    stack: Stack, loops: list[Loop]
) -> None:
    # Every CLI call hangs: the process sits in its first tick with the server up.
    stack.fake_aws({"emr list-clusters": {"hang": True}, "ecs describe-services": {"hang": True}})
    port = start(stack, loops)
    assert get(port, "/circuit-breaker") == (503, "wait: no tick yet: the EMR state is unknown\n")
    assert get(port, "/healthz")[0] == 503

    code, elapsed = loops[0].terminate(signal.SIGTERM)

    assert code == 0
    assert elapsed < 2, elapsed
