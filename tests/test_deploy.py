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
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters

from controller.cli import EXIT_CONFIG
from tests.conftest import Stack
from tests.support.image import ROOT, healthcheck_command, instruction
from tests.support.moto import CLUSTER, REGION

DEPLOY = ROOT / "deploy"
DOCKER_RUN = DEPLOY / "docker-run.sh"
UNIT = DEPLOY / "dynamodb-autoscaler-control.service"
ENV_EXAMPLE = DEPLOY / "dynamodb-autoscaler-control.env.example"
TASK_DEFINITION = DEPLOY / "ecs-task-definition.json"
TRUST_POLICY = DEPLOY / "ecs-task-role-trust-policy.json"
ECS_DEPLOY = DEPLOY / "ecs-deploy.sh"
IAM_POLICY = DEPLOY / "iam-policy.json"

REQUIRED = {
    "EMR_PREFIX",
    "EMR_REGION",
    "AUTOSCALER_CLUSTER",
    "AUTOSCALER_REGION",
    "AUTOSCALER_SERVICE",
}
# For running outside the image or against a fake AWS; inside the image these stay fixed.
NOT_FOR_THE_IMAGE = {"AWS_CLI", "AWS_ENDPOINT_URL", "HEARTBEAT_FILE"}
# Where systemd looks for `docker` given by name (systemd 239+, the unit's ExecStart).
SYSTEMD_EXEC_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def documented_settings() -> set[str]:
    section = (ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ")[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}


def settings_for_the_image() -> set[str]:
    names = documented_settings() - NOT_FOR_THE_IMAGE
    assert names >= REQUIRED, "the README's settings table lost a required setting"
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
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    docker.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, record


def test_docker_run_script_forwards_every_setting_and_restarts_unless_stopped(
    tmp_path: Path,
) -> None:
    env, record = fake_docker(tmp_path)
    settings = dict.fromkeys(REQUIRED, "x")

    result = subprocess.run(
        [str(DOCKER_RUN), "--dry-run"],
        env={**env, **settings, "IMAGE": "registry.example/controller:1"},
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    argv = json.loads(record.read_text())
    assert argv[:2] == ["run", "--detach"]
    assert option(argv, "--restart") == "unless-stopped"
    assert forwarded(argv) == settings_for_the_image()
    assert argv[-2:] == ["registry.example/controller:1", "--dry-run"]


def test_docker_run_script_stops_before_docker_when_a_setting_is_missing(
    tmp_path: Path,
) -> None:
    env, record = fake_docker(tmp_path)
    settings = dict.fromkeys(REQUIRED - {"AUTOSCALER_SERVICE"}, "x")

    result = subprocess.run(
        [str(DOCKER_RUN)], env={**env, **settings}, capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "AUTOSCALER_SERVICE: is required" in result.stderr
    assert not record.exists()


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
    assert argv[:2] == ["docker", "run"]
    assert forwarded(argv) == settings_for_the_image()
    assert "-d" not in argv and "--detach" not in argv, "systemd must see the container's exit"
    assert int(service["TimeoutStopSec"]) > int(option(argv, "--stop-timeout"))
    assert "docker.service" in unit["Unit"]["Requires"]


def test_example_env_file_alone_is_a_working_configuration(stack: Stack) -> None:
    example = env_file(ENV_EXAMPLE)
    optional = env_file(ENV_EXAMPLE, commented=True).keys() - example.keys()
    assert example.keys() == REQUIRED
    assert optional <= settings_for_the_image() | {"IMAGE"}
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


# --- ECS -------------------------------------------------------------------------------


def task_definition() -> dict[str, Any]:
    return dict(json.loads(TASK_DEFINITION.read_text()))


def seconds(flag: str) -> int:
    value = re.fullmatch(r"(\d+)s", flag)
    assert value, f"expected whole seconds like 30s: {flag}"
    return int(value[1])


def test_task_definition_is_what_register_task_definition_accepts() -> None:
    ecs = botocore.session.get_session().get_service_model("ecs")

    # The same client-side validation the CLI applies to --cli-input-json.
    validate_parameters(
        task_definition(), ecs.operation_model("RegisterTaskDefinition").input_shape
    )


def test_task_definition_runs_the_image_as_the_dockerfile_and_the_other_recipes_do() -> None:
    doc = task_definition()
    (container,) = doc["containerDefinitions"]
    env = {item["name"] for item in container["environment"]}
    docker_flags = dict(flag.split("=", 1) for flag in instruction("HEALTHCHECK").flags)
    unit_stop = option(shlex.split(unit_file()["Service"]["ExecStart"]), "--stop-timeout")

    assert doc["requiresCompatibilities"] == ["FARGATE"]
    assert doc["taskRoleArn"].endswith(":role/dynamodb-autoscaler-control")
    assert REQUIRED <= env <= settings_for_the_image()
    assert container["healthCheck"] == {
        "command": ["CMD", *healthcheck_command()],
        "interval": seconds(docker_flags["--interval"]),
        "timeout": seconds(docker_flags["--timeout"]),
        "retries": int(docker_flags["--retries"]),
        "startPeriod": seconds(docker_flags["--start-period"]),
    }
    # Long enough for an update in flight (CALL_TIMEOUT, 30 s by default); Fargate's max 120.
    assert 30 < container["stopTimeout"] <= 120
    assert container["stopTimeout"] == int(unit_stop)


def test_task_role_can_be_assumed_only_by_ecs_tasks() -> None:
    (statement,) = json.loads(TRUST_POLICY.read_text())["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    account = task_definition()["taskRoleArn"].split(":")[4]
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": account}


@pytest.mark.skipif(
    not IAM_POLICY.exists(),
    reason="deploy/iam-policy.json (the task role's permissions) is not in this tree yet",
)
def test_ecs_deploy_script_creates_role_task_definition_and_service(stack: Stack) -> None:
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    ec2 = session.client("ec2", endpoint_url=stack.server.url)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
        for i in (1, 2)
    ]
    group = ec2.create_security_group(VpcId=vpc, GroupName="controller", Description="out")
    stack.world.ecs.create_cluster(clusterName=CLUSTER)

    result = subprocess.run(
        [str(ECS_DEPLOY)],
        env={
            **stack.env,
            "CLUSTER": CLUSTER,
            "SUBNETS": ",".join(subnets),
            "SECURITY_GROUPS": group["GroupId"],
            "REGION": REGION,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    iam = session.client("iam", endpoint_url=stack.server.url)
    role = iam.get_role(RoleName="dynamodb-autoscaler-control")["Role"]
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST_POLICY.read_text())
    permissions = iam.get_role_policy(
        RoleName="dynamodb-autoscaler-control", PolicyName="dynamodb-autoscaler-control"
    )
    assert permissions["PolicyDocument"] == json.loads(IAM_POLICY.read_text())
    (service,) = stack.world.ecs.describe_services(
        cluster=CLUSTER, services=["dynamodb-autoscaler-control"]
    )["services"]
    assert service["desiredCount"] == 1
    assert service["launchType"] == "FARGATE"
    assert service["taskDefinition"].endswith(":task-definition/dynamodb-autoscaler-control:1")
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["subnets"] == subnets
    assert network["assignPublicIp"] == "DISABLED"
