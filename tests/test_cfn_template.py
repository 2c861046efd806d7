"""deploy/cloudformation.yaml: current with its sources, and deployed against moto's
CloudFormation with the real `aws cloudformation deploy`, updated and deleted.

What moto (5.x) does with this template, and how the tests here live with it:
- it skips AWS::CloudWatch::Alarm and AWS::CloudFormation::WaitConditionHandle with a
  warning and no error, so the alarms are checked by reading the template, their dimensions
  resolved as CloudFormation resolves them (`Resolver`), against what the controller emits;
- it keeps AWS::NoValue as a null in a list where AWS drops the item: nulls are left out of
  the environment read back;
- the task definition loses its TaskRoleArn, the service its launch type and network: the
  stack's roles are found with describe-stack-resources, and the rest is read in the template;
- an update with a parameter left to its previous value fails in moto (it splits a list
  parameter twice), so each deploy passes every parameter, as a script would;
- an updated task definition loses its containers (moto registers the template's
  PascalCase keys as they are): an update is checked by the stack's parameters and the new
  revision the service runs;
- deleting the stack leaves the log group and the ECS service (moto implements no deletion
  for those two types); everything else must be gone.
`cfn-lint` itself runs in scripts/test, next to ruff and mypy.
"""

from __future__ import annotations

import ast
import json
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import boto3
import botocore.session
import pytest
from botocore.validate import validate_parameters
from cfnlint.decode import decode_str

from controller import config as settings
from controller.config import dimensions, load
from tests.conftest import Stack
from tests.support.image import ROOT, healthcheck_command, instruction
from tests.support.moto import ACCOUNT, REGION, executable

TEMPLATE = ROOT / "deploy" / "cloudformation.yaml"
GENERATOR = ROOT / "scripts" / "cfn_template.py"
STACK = "ctl"
CONTAINER = "dynamodb-autoscaler-control"
WHERE = {"Cluster", "Subnets", "SecurityGroups", "AssignPublicIp", "Image", "Cpu", "Memory"}
WHERE |= {"DesiredCount", "LogRetentionDays", "LogKmsKey", "AlarmTopic", "PausedAlarmHours"}
# A value for every setting, together a configuration the controller accepts (checked below):
# a setting added to the controller fails here until it is added too.
EVERY_SETTING = {
    "EMR_REGION": "us-east-1",
    "EMR_PREFIX": "dynamodb-backup-",
    "EMR_STATES": "RUNNING,WAITING",
    "GLUE_JOB_PREFIX": "export-",
    "EMR_EKS_JOB_PREFIX": "eks-backup-",
    "EMR_SERVERLESS_JOB_PREFIX": "sls-backup-",
    "MAX_BACKUP_AGE": "21600",
    "MAX_FAN_OUT": "300",
    "AUTOSCALER_CLUSTER": "autoscaling",
    "AUTOSCALER_REGION": "us-east-1",
    "AUTOSCALER_SERVICE": "dynamodb-autoscaler",
    "RESUME_COUNT": "2",
    "RESUME_COUNT_MAX": "20",
    "DYNAMODB_TABLE_PREFIX": "orders-",
    "DYNAMODB_REGION": "eu-west-1",
    "PAUSE_SCOPE": "named",
    "POLL_INTERVAL": "60",
    "RESUME_DELAY": "300",
    "CALL_TIMEOUT": "30",
    "CALL_ATTEMPTS": "4",
    "MAX_CONCURRENT_CALLS": "4",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "NOTICE",
    "DEBUG_OUTPUT": "0",
    "DRY_RUN": "false",
    "HEARTBEAT_FILE": "/tmp/dynamodb-autoscaler-control.heartbeat",
    "HTTP_PORT": "9102",
    "HTTP_ADDRESS": "0.0.0.0",  # noqa: S104 (a value passed on, not a socket)
    "CLOUDWATCH_NAMESPACE": "DynamoDBAutoscalerControl",
    "AWS_CLI": "aws",
    "AWS_ENDPOINT_URL": "https://aws.example.internal",
}


def pascal(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("_"))


def template() -> dict[str, Any]:
    decoded, problems = decode_str(TEMPLATE.read_text())
    assert not problems, problems
    return dict(decoded)


# --- the template and its sources -------------------------------------------------------


def test_the_generated_parts_are_current_with_the_settings_and_the_policy_files() -> None:
    checked = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_generator_notices_a_stale_template(tmp_path: Path) -> None:
    # The check compares what it would write with what is there: a hand edit between the
    # markers, or a policy file changed without regenerating, shows as a difference.
    sys.path.insert(0, str(GENERATOR.parent))
    import cfn_template  # noqa: PLC0415 (scripts/ is not a package)

    current = TEMPLATE.read_text()
    stale = current.replace("- ecs:UntagResource", "- ecs:Untag", 1)

    assert stale != current
    assert cfn_template.generated(stale) == current


def test_every_setting_is_a_parameter_in_pascal_case_empty_meaning_unset() -> None:
    parameters = template()["Parameters"]
    names = {pascal(name): name for name in settings.names()}

    assert set(parameters) == set(names) | WHERE
    assert pascal("EMR_PREFIX") == "EmrPrefix" and "AutoscalerService" in parameters
    for parameter, name in names.items():
        assert parameters[parameter]["Description"].startswith(f"{name}: ")
        expected = {"LOG_FORMAT": "json", "CLOUDWATCH_NAMESPACE": "DynamoDBAutoscalerControl"}
        assert parameters[parameter]["Default"] == expected.get(name, ""), name


def test_the_description_says_to_release_before_deleting() -> None:
    described = template()["Description"]

    assert "BEFORE DELETING THIS STACK run the controller once with --release" in described
    assert len(described.encode()) <= 1024, "CloudFormation's limit for a description"


def test_every_policy_file_reaches_the_template_or_repeats_one_that_does() -> None:
    sys.path.insert(0, str(GENERATOR.parent))
    import cfn_template  # noqa: PLC0415 (scripts/ is not a package)

    used = {file for _, file, _ in cfn_template.POLICIES}
    files = {path.name for path in (ROOT / "deploy").glob("iam-policy*.json")}
    assert files == used | set(cfn_template.SAME_AS)
    for same, original in cfn_template.SAME_AS.items():
        # Nothing the template's file does not grant: the named scope's reads may be more.
        statements = policy(original)["Statement"]
        assert all(s in statements for s in policy(same)["Statement"])
    # The ECS mode's policy is the EMR query plus its own statement; the template attaches
    # the EMR query only with EMR_PREFIX.
    ecs = policy("iam-policy.json")["Statement"]
    # Its first statement; the second, for PAUSE_SCOPE=named, needs native mode.
    assert ecs[:1] == policy("iam-policy-emr.json")["Statement"][:1]


def test_the_container_runs_the_image_as_the_dockerfile_and_the_other_recipes_do() -> None:
    resources = template()["Resources"]
    (container,) = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    docker = dict(flag.split("=", 1) for flag in instruction("HEALTHCHECK").flags)
    unit = (ROOT / "deploy" / "dynamodb-autoscaler-control.service").read_text()

    assert container["Name"] == CONTAINER
    assert container["HealthCheck"] == {
        "Command": ["CMD", *healthcheck_command()],
        "Interval": int(docker["--interval"].removesuffix("s")),
        "Timeout": int(docker["--timeout"].removesuffix("s")),
        "Retries": int(docker["--retries"]),
        "StartPeriod": int(docker["--start-period"].removesuffix("s")),
    }
    # Long enough for an update in flight (CALL_TIMEOUT, 30 s by default); Fargate's max 120.
    assert f"--stop-timeout {container['StopTimeout']} " in unit
    assert 30 < container["StopTimeout"] <= 120
    service = resources["Service"]["Properties"]
    assert service["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
        "Enable": True,
        "Rollback": True,
    }


class Resolver:
    """Conditions and the few intrinsic functions the alarms use, as CloudFormation resolves
    them for given parameters (moto does not create alarms)."""

    NO_VALUE = object()

    def __init__(self, doc: dict[str, Any], parameters: dict[str, str]) -> None:
        self.parameters = {
            **{name: str(p.get("Default", "")) for name, p in doc["Parameters"].items()},
            "AWS::Partition": "aws",
            **parameters,
            "AWS::StackName": STACK,
        }
        self.conditions = {name: bool(self(c)) for name, c in doc["Conditions"].items()}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((function, argument),) = value.items()
            if function in self.FUNCTIONS:
                return self.FUNCTIONS[function](self, argument)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items() if self(v) is not self.NO_VALUE}
        if isinstance(value, list):
            return [self(v) for v in value if self(v) is not self.NO_VALUE]
        return value

    def _ref(self, name: str) -> Any:
        return self.NO_VALUE if name == "AWS::NoValue" else self.parameters[name]

    def _if(self, argument: list[Any]) -> Any:
        name, yes, no = argument
        return self(yes if self.conditions[name] else no)

    def _sub(self, argument: str | list[Any]) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {**self.parameters, **{k: self(v) for k, v in variables.items()}}
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m[1]]), text)

    FUNCTIONS: ClassVar[dict[str, Any]] = {
        "Ref": _ref,
        "Fn::If": _if,
        "Fn::Sub": _sub,
        "Fn::Equals": lambda self, a: self(a[0]) == self(a[1]),
        "Fn::Not": lambda self, a: not self(a[0]),
        "Fn::Select": lambda self, a: self(a[1])[a[0]],
        "Fn::Split": lambda self, a: self(a[1]).split(a[0]),
    }


@pytest.mark.parametrize(
    "mode",
    [
        {"DYNAMODB_TABLE_PREFIX": None, "DYNAMODB_REGION": None, "PAUSE_SCOPE": None},
        {"AUTOSCALER_CLUSTER": None, "AUTOSCALER_REGION": None, "AUTOSCALER_SERVICE": None},
        {},
        {"AUTOSCALER_CLUSTER": None, "AUTOSCALER_REGION": None, "AUTOSCALER_SERVICE": None,
         "DYNAMODB_TABLE_PREFIX": None, "DYNAMODB_REGION": None, "PAUSE_SCOPE": None},
        {"AUTOSCALER_CLUSTER": "arn:aws:ecs:us-east-1:123456789012:cluster/autoscaling"},
    ],
    ids=["ecs", "native", "both", "circuit-breaker", "cluster-arn"],
)  # fmt: skip
def test_the_alarms_watch_the_metrics_the_controller_emits(mode: dict[str, str | None]) -> None:
    chosen = {**EVERY_SETTING, **mode}
    settings_env = {k: v for k, v in chosen.items() if v is not None}
    doc = template()
    resolve = Resolver(doc, {pascal(k): v for k, v in settings_env.items()})
    emitted = dimensions(load([], {**settings_env, "PATH": str(Path(executable("aws")).parent)}))

    alarms = {
        name: resolve(resource["Properties"])
        for name, resource in doc["Resources"].items()
        if resource["Type"] == "AWS::CloudWatch::Alarm"
    }

    assert set(alarms) == {"PausedTooLongAlarm", "TicksFailingAlarm", "StuckBackupAlarm"}
    assert {a["MetricName"] for a in alarms.values()} == {"Paused", "TickOk", "StuckBackups"}
    for alarm in alarms.values():
        assert alarm["Namespace"] == "DynamoDBAutoscalerControl"
        assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == emitted
    paused = alarms["PausedTooLongAlarm"]
    assert paused["Period"] * int(paused["EvaluationPeriods"]) == 12 * 3600


def test_the_log_group_outlives_the_stack_and_takes_an_optional_key() -> None:
    doc = template()
    group = doc["Resources"]["LogGroup"]
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert doc["Parameters"]["LogKmsKey"]["Default"] == ""
    assert "KmsKeyId" not in Resolver(doc, {})(group["Properties"])
    assert Resolver(doc, {"LogKmsKey": key})(group["Properties"])["KmsKeyId"] == key


def execution_statements(image: str) -> dict[str, Any]:
    doc = template()
    resolve = Resolver(
        doc, {"Image": image, "AWS::Partition": "aws-cn" if ".cn/" in image else "aws"}
    )
    (policy,) = resolve(doc["Resources"]["ExecutionRole"]["Properties"]["Policies"])
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/dynamodb-autoscaler-control:1.1.0",
         "arn:aws:ecr:eu-west-1:123456789012:repository/dynamodb-autoscaler-control"),
        ("210987654321.dkr.ecr.us-east-2.amazonaws.com/team/tools/ctl@sha256:" + "ab" * 32,
         "arn:aws:ecr:us-east-2:210987654321:repository/team/tools/ctl"),
        ("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/ctl",
         "arn:aws-cn:ecr:cn-north-1:123456789012:repository/ctl"),
    ],
)  # fmt: skip
def test_the_execution_role_pulls_only_from_the_images_ecr_repository(
    image: str, repository: str
) -> None:
    statements = execution_statements(image)

    pull = statements["PullTheImageFromItsRepository"]
    assert pull["Resource"] == repository
    assert sorted(pull["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    # AWS has no resource-level permission for it: it can only be "*".
    assert statements["LogInToEcr"] == {
        "Sid": "LogInToEcr",
        "Effect": "Allow",
        "Action": "ecr:GetAuthorizationToken",
        "Resource": "*",
    }


def test_an_image_from_outside_ecr_gets_no_repository_permissions() -> None:
    statements = execution_statements("registry.example/dynamodb-autoscaler-control:7")

    assert set(statements) == {"WriteTheControllersLog", "LogInToEcr"}


# --- deployed against moto ----------------------------------------------------------------


def policy(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "deploy" / name).read_text()))


def filled(name: str, values: dict[str, str]) -> list[dict[str, Any]]:
    """A policy file's statements with its placeholders filled in, as docs/iam.md does."""
    text = string.Template((ROOT / "deploy" / name).read_text()).substitute(values)
    return list(json.loads(text)["Statement"])


class CfnStack:
    """The template deployed with the real CLI, as docs/deploy.md deploys it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        url = stack.server.url
        self.cfn = session.client("cloudformation", endpoint_url=url)
        self.iam = session.client("iam", endpoint_url=url)
        self.ecs = session.client("ecs", endpoint_url=url)
        self.logs = session.client("logs", endpoint_url=url)
        self.cloudwatch = session.client("cloudwatch", endpoint_url=url)
        ec2 = session.client("ec2", endpoint_url=url)
        default = [{"Name": "default-for-az", "Values": ["true"]}]
        self.subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=default)["Subnets"]][:2]
        groups = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"]
        self.where = {
            "Cluster": "tools",
            "Subnets": ",".join(self.subnets),
            "SecurityGroups": groups[0]["GroupId"],
            "Image": "registry.example/dynamodb-autoscaler-control:7",
        }
        self.ecs.create_cluster(clusterName="tools")

    def deploy(self, settings_env: dict[str, str], **where: str) -> None:
        every = {pascal(name): "" for name in settings.names()}
        every |= {pascal(name): value for name, value in settings_env.items()}
        every |= {**self.where, **where}
        done = subprocess.run(
            [executable("aws"), "cloudformation", "deploy", "--stack-name", STACK,
             "--template-file", str(TEMPLATE), "--capabilities", "CAPABILITY_IAM",
             "--region", REGION, "--parameter-overrides",
             *(f"{key}={value}" for key, value in every.items())],
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        (described,) = self.cfn.describe_stacks(StackName=STACK)["Stacks"]
        assert described["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")

    def resources(self, kind: str) -> list[str]:
        found = self.cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        return [r["PhysicalResourceId"] for r in found if r.get("ResourceType") == kind]

    def task_role_policies(self) -> dict[str, list[dict[str, Any]]]:
        """The inline policies of the role that is not the execution role, by name."""
        roles = self.resources("AWS::IAM::Role")
        (task_role,) = [r for r in roles if "TaskRole" in r]
        names = self.iam.list_role_policies(RoleName=task_role)["PolicyNames"]
        return {
            name: self.iam.get_role_policy(RoleName=task_role, PolicyName=name)["PolicyDocument"][
                "Statement"
            ]
            for name in names
        }

    def service(self) -> dict[str, Any]:
        (arn,) = self.ecs.list_services(cluster="tools")["serviceArns"]
        (service,) = self.ecs.describe_services(cluster="tools", services=[arn])["services"]
        return dict(service)

    def parameters(self) -> dict[str, str]:
        (described,) = self.cfn.describe_stacks(StackName=STACK)["Stacks"]
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in described["Parameters"]}


def test_deployed_with_an_ecr_image_the_execution_role_reads_only_its_repository(
    stack: Stack,
) -> None:
    cfn = CfnStack(stack)
    image = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/team/ctl:7"

    cfn.deploy(EVERY_SETTING, Image=image)

    (role,) = [r for r in cfn.resources("AWS::IAM::Role") if "ExecutionRole" in r]
    (name,) = cfn.iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = cfn.iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    # moto keeps a role's inline policy from CloudFormation as Python's repr of it, not JSON.
    document = ast.literal_eval(document) if isinstance(document, str) else document
    resources = {s["Sid"]: s["Resource"] for s in document["Statement"]}
    assert resources["LogInToEcr"] == "*"
    assert resources["PullTheImageFromItsRepository"] == (
        f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/team/ctl"
    )


def test_every_setting_sample_is_a_configuration_the_controller_accepts() -> None:
    assert set(EVERY_SETTING) == set(settings.names())
    load([], {**EVERY_SETTING, "PATH": str(Path(executable("aws")).parent)})


def test_a_stack_with_every_setting_runs_the_image_with_them_updates_and_deletes(
    stack: Stack,
) -> None:
    cfn = CfnStack(stack)

    cfn.deploy(EVERY_SETTING)

    service = cfn.service()
    assert service["desiredCount"] == 1  # moto drops the launch type; the template says FARGATE
    definition = cfn.ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
    (container,) = definition["taskDefinition"]["containerDefinitions"]
    assert container["image"] == "registry.example/dynamodb-autoscaler-control:7"
    environment = {e["name"]: e["value"] for e in container["environment"] if e is not None}
    assert environment == EVERY_SETTING
    assert container["portMappings"][0]["containerPort"] == 9102
    assert container["logConfiguration"]["options"]["awslogs-group"] == f"/ecs/{STACK}"
    (group,) = cfn.logs.describe_log_groups(logGroupNamePrefix=f"/ecs/{STACK}")["logGroups"]
    assert group["retentionInDays"] == 30

    # The task role holds each policy file's statements, filled with the stack's values:
    # the same statements tests/test_iam*_integration.py prove under IAM enforcement.
    values = {
        **EVERY_SETTING,
        "AWS_ACCOUNT_ID": ACCOUNT,
    }
    emr = filled("iam-policy-emr.json", values)
    assert cfn.task_role_policies() == {
        "emr": emr,
        "glue": filled("iam-policy-glue.json", values),
        "emr-eks": filled("iam-policy-emr-eks.json", values),
        "emr-serverless": filled("iam-policy-emr-serverless.json", values),
        "ecs": [s for s in filled("iam-policy.json", values) if s not in emr],
        "dynamodb": filled("iam-policy-native-autoscaling.json", values),
    }
    (ecs_statement,) = cfn.task_role_policies()["ecs"]
    assert ecs_statement["Resource"] == (
        f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/autoscaling/dynamodb-autoscaler"
    )
    native = json.dumps(cfn.task_role_policies()["dynamodb"])
    assert f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/orders-*" in native, "DYNAMODB_REGION"

    (dashboard,) = cfn.resources("AWS::CloudWatch::Dashboard")
    body = json.loads(cfn.cloudwatch.get_dashboard(DashboardName=dashboard)["DashboardBody"])
    assert body["start"] == "-PT24H"
    metrics = [m for w in body["widgets"] for m in w["properties"]["metrics"]]
    assert {m[1] for m in metrics} >= {"Paused", "BackupsHolding", "TickOk"}
    for metric in metrics:
        assert metric[:6] == [
            "DynamoDBAutoscalerControl",
            metric[1],
            "AutoscalerService",
            "autoscaling/dynamodb-autoscaler",
            "DynamodbTablePrefix",
            "orders-",
        ]

    cfn.deploy(
        {**EVERY_SETTING, "RESUME_COUNT_MAX": "30"},
        Image="registry.example/dynamodb-autoscaler-control:8",
    )

    updated = cfn.service()["taskDefinition"]
    assert updated != service["taskDefinition"], "a new revision of the task definition"
    parameters = cfn.parameters()
    assert parameters["Image"] == "registry.example/dynamodb-autoscaler-control:8"
    assert (parameters["ResumeCountMax"], parameters["EmrPrefix"]) == ("30", "dynamodb-backup-")

    roles = cfn.resources("AWS::IAM::Role")
    cfn.cfn.delete_stack(StackName=STACK)

    with pytest.raises(cfn.cfn.exceptions.ClientError, match="does not exist"):
        cfn.cfn.describe_stacks(StackName=STACK)
    left = {role["RoleName"] for role in cfn.iam.list_roles()["Roles"]}
    assert not left & set(roles)
    assert cfn.cloudwatch.list_dashboards()["DashboardEntries"] == []


ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}"


@pytest.mark.parametrize(
    ("cluster", "service", "resource"),
    [
        ("autoscaling", "scaler", f"{ARN}:service/autoscaling/scaler"),
        (f"{ARN}:cluster/autoscaling", "scaler", f"{ARN}:service/autoscaling/scaler"),
        ("autoscaling", f"{ARN}:service/autoscaling/scaler", f"{ARN}:service/autoscaling/scaler"),
        (f"{ARN}:cluster/autoscaling", f"{ARN}:service/autoscaling/scaler",
         f"{ARN}:service/autoscaling/scaler"),
        # A service from before the long ARN format: its ARN, which names no cluster.
        (f"{ARN}:cluster/autoscaling", f"{ARN}:service/scaler", f"{ARN}:service/scaler"),
    ],
    ids=["names", "cluster-arn", "service-arn", "both-arns", "short-service-arn"],
)  # fmt: skip
def test_cluster_and_service_as_names_or_arns_give_the_services_arn(
    stack: Stack, cluster: str, service: str, resource: str
) -> None:
    cfn = CfnStack(stack)
    ecs_mode = {
        "EMR_REGION": REGION,
        "EMR_PREFIX": "dynamodb-backup-",
        "AUTOSCALER_CLUSTER": cluster,
        "AUTOSCALER_REGION": REGION,
        "AUTOSCALER_SERVICE": service,
    }

    cfn.deploy(ecs_mode)

    policies = cfn.task_role_policies()
    assert set(policies) == {"emr", "ecs"}
    (statement,) = policies["ecs"]
    assert statement["Resource"] == resource


def test_the_uninstall_runs_release_in_the_templates_container_before_deleting() -> None:
    steps = (ROOT / "docs" / "deploy.md").read_text().split("\n## Uninstall\n", 1)[1]
    commands = steps.split("```sh\n", 1)[1].split("```", 1)[0]
    (overrides,) = re.findall(r"--overrides '([^']+)'", commands)
    (container,) = template()["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    run_task = botocore.session.get_session().get_service_model("ecs").operation_model("RunTask")

    # What the CLI would send: accepted by RunTask's own input shape.
    validate_parameters(
        {"taskDefinition": "arn", "overrides": json.loads(overrides)}, run_task.input_shape
    )
    (override,) = json.loads(overrides)["containerOverrides"]
    assert (override["name"], override["command"]) == (container["Name"], ["--release"])
    assert commands.index("DesiredCount=0") < commands.index("run-task")
    assert commands.index("tasks-stopped") < commands.index("delete-stack")
