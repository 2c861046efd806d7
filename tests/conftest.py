"""Fixtures: one moto_server per test session, reset before each test that uses it."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.iam import Enforced
from tests.support.moto import (
    CLUSTER,
    SERVICE,
    MotoServer,
    World,
    controller_env,
    executable,
)

FAKE_AWS = Path(__file__).parent / "support" / "fake_aws.py"
# Debian's AWS CLI v2, which scripts/test installs when it runs as root with apt-get.
AWS_CLI_V2 = os.environ.get("TEST_AWS_CLI_V2", "/usr/bin/aws")
# Opt-in per module (`pytestmark = EVERY_AWS_CLI`): its tests run once with each CLI.
EVERY_AWS_CLI = pytest.mark.parametrize("aws_cli", ["v1", "v2"], indirect=True)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def enforced() -> Iterator[Enforced]:
    """A moto_server of the module's own that checks every call against IAM, with an
    administrator (tests/support/iam.py)."""
    with Enforced.started() as server:
        yield server


@functools.cache
def cli_version(path: str) -> str:
    """What `aws --version` says, e.g. 'aws-cli/2.9.19 Python/3.11.2 ...'; '' if it cannot run."""
    try:
        done = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return ""
    return (done.stdout + done.stderr).strip()


@pytest.fixture
def aws_cli(request: pytest.FixtureRequest) -> str:
    """The aws CLI the controller runs: v1 from the venv, unless the module asks for both."""
    if getattr(request, "param", "v1") == "v1":
        return executable("aws")
    if not cli_version(AWS_CLI_V2).startswith("aws-cli/2."):
        pytest.skip(
            f"no AWS CLI v2 at {AWS_CLI_V2}: scripts/test installs Debian's awscli when it runs "
            "as root with apt-get (or set TEST_AWS_CLI_V2 to a v2 CLI)"
        )
    return AWS_CLI_V2


class Stack:
    """The local AWS plus the installed controller, run as a user would run it."""

    def __init__(self, server: MotoServer, tmp: Path, aws_cli: str | None = None) -> None:
        aws_cli = aws_cli or executable("aws")  # v1 from the venv, as the aws_cli fixture
        self.server = server
        self.tmp = tmp
        self.aws_cli = aws_cli
        self.world = World(server.url)
        self.calls_file = tmp / "calls.jsonl"
        self.env = controller_env(
            server.url,
            tmp / "home",
            AWS_CLI=aws_cli,
            HEARTBEAT_FILE=str(tmp / "heartbeat"),
        )
        self.command = executable("dynamodb-autoscaler-control")

    # --- AWS state -------------------------------------------------------------------
    def service(self, desired: int) -> str:
        return self.world.create_service(CLUSTER, SERVICE, desired)

    def desired(self) -> int:
        return self.world.desired(CLUSTER, SERVICE)

    def tags(self) -> dict[str, str]:
        return self.world.service_tags(CLUSTER, SERVICE)

    def age_records(self) -> int:
        """The service's records an hour old (World.age_records)."""
        return self.world.age_records(CLUSTER, SERVICE)

    # --- the CLI double --------------------------------------------------------------
    def fake_aws(self, plan: dict[str, Any] | None = None) -> None:
        """Route the controller's CLI calls through the recording, fault-injecting double."""
        plan_file = self.tmp / "plan.json"
        plan_file.write_text(json.dumps(plan or {}))
        self.env.update(
            AWS_CLI=str(FAKE_AWS),
            FAKE_AWS_PLAN=str(plan_file),
            FAKE_AWS_CALLS=str(self.calls_file),
            FAKE_AWS_REAL=self.aws_cli,
        )

    def calls(self) -> list[list[str]]:
        if not self.calls_file.exists():
            return []
        return [json.loads(line) for line in self.calls_file.read_text().splitlines()]

    def operations(self) -> list[str]:
        return [" ".join(call[:2]) for call in self.calls()]

    # --- the controller --------------------------------------------------------------
    def run(self, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, *args],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self, *args: str, **env: str) -> Loop:
        return Loop(
            subprocess.Popen(
                [self.command, *args],
                env={**self.env, **env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
            self.tmp / "loop.log",
        )


class Loop:
    """A controller running its loop in the background, its output collected to a file."""

    def __init__(self, process: subprocess.Popen[str], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self.lines: list[str] = []

        def pump() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                self.lines.append(line)

        self._pump = threading.Thread(target=pump, daemon=True)
        self._pump.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30, count: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.output.count(text) >= count:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not seen {count}x; output:\n{self.output}")

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        """Send `sig`; return the exit status and how long the process took to exit."""
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        elapsed = time.monotonic() - started
        self._pump.join(5)
        return code, elapsed

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def processes_using(marker: str) -> list[int]:
    """Pids whose environment mentions `marker` (the fake CLI carries its calls-file path)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "environ").read_bytes():
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


@pytest.fixture
def stack(moto_server: MotoServer, tmp_path: Path, aws_cli: str) -> Iterator[Stack]:
    moto_server.reset()
    s = Stack(moto_server, tmp_path, aws_cli)
    yield s


@pytest.fixture
def loops() -> Iterator[list[Loop]]:
    """Loops started by a test; killed at the end so that a failed test leaks no process."""
    started: list[Loop] = []
    yield started
    for loop in started:
        loop.kill()


# Tests known to take the longest (`pytest --durations`, on 2 busy cores), longest first, as
# prefixes of their ids. Under pytest-xdist they start first, so that no long test is left
# to run alone at the end while the other workers idle; the rest follow, integration tests
# before the quick unit tests that fill the gaps at the end.
LONG_FIRST = (
    "tests/test_two_controllers_integration.py::test_two_loops_on_one_table",  # 130 s
    "tests/test_records_model.py::test_three_controllers[table",  # 120 s
    "tests/test_two_controllers_integration.py",  # 85-95 s each
    "tests/test_batch_integration.py::test_twenty_tables",  # 80 s
    "tests/test_records_model.py::test_two_backups_in_a_row[table]",  # 70 s
    "tests/test_records_model.py::test_two_controllers_one_dying_lose_no_record[table]",
    "tests/test_soak.py",  # 65 s
    "tests/test_records_model.py::test_a_rolling_deploy",  # 60 s (table), 12 s (ecs)
    "tests/test_sources_integration.py::test_thirty_matching_glue_jobs",  # 60 s
    "tests/test_demo.py",  # about two of its 20 s POLL_INTERVAL
    "tests/test_records_model.py",  # 15-30 s each
    "tests/test_iam_",  # a server of their own each, 10-25 s a test
    "tests/test_http_iam_integration.py",
)


def _rank(item: pytest.Item) -> tuple[int, int]:
    for index, prefix in enumerate(LONG_FIRST):
        if item.nodeid.startswith(prefix):
            return 0, index
    slow = {"integration", "model", "soak"} & {mark.name for mark in item.iter_markers()}
    return (1 if slow else 2), 0


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    # The suite is mostly CPU (each CLI call is about half a second of it), but a fifth of it
    # waits: on ticks, timeouts, a server starting. One spare worker fills those waits (9.5
    # minutes on 2 cores, not 13); more starve the tests that time their ticks.
    return len(os.sched_getaffinity(0)) + 1


# tryfirst: before pytest-xdist's own hook reads the xdist_group marks.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if {"stack", "enforced"} & fixtures:
            item.add_marker(pytest.mark.integration)
        if "enforced" in fixtures:
            # The module's own server (module scope): with --dist loadgroup one worker runs
            # all of the module's tests, so it starts that server once, not once per worker.
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))
    # Only in an xdist worker (which collects, and whose order the scheduler follows): a
    # plain run (-n 0) keeps the files' order. sort() is stable: a module's tests keep theirs.
    if hasattr(config, "workerinput"):
        items.sort(key=_rank)
