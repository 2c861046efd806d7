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
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters

from controller import __version__
from controller.cli import EXIT_CONFIG
from tests.conftest import Stack
from tests.support.image import ROOT, healthcheck_command, instruction
from tests.support.moto import REGION

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


# --- ECS -------------------------------------------------------------------------------


def task_definition() -> dict[str, Any]:
    return dict(json.loads(TASK_DEFINITION.read_text()))


def seconds(flag: str) -> int:
    value = re.fullmatch(r"(\d+)s", flag)
    assert value, f"expected whole seconds like 30s: {flag}"
    return int(value[1])


def filled(text: str, **values: str) -> Any:
    """A recipe's JSON with its ${NAME} placeholders filled, as ecs-deploy.sh fills them."""
    return json.loads(string.Template(text).substitute(values))


SAMPLE = {
    "ACCOUNT_ID": "123456789012",
    "REGION": "us-east-1",
    "IMAGE": "registry.example/controller:1",
    "EXECUTION_ROLE_ARN": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
}


def test_task_definition_is_what_register_task_definition_accepts() -> None:
    ecs = botocore.session.get_session().get_service_model("ecs")

    # The same client-side validation the CLI applies to --cli-input-json.
    validate_parameters(
        filled(TASK_DEFINITION.read_text(), **SAMPLE),
        ecs.operation_model("RegisterTaskDefinition").input_shape,
    )


def test_task_definition_runs_the_image_as_the_dockerfile_and_the_other_recipes_do() -> None:
    doc = filled(TASK_DEFINITION.read_text(), **SAMPLE)
    (container,) = doc["containerDefinitions"]
    docker_flags = dict(flag.split("=", 1) for flag in instruction("HEALTHCHECK").flags)
    unit_stop = option(shlex.split(unit_file()["Service"]["ExecStart"]), "--stop-timeout")

    assert doc["requiresCompatibilities"] == ["FARGATE"]
    assert doc["taskRoleArn"] == "arn:aws:iam::123456789012:role/dynamodb-autoscaler-control"
    # ecs-deploy.sh puts the settings that are set here, and the HTTP port when there is one.
    assert container["environment"] == container["portMappings"] == []
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


def test_task_role_can_be_assumed_only_by_ecs_tasks_of_the_account() -> None:
    (statement,) = filled(TRUST_POLICY.read_text(), **SAMPLE)["Statement"]

    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert statement["Condition"]["ArnLike"] == {
        "aws:SourceArn": "arn:aws:ecs:us-east-1:123456789012:*"
    }


class EcsDeploy:
    """deploy/ copied (so that a test can add a source's policy file) and run against moto,
    with moto's default VPC for the service's network."""

    def __init__(self, stack: Stack, tmp_path: Path) -> None:
        self.stack = stack
        self.deploy = tmp_path / "deploy"
        shutil.copytree(DEPLOY, self.deploy)
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.iam = session.client("iam", endpoint_url=stack.server.url)
        self.logs = session.client("logs", endpoint_url=stack.server.url)
        ec2 = session.client("ec2", endpoint_url=stack.server.url)
        default = [{"Name": "default-for-az", "Values": ["true"]}]
        self.subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=default)["Subnets"]][:2]
        groups = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
        self.group = groups[0]["GroupId"]
        stack.world.ecs.create_cluster(clusterName="tools")

    def base(self) -> dict[str, str]:
        """What ecs-deploy.sh always needs; the controller's settings are each test's own."""
        return {
            "CLUSTER": "tools",
            "SUBNETS": ",".join(self.subnets),
            "SECURITY_GROUPS": self.group,
            "REGION": REGION,
            "IMAGE": "registry.example/dynamodb-autoscaler-control:7",
        }

    def run(self, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in self.stack.env.items() if k not in REQUIRED}
        return subprocess.run(
            [str(self.deploy / ECS_DEPLOY.name)],
            env={**env, **settings},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def policies(self) -> dict[str, str]:
        """The role's inline policies, as uploaded (text: a placeholder would show here)."""
        names = self.iam.list_role_policies(RoleName=NAME)["PolicyNames"]
        return {
            name: json.dumps(
                self.iam.get_role_policy(RoleName=NAME, PolicyName=name)["PolicyDocument"]
            )
            for name in names
        }

    def container(self) -> dict[str, Any]:
        ecs = self.stack.world.ecs
        (service,) = ecs.describe_services(cluster="tools", services=[NAME])["services"]
        definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        (container,) = definition["taskDefinition"]["containerDefinitions"]
        return dict(container)


NAME = "dynamodb-autoscaler-control"


def test_ecs_deploy_fills_every_placeholder_from_the_environment(
    stack: Stack, tmp_path: Path
) -> None:
    service_arn = stack.service(desired=2)  # the autoscaler the controller will pause
    deploy = EcsDeploy(stack, tmp_path)
    settings = {
        **{name: stack.env[name] for name in REQUIRED},
        "DYNAMODB_TABLE_PREFIX": "orders-",
        "RESUME_COUNT_MAX": "20",
        "MAX_BACKUP_AGE": "21600",
        "HTTP_PORT": "9100",
        "POLL_INTERVAL": "",  # empty: not passed
    }

    result = deploy.run({**deploy.base(), **settings})

    assert result.returncode == 0, result.stderr
    policies = deploy.policies()
    assert set(policies) == {NAME, f"{NAME}-native-autoscaling"}
    for text in policies.values():
        assert "${" not in text
    ecs_statement = next(
        s for s in json.loads(policies[NAME])["Statement"] if "ecs:UpdateService" in s["Action"]
    )
    assert ecs_statement["Resource"] == service_arn
    native = json.loads(policies[f"{NAME}-native-autoscaling"])
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/orders-*" in json.dumps(native)
    role = deploy.iam.get_role(RoleName=NAME)["Role"]
    assert "${" not in json.dumps(role["AssumeRolePolicyDocument"])
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["StringEquals"] == {
        "aws:SourceAccount": "123456789012"
    }
    container = deploy.container()
    assert container["image"] == "registry.example/dynamodb-autoscaler-control:7"
    passed = {item["name"]: item["value"] for item in container["environment"]}
    expected = {k: v for k, v in settings.items() if v}
    assert passed == {**expected, "DYNAMODB_REGION": stack.env["EMR_REGION"]}
    assert container["portMappings"][0]["containerPort"] == 9100
    assert container["logConfiguration"]["options"]["awslogs-region"] == REGION
    groups = deploy.logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{NAME}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/ecs/{NAME}"]
    (service,) = stack.world.ecs.describe_services(cluster="tools", services=[NAME])["services"]
    assert service["desiredCount"] == 1
    assert service["launchType"] == "FARGATE"
    network = service["networkConfiguration"]["awsvpcConfiguration"]
    assert network["subnets"] == deploy.subnets
    assert network["assignPublicIp"] == "DISABLED"


def test_ecs_deploy_attaches_only_the_policies_of_what_is_configured(
    stack: Stack, tmp_path: Path
) -> None:
    deploy = EcsDeploy(stack, tmp_path)
    # A source's policy file, with the placeholders such files use.
    glue = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "glue:GetJobRuns",
                "Resource": "arn:aws:glue:${EMR_REGION}:${ACCOUNT_ID}:job/${GLUE_JOB_PREFIX}*",
            }
        ],
    }
    (deploy.deploy / "iam-policy-glue.json").write_text(json.dumps(glue))
    # The real one exists; without it in this copy, the recipe must warn, not fail.
    (deploy.deploy / "iam-policy-emr-eks.json").unlink(missing_ok=True)
    settings = {
        "EMR_REGION": "eu-west-1",
        "GLUE_JOB_PREFIX": "export-",
        "EMR_EKS_JOB_PREFIX": "backup-",  # no policy file in this copy: a warning
        "HTTP_PORT": "9100",  # circuit breaker only: no ECS service, no tables
    }

    result = deploy.run({**deploy.base(), **settings})

    assert result.returncode == 0, result.stderr
    assert "EMR_EKS_JOB_PREFIX is set but deploy/iam-policy-emr-eks.json is missing" in (
        result.stderr
    )
    policies = deploy.policies()
    assert set(policies) == {f"{NAME}-glue"}
    assert json.loads(policies[f"{NAME}-glue"])["Statement"][0]["Resource"] == (
        "arn:aws:glue:eu-west-1:123456789012:job/export-*"
    )


def test_ecs_deploy_with_only_emr_and_tables_gets_the_emr_query_alone(
    stack: Stack, tmp_path: Path
) -> None:
    deploy = EcsDeploy(stack, tmp_path)
    settings = {"EMR_PREFIX": "b-", "EMR_REGION": REGION, "DYNAMODB_TABLE_PREFIX": "t-"}

    result = deploy.run({**deploy.base(), **settings})

    assert result.returncode == 0, result.stderr
    policies = {name: json.loads(text) for name, text in deploy.policies().items()}
    assert set(policies) == {f"{NAME}-emr", f"{NAME}-native-autoscaling"}
    assert policies[f"{NAME}-emr"]["Statement"][0]["Action"] == "elasticmapreduce:ListClusters"


@pytest.mark.parametrize(
    ("drop", "add", "missing"),
    [
        ("IMAGE", {}, "  - IMAGE"),
        ("SUBNETS", {}, "  - SUBNETS"),
        ("EMR_PREFIX", {}, "  - one of EMR_PREFIX GLUE_JOB_PREFIX"),
        ("AUTOSCALER_SERVICE", {}, "  - AUTOSCALER_SERVICE"),
        ("", {"EMR_STATES": "RUNNING\nWAITING"}, "a control character"),
        ("", {"HTTP_PORT": "http"}, "HTTP_PORT must be a port number"),
    ],
)
def test_ecs_deploy_refuses_to_start_while_a_value_is_missing(
    stack: Stack, tmp_path: Path, drop: str, add: dict[str, str], missing: str
) -> None:
    deploy = EcsDeploy(stack, tmp_path)
    settings = {**deploy.base(), **{name: stack.env[name] for name in REQUIRED}, **add}
    settings.pop(drop, None)

    result = deploy.run(settings)

    assert result.returncode == 2
    assert missing in result.stderr
    assert deploy.iam.list_roles()["Roles"] == [], "nothing was created"


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
