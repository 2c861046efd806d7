"""Every setting, given bad or odd input: used exactly as given, or refused at start (exit 2).

Nothing in between: no setting is trimmed, guessed at or interpreted by a shell.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

from controller.cli import EXIT_CONFIG, main
from controller.config import load
from tests.conftest import Stack
from tests.support.moto import PREFIX, REGION, executable
from tests.test_config import env as config_env

VALID = {
    "EMR_PREFIX": "dynamodb-backup-",
    "EMR_REGION": "us-east-1",
    "AUTOSCALER_CLUSTER": "autoscaling",
    "AUTOSCALER_REGION": "eu-west-1",
    "AUTOSCALER_SERVICE": "dynamodb-autoscaler",
}
UNSET = None
SHELL = "b$(touch /tmp/pwned)`id`; rm -rf ~ | cat > /dev/null & echo *?[a] ~ #"
QUOTES = 'it\'s "quoted" \\ back'
UNICODE = "sauvegarde-été-备份-🙂"
YEAR = str(365 * 24 * 3600)


@dataclass(frozen=True)
class Used:
    """Accepted: the Config field that carries it, and the value it must have."""

    field: str
    value: object


REFUSED = None

TABLE: list[tuple[str, str | None, Used | None]] = [
    # The prefix is compared in Python and never reaches the CLI, so anything visible goes;
    # what would silently match nothing (and so resume during a backup) is refused.
    ("EMR_PREFIX", UNSET, REFUSED),
    ("EMR_PREFIX", "", REFUSED),
    ("EMR_PREFIX", "   ", REFUSED),
    ("EMR_PREFIX", " dynamodb-backup-", REFUSED),
    ("EMR_PREFIX", "dynamodb-backup- ", REFUSED),
    ("EMR_PREFIX", "dynamodb-backup-\n", REFUSED),
    ("EMR_PREFIX", "dynamodb\nbackup-", REFUSED),
    ("EMR_PREFIX", "dynamodb\tbackup-", REFUSED),
    ("EMR_PREFIX", "\ufeffdynamodb-backup-", REFUSED),
    ("EMR_PREFIX", "dynamodb\u200bbackup-", REFUSED),
    ("EMR_PREFIX", "x" * 10_000, REFUSED),
    ("EMR_PREFIX", "x" * 257, REFUSED),
    ("EMR_PREFIX", "x" * 256, Used("EMR.prefix", "x" * 256)),
    ("EMR_PREFIX", SHELL, Used("EMR.prefix", SHELL)),
    ("EMR_PREFIX", QUOTES, Used("EMR.prefix", QUOTES)),
    ("EMR_PREFIX", UNICODE, Used("EMR.prefix", UNICODE)),
    ("EMR_PREFIX", "backup *", Used("EMR.prefix", "backup *")),
    ("EMR_PREFIX", "-backup", Used("EMR.prefix", "-backup")),
    ("EMR_PREFIX", "file://backup", Used("EMR.prefix", "file://backup")),
    # Regions: the AWS shape, exactly.
    ("EMR_REGION", UNSET, REFUSED),
    ("EMR_REGION", "", REFUSED),
    ("EMR_REGION", " ", REFUSED),
    ("EMR_REGION", "us-east-1 ", REFUSED),
    ("EMR_REGION", "us-east-1\n", REFUSED),
    ("EMR_REGION", "US-EAST-1", REFUSED),
    ("EMR_REGION", "us-east-\u0661", REFUSED),  # an Arabic-Indic digit one
    ("EMR_REGION", "us-east-1;id", REFUSED),
    ("EMR_REGION", "12345", REFUSED),
    ("EMR_REGION", "x" * 10_000, REFUSED),
    ("EMR_REGION", "us-gov-west-1", Used("emr_region", "us-gov-west-1")),
    ("AUTOSCALER_REGION", UNSET, REFUSED),
    ("AUTOSCALER_REGION", "eu-west-1'", REFUSED),
    ("AUTOSCALER_REGION", "ap-southeast-2", Used("ecs.region", "ap-southeast-2")),
    # ECS names go to the CLI as one argument each, exactly as given; ECS decides whether
    # they exist. Refused: what the CLI itself would not pass on as a name.
    ("AUTOSCALER_CLUSTER", UNSET, REFUSED),
    ("AUTOSCALER_CLUSTER", "", REFUSED),
    ("AUTOSCALER_CLUSTER", " \t ", REFUSED),
    ("AUTOSCALER_CLUSTER", "autoscaling ", REFUSED),
    ("AUTOSCALER_CLUSTER", "auto\nscaling", REFUSED),
    ("AUTOSCALER_CLUSTER", "x" * 10_000, REFUSED),
    ("AUTOSCALER_CLUSTER", "--debug", REFUSED),
    ("AUTOSCALER_CLUSTER", "file:///etc/passwd", REFUSED),
    ("AUTOSCALER_CLUSTER", "fileb://cluster", REFUSED),
    ("AUTOSCALER_CLUSTER", "https://example.com/cluster", REFUSED),
    ("AUTOSCALER_CLUSTER", SHELL, Used("ecs.cluster", SHELL)),
    ("AUTOSCALER_CLUSTER", UNICODE, Used("ecs.cluster", UNICODE)),
    ("AUTOSCALER_CLUSTER", "x" * 2048, Used("ecs.cluster", "x" * 2048)),
    (
        "AUTOSCALER_CLUSTER",
        "arn:aws:ecs:eu-west-1:123456789012:cluster/autoscaling",
        Used("ecs.cluster", "arn:aws:ecs:eu-west-1:123456789012:cluster/autoscaling"),
    ),
    ("AUTOSCALER_SERVICE", UNSET, REFUSED),
    ("AUTOSCALER_SERVICE", "", REFUSED),
    ("AUTOSCALER_SERVICE", "svc\r", REFUSED),
    ("AUTOSCALER_SERVICE", "-svc", REFUSED),
    ("AUTOSCALER_SERVICE", "http://svc", REFUSED),
    ("AUTOSCALER_SERVICE", QUOTES, Used("ecs.service", QUOTES)),
    ("AUTOSCALER_SERVICE", "a,b", Used("ecs.service", "a,b")),
    # Seconds between ticks: plain decimal, above 0, at most a day.
    ("POLL_INTERVAL", "", REFUSED),
    ("POLL_INTERVAL", " ", REFUSED),
    ("POLL_INTERVAL", " 60", REFUSED),
    ("POLL_INTERVAL", "60s", REFUSED),
    ("POLL_INTERVAL", "sixty", REFUSED),
    ("POLL_INTERVAL", "1e3", REFUSED),
    ("POLL_INTERVAL", "1_0", REFUSED),
    ("POLL_INTERVAL", "\u0666\u0660", REFUSED),  # 60 in Arabic-Indic digits
    ("POLL_INTERVAL", "0", REFUSED),
    ("POLL_INTERVAL", "0.0", REFUSED),
    ("POLL_INTERVAL", "-5", REFUSED),
    ("POLL_INTERVAL", "nan", REFUSED),
    ("POLL_INTERVAL", "inf", REFUSED),
    ("POLL_INTERVAL", YEAR, REFUSED),
    ("POLL_INTERVAL", "86401", REFUSED),
    ("POLL_INTERVAL", "9" * 10_000, REFUSED),
    ("POLL_INTERVAL", UNSET, Used("interval", 60.0)),
    ("POLL_INTERVAL", "0.2", Used("interval", 0.2)),
    ("POLL_INTERVAL", ".5", Used("interval", 0.5)),
    ("POLL_INTERVAL", "86400", Used("interval", 86400.0)),
    ("--interval", "0", REFUSED),
    ("--interval", "-1", REFUSED),
    ("--interval", YEAR, REFUSED),
    ("--interval", "", REFUSED),
    ("--interval", "30", Used("interval", 30.0)),
    # Per-call timeout: from 1 s (a CLI cannot even start in less) to an hour.
    ("CALL_TIMEOUT", "", REFUSED),
    ("CALL_TIMEOUT", "0", REFUSED),
    ("CALL_TIMEOUT", "0.5", REFUSED),
    ("CALL_TIMEOUT", "-1", REFUSED),
    ("CALL_TIMEOUT", "3601", REFUSED),
    ("CALL_TIMEOUT", "ten", REFUSED),
    ("CALL_TIMEOUT", UNSET, Used("call_timeout", 30.0)),
    ("CALL_TIMEOUT", "1", Used("call_timeout", 1.0)),
    ("CALL_TIMEOUT", "2.5", Used("call_timeout", 2.5)),
    # Attempts per call: a whole number from 1 to 20.
    ("CALL_ATTEMPTS", "", REFUSED),
    ("CALL_ATTEMPTS", " 3", REFUSED),
    ("CALL_ATTEMPTS", "0", REFUSED),
    ("CALL_ATTEMPTS", "-1", REFUSED),
    ("CALL_ATTEMPTS", "+3", REFUSED),
    ("CALL_ATTEMPTS", "2.5", REFUSED),
    ("CALL_ATTEMPTS", "three", REFUSED),
    ("CALL_ATTEMPTS", "\u0663", REFUSED),
    ("CALL_ATTEMPTS", "21", REFUSED),
    ("CALL_ATTEMPTS", "9" * 10_000, REFUSED),
    ("CALL_ATTEMPTS", UNSET, Used("call_attempts", 4)),
    ("CALL_ATTEMPTS", "1", Used("call_attempts", 1)),
    ("CALL_ATTEMPTS", "20", Used("call_attempts", 20)),
    # Yes/no words, any case; empty is the default (off).
    ("DRY_RUN", " ", REFUSED),
    ("DRY_RUN", " true", REFUSED),
    ("DRY_RUN", "maybe", REFUSED),
    ("DRY_RUN", "2", REFUSED),
    ("DRY_RUN", "", Used("dry_run", False)),
    ("DRY_RUN", "TRUE", Used("dry_run", True)),
    ("DRY_RUN", "off", Used("dry_run", False)),
    # The original image's rule: any value turns debug output on, except the "false" words.
    ("DEBUG_OUTPUT", UNSET, Used("debug", False)),
    ("DEBUG_OUTPUT", "", Used("debug", False)),
    ("DEBUG_OUTPUT", "false", Used("debug", False)),
    ("DEBUG_OUTPUT", "0", Used("debug", False)),
    ("DEBUG_OUTPUT", "1", Used("debug", True)),
    ("DEBUG_OUTPUT", " ", Used("debug", True)),
    ("DEBUG_OUTPUT", SHELL, Used("debug", True)),
    # The CLI: found and executable, or refused.
    ("AWS_CLI", "", REFUSED),
    ("AWS_CLI", " ", REFUSED),
    ("AWS_CLI", "/nonexistent/aws", REFUSED),
    ("AWS_CLI", "{not_executable}", REFUSED),
    ("AWS_CLI", "{directory}", REFUSED),
    ("AWS_CLI", "aws; rm -rf ~", REFUSED),
    ("AWS_CLI", "{executable}", Used("aws_cli", "{executable}")),
    # The endpoint: an http(s) URL, or empty for the CLI's own.
    ("AWS_ENDPOINT_URL", " ", REFUSED),
    ("AWS_ENDPOINT_URL", "localhost:5000", REFUSED),
    ("AWS_ENDPOINT_URL", "ftp://127.0.0.1:5000", REFUSED),
    ("AWS_ENDPOINT_URL", "http://", REFUSED),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000\n", REFUSED),
    ("AWS_ENDPOINT_URL", "http://a b", REFUSED),
    ("AWS_ENDPOINT_URL", "", Used("endpoint_url", None)),
    ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000", Used("endpoint_url", "http://127.0.0.1:5000")),
]


@pytest.fixture(autouse=True)
def restore_process_state() -> Iterator[None]:
    """main() runs in this process: undo what it sets up if a bad value got past the checks."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    handlers_before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    root.handlers[:], root.level = handlers, level
    for sig, handler in handlers_before.items():
        signal.signal(sig, handler)


def case_id(setting: str, value: str | None) -> str:
    shown = "unset" if value is None else repr(value if len(value) < 20 else value[:12] + "...")
    return f"{setting}={shown}"


def places(tmp_path: Path) -> dict[str, str]:
    """Files the AWS_CLI rows name: an executable, a file that is not, a directory."""
    executable = shutil.which("true")
    assert executable
    (tmp_path / "directory").mkdir(exist_ok=True)
    (tmp_path / "not-executable").write_text("#!/bin/sh\n")
    return {
        "{executable}": executable,
        "{not_executable}": str(tmp_path / "not-executable"),
        "{directory}": str(tmp_path / "directory"),
    }


def settings(tmp_path: Path, setting: str, value: str | None) -> tuple[list[str], dict[str, str]]:
    """argv and environment: the valid ones, with `setting` changed to `value`."""
    files = places(tmp_path)
    env = {**VALID, "PATH": os.environ["PATH"], "AWS_CLI": files["{executable}"]}
    # Were a bad value accepted, the tick would run `true`, fail once and exit 1, not 2.
    env["CALL_ATTEMPTS"] = "1"
    if value is not None:
        value = files.get(value, value)
    if setting.startswith("--"):
        return ["--once", setting, value or ""], env
    env.pop(setting, None)
    if value is not None:
        env[setting] = value
    return ["--once"], env


@pytest.mark.parametrize(
    ("setting", "value"),
    [pytest.param(s, v, id=case_id(s, v)) for s, v, used in TABLE if used is REFUSED],
)
def test_refused_at_start_with_exit_2_naming_the_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, value: str | None
) -> None:
    argv, env = settings(tmp_path, setting, value)

    with mock.patch.dict(os.environ, env, clear=True):
        status = main(argv)

    err = capsys.readouterr().err
    problems = [line for line in err.splitlines() if line.startswith("  - ")]
    assert status == 2, err
    assert len(problems) == 1, err
    assert setting in problems[0]
    assert len(problems[0]) < 300, "a long value is shortened in the message"


@pytest.mark.parametrize(
    ("setting", "value", "used"),
    [pytest.param(s, v, u, id=case_id(s, v)) for s, v, u in TABLE if u is not REFUSED],
)
def test_accepted_and_used_exactly_as_given(
    tmp_path: Path, setting: str, value: str | None, used: Used
) -> None:
    argv, env = settings(tmp_path, setting, value)
    expected = (
        places(tmp_path).get(used.value, used.value) if isinstance(used.value, str) else used.value
    )

    config = load(argv, env)

    # A kind's own setting is on the kind (by its name): "ecs.cluster", "EMR.prefix".
    kind, _, field = used.field.rpartition(".")
    kinds = {k.name: k for k in (*config.sources, *config.autoscalers)}
    assert getattr(kinds[kind] if kind else config, field) == expected


def test_a_bad_configuration_under_log_format_json_is_one_json_object() -> None:
    result = subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--once"],
        env={**config_env(EMR_REGION="mars-1", RESUME_COUNT="11"), "LOG_FORMAT": "JSON"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == EXIT_CONFIG
    (only,) = result.stderr.splitlines()
    logged = json.loads(only)
    assert logged["level"] == "ERROR"
    assert logged["time"].endswith("Z")
    assert logged["message"].startswith("bad configuration: ")
    assert logged["problems"] == [
        "EMR_REGION is not an AWS region name (like us-east-1): 'mars-1'",
        "RESUME_COUNT (11) is above RESUME_COUNT_MAX (10)",
    ]


# --- accepted literally, end to end ---------------------------------------------------------


def weird(marker: Path, base: str) -> str:
    """A name that would create `marker` if any shell ever saw it."""
    return f"{base} $(touch {marker}) `touch {marker}`; | & > 'q' \"dq\" * ~ ü-"


def test_a_prefix_with_shell_metacharacters_matches_literally(stack: Stack, tmp_path: Path) -> None:
    marker = tmp_path / "shell-ran"
    prefix = weird(marker, "backup")
    stack.service(desired=1)
    stack.world.start_cluster("backup-1")  # what a shell or glob reading of the prefix matches
    stack.world.start_cluster(f"{prefix}2026-11-23")

    result = stack.run("--once", EMR_PREFIX=prefix)

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 0
    assert f"backups: EMR cluster {prefix}2026-11-23 (" in result.stderr
    assert "backup-1 (" not in result.stderr
    assert not marker.exists()


def test_ecs_names_with_shell_metacharacters_reach_the_cli_unchanged(
    stack: Stack, tmp_path: Path
) -> None:
    marker = tmp_path / "shell-ran"
    cluster, service = weird(marker, "cluster"), weird(marker, "service")
    stack.world.start_cluster(f"{PREFIX}1")
    # ECS refuses such names, so the double answers for it; EMR is the real one.
    answer = {
        "serviceArn": f"arn:aws:ecs:{REGION}:123456789012:service/x/y",
        "serviceName": service,
        "status": "ACTIVE",
        "desiredCount": 1,
        "runningCount": 1,
        "pendingCount": 0,
    }
    stack.fake_aws(
        {
            "ecs describe-services": {"stdout": json.dumps({"services": [answer]})},
            "ecs update-service": {
                "stdout": json.dumps({"service": {**answer, "desiredCount": 0}})
            },
            # The paused-count record goes on the service's ARN, which the double made up.
            "ecs tag-resource": {"stdout": "{}"},
        }
    )

    result = stack.run("--once", AUTOSCALER_CLUSTER=cluster, AUTOSCALER_SERVICE=service)

    assert result.returncode == 0, result.stderr
    tail = ["--region", REGION, "--endpoint-url", stack.server.url, "--output", "json"]
    calls = {" ".join(call[:2]): call for call in stack.calls()}
    assert calls["ecs describe-services"] == [
        "ecs",
        "describe-services",
        "--cluster",
        cluster,
        "--services",
        service,
        "--include",
        "TAGS",
        *tail,
    ]
    assert calls["ecs update-service"] == [
        "ecs",
        "update-service",
        "--cluster",
        cluster,
        "--service",
        service,
        "--desired-count",
        "0",
        *tail,
    ]
    assert not marker.exists()


def test_real_ecs_answers_an_odd_name_with_not_found_and_nothing_changes(
    stack: Stack, tmp_path: Path
) -> None:
    stack.service(desired=0)
    cluster = weird(tmp_path / "shell-ran", "cluster")

    result = stack.run("--once", AUTOSCALER_CLUSTER=cluster)

    assert result.returncode == 1
    assert "ECS query failed" in result.stderr
    assert "ClusterNotFoundException" in result.stderr
    assert stack.desired() == 0
    assert not (tmp_path / "shell-ran").exists()


@pytest.mark.parametrize(
    "content",
    ["#!/nonexistent/interpreter\n", "not a program\n"],
    ids=["bad-interpreter", "not-a-program"],
)
def test_an_aws_cli_that_cannot_run_is_a_configuration_error(
    stack: Stack, tmp_path: Path, content: str
) -> None:
    broken = tmp_path / "aws"
    broken.write_bytes(
        content.encode() if content.startswith("#!") else b"\x7fELF" + content.encode()
    )
    broken.chmod(0o755)
    stack.service(desired=0)

    result = stack.run("--once", AWS_CLI=str(broken))

    assert result.returncode == 2, result.stderr
    assert "bad configuration" in result.stderr
    assert f"AWS_CLI: cannot run '{broken}'" in result.stderr
    assert "Traceback" not in result.stderr
    assert stack.desired() == 0
