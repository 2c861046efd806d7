"""deploy/: each recipe read as its tool reads it, and run against moto where it can be.

The settings every recipe passes are checked against the README's settings table, so a new
setting that never reaches the container fails here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest

from controller import __version__
from controller.cli import EXIT_CONFIG
from tests.conftest import Stack
from tests.support.image import ROOT

DEPLOY = ROOT / "deploy"
DOCKER_RUN = DEPLOY / "docker-run.sh"
UNIT = DEPLOY / "dynamodb-autoscaler-control.service"
ENV_EXAMPLE = DEPLOY / "dynamodb-autoscaler-control.env.example"
TRUST_POLICY = DEPLOY / "ecs-task-role-trust-policy.json"

REQUIRED = {
    "EMR_PREFIX",
    "EMR_REGION",
    "AUTOSCALER_CLUSTER",
    "AUTOSCALER_REGION",
    "AUTOSCALER_SERVICE",
}
# For running outside the image or against a fake AWS; inside the image these stay fixed.
NOT_FOR_THE_IMAGE = {"AWS_CLI", "AWS_ENDPOINT_URL", "HEARTBEAT_FILE"}
# Settings other branches add (their README rows land with them): the recipes pass them
# already, and once the rows are there the same checks cover them through the table.
ANNOUNCED = {
    "MAX_BACKUP_AGE",
    "EMR_STATES",
    "HTTP_PORT",
    "HTTP_ADDRESS",
    "GLUE_JOB_PREFIX",
    "EMR_EKS_JOB_PREFIX",
    "EMR_SERVERLESS_JOB_PREFIX",
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
# Where systemd looks for `docker` given by name (systemd 239+, the unit's ExecStart).
SYSTEMD_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def documented_settings() -> set[str]:
    section = (ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def settings_for_the_image() -> set[str]:
    """Every setting a recipe must be able to pass to the container, credentials included."""
    names = (documented_settings() | ANNOUNCED) - NOT_FOR_THE_IMAGE
    assert names >= REQUIRED | CREDENTIALS, "the README's settings table lost a setting"
    return names


def forwarded(argv: list[str]) -> set[str]:
    """Names passed with `--env NAME` (no value: docker takes it from its own environment)."""
    return {argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "--env"}


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def unit_file() -> dict[str, dict[str, str]]:
    """The unit's sections and keys, continuation lines joined as systemd joins them."""
    text = re.sub(r"\\\n\s*", " ", UNIT.read_text())
    sections: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current[key] = value
    return sections


def env_file(path: Path, commented: bool = False) -> dict[str, str]:
    """NAME=value lines; with `commented`, also the optional ones shown as `#NAME=value`."""
    found = {}
    for line in path.read_text().splitlines():
        text = line.removeprefix("#") if commented else line
        if re.match(r"^[A-Z][A-Z0-9_]*=", text):
            name, value = text.split("=", 1)
            found[name] = value
    return found


# --- docker run ------------------------------------------------------------------------


def fake_docker(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `docker` on PATH that records its arguments: no Docker daemon runs here."""
    bin_dir, record = tmp_path / "bin", tmp_path / "docker-argv.json"
    bin_dir.mkdir(exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    docker.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, record


def docker_run(tmp_path: Path, settings: dict[str, str], *args: str) -> list[str]:
    """The argv docker-run.sh gives docker, or a failure naming what went wrong."""
    env, record = fake_docker(tmp_path)
    result = subprocess.run(
        [str(DOCKER_RUN), *args],
        env={**env, **settings},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(record.read_text()))


def test_docker_run_script_forwards_every_setting_and_restarts_unless_stopped(
    tmp_path: Path,
) -> None:
    every = dict.fromkeys(settings_for_the_image(), "1")

    argv = docker_run(tmp_path, {**every, "IMAGE": "registry.example/controller:1"}, "--dry-run")

    assert argv[:2] == ["run", "--detach"]
    assert option(argv, "--restart") == "unless-stopped"
    assert forwarded(argv) == settings_for_the_image()
    assert "=" not in "".join(forwarded(argv)), "values never on the command line"
    assert argv[-2:] == ["registry.example/controller:1", "--dry-run"]


def test_docker_run_script_passes_only_what_is_set_and_the_image_of_this_version(
    tmp_path: Path,
) -> None:
    argv = docker_run(tmp_path, {**dict.fromkeys(REQUIRED, "x"), "DRY_RUN": ""})

    assert forwarded(argv) == REQUIRED
    assert "--publish" not in argv
    assert argv[-1] == f"dynamodb-autoscaler-control:{__version__}"


def test_docker_run_script_publishes_the_http_port_on_loopback(tmp_path: Path) -> None:
    settings = {"EMR_PREFIX": "b-", "EMR_REGION": "us-east-1", "HTTP_PORT": "9100"}

    argv = docker_run(tmp_path, settings)

    assert forwarded(argv) == set(settings), "circuit-breaker only: no AUTOSCALER_* needed"
    assert option(argv, "--publish") == "127.0.0.1:9100:9100"
    assert option(docker_run(tmp_path, {**settings, "PUBLISH": "0.0.0.0:80"}), "--publish") == (
        "0.0.0.0:80:9100"
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (REQUIRED - {"AUTOSCALER_SERVICE"}, "AUTOSCALER_SERVICE: is required"),
        (REQUIRED - {"EMR_PREFIX"}, "one of EMR_PREFIX, GLUE_JOB_PREFIX"),
        (REQUIRED - {"EMR_REGION"}, "EMR_REGION: is required"),
        ({"EMR_PREFIX", "EMR_REGION", "AUTOSCALER_REGION"}, "AUTOSCALER_CLUSTER: is required"),
    ],
)
def test_docker_run_script_stops_before_docker_when_a_setting_is_missing(
    tmp_path: Path, settings: set[str], message: str
) -> None:
    env, record = fake_docker(tmp_path)

    result = subprocess.run(
        [str(DOCKER_RUN)],
        env={**env, **dict.fromkeys(settings, "x")},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert message in result.stderr
    assert not record.exists()


def test_every_image_tag_in_the_recipes_and_readme_is_this_version() -> None:
    # The version is written once (controller/__init__.py); docker-run.sh reads it there,
    # and what the recipes and the README show must agree with it.
    texts = [path.read_text() for path in DEPLOY.iterdir()] + [(ROOT / "README.md").read_text()]
    tags = {
        tag for text in texts for tag in re.findall(r"dynamodb-autoscaler-control:(\d[\w.]*)", text)
    }

    assert tags == {__version__}
    assert "version=VERSION" in (ROOT / "setup.py").read_text()


def test_licence_file_matches_setup_py() -> None:
    licence = (ROOT / "LICENSE").read_text()

    assert 'license="MIT"' in (ROOT / "setup.py").read_text()
    assert licence.startswith("MIT License")
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in licence


# --- systemd ---------------------------------------------------------------------------


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
@pytest.mark.skipif(
    not shutil.which("docker", path=SYSTEMD_EXEC_PATH),
    reason="systemd-analyze verify checks that ExecStart's `docker` exists; no docker CLI here",
)
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # The unit requires docker.service, which a host with Docker has; a stand-in here.
    (tmp_path / "docker.service").write_text("[Service]\nExecStart=/bin/true\n")
    unit = tmp_path / UNIT.name
    shutil.copy(UNIT, unit)

    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        # The trailing separator keeps systemd's own unit directories after the stand-in's.
        env={**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}{os.pathsep}"},
        capture_output=True,
        text=True,
        check=False,
    )

    # verify exits 0 even for unknown keys and unparsable values: it only warns.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_systemd_unit_restarts_on_failure_with_settings_from_a_root_only_file() -> None:
    unit = unit_file()
    service = unit["Service"]
    argv = shlex.split(service["ExecStart"])

    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIG)
    assert service["EnvironmentFile"] == "/etc/dynamodb-autoscaler-control.env"
    assert f"-m 600 {ENV_EXAMPLE.relative_to(ROOT)}" in ENV_EXAMPLE.read_text()
    # /usr/bin/env finds docker on PATH: systemd before 239 wants absolute paths.
    assert argv[:3] == ["/usr/bin/env", "docker", "run"]
    assert forwarded(argv) == settings_for_the_image()
    assert argv[-2:] == ["$PUBLISH", "${IMAGE}"], "$PUBLISH unquoted: unset is no argument"
    assert "-d" not in argv and "--detach" not in argv, "systemd must see the container's exit"
    assert int(service["TimeoutStopSec"]) > int(option(argv, "--stop-timeout"))
    assert "docker.service" in unit["Unit"]["Requires"]


def test_example_env_file_alone_is_a_working_configuration(stack: Stack) -> None:
    example = env_file(ENV_EXAMPLE)
    optional = env_file(ENV_EXAMPLE, commented=True).keys() - example.keys()
    assert example.keys() == REQUIRED
    # Every setting the unit passes is shown, and nothing it does not pass.
    assert optional | REQUIRED == settings_for_the_image() | {"IMAGE", "PUBLISH"}
    stack.service(desired=0)
    env = {name: value for name, value in stack.env.items() if name not in REQUIRED}

    result = subprocess.run(
        [stack.command, "--once"],
        env={**env, **example},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1


# --- ECS (deploy/cloudformation.yaml: tests/test_cfn_template.py) -----------------------


def test_task_role_can_be_assumed_only_by_ecs_tasks_of_the_account() -> None:
    text = string.Template(TRUST_POLICY.read_text()).substitute(
        ACCOUNT_ID="123456789012", REGION="us-east-1"
    )
    (statement,) = json.loads(text)["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"
    }


# --- the switch, written down ------------------------------------------------------------

MIGRATING = ROOT / "docs" / "migrating.md"


@pytest.mark.parametrize(
    "topic",
    [
        "ecs:TagResource",  # the IAM actions added
        "serviceLongArnFormat",  # short-ARN services
        "`*`, `?`, `[`",  # the prefix is literal
        "Only matching clusters keep the autoscaler paused",
        "`desiredCount`, not `runningCount`",
        "`DEBUG_OUTPUT=false` no longer turns it on",
        "RestartPreventExitStatus=2",  # strict validation under a restart policy
        "/home/controller/.aws",  # the non-root user
        "`ok=false`",  # the new log lines
        "Stop the old container **first**",
        "systemd 219 or newer",
        "RESUME_COUNT_MAX",
    ],
)
def test_the_migration_guide_covers(topic: str) -> None:
    assert topic in MIGRATING.read_text()


def test_the_migration_guides_links_resolve() -> None:
    links = re.findall(r"\]\(([^)#]+)\)", MIGRATING.read_text())

    assert links
    for link in links:
        assert (MIGRATING.parent / link).exists(), link
