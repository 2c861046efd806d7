"""deploy/iam-policy.json against moto with IAM enforcement: enough to pause and resume, and
fail safe when a permission is missing.

moto_server checks every call against IAM once INITIAL_NO_AUTH_ACTION_COUNT unauthenticated
calls have been made. The first three create an administrator; the administrator seeds EMR and
ECS and creates the controller's user with the policy; the controller runs as that user.
"""

from __future__ import annotations

import copy
import json
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import Stack
from tests.support.moto import ACCOUNT, PREFIX, REGION, MotoServer, World

pytestmark = pytest.mark.integration

POLICY = Path(__file__).parents[1] / "deploy" / "iam-policy.json"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# create_user, put_user_policy and create_access_key for the administrator.
UNAUTHENTICATED_CALLS = 3
# The IAM service prefix of each CLI command the controller runs.
IAM_PREFIX = {"emr": "elasticmapreduce", "ecs": "ecs"}


@dataclass
class Enforced:
    server: MotoServer
    admin: tuple[str, str]

    def client(self, service: str, key: tuple[str, str] | None = None) -> Any:
        access, secret = key or self.admin
        session = boto3.session.Session(
            aws_access_key_id=access, aws_secret_access_key=secret, region_name=REGION
        )
        return session.client(service, endpoint_url=self.server.url)


@pytest.fixture(scope="module")
def enforced() -> Iterator[Enforced]:
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_CALLS)}
    with MotoServer(extra_env=env) as server:
        anyone = Enforced(server, ("bootstrap", "bootstrap-secret")).client("iam")
        anyone.create_user(UserName="admin")
        anyone.put_user_policy(
            UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(ALLOW_ALL)
        )
        key = anyone.create_access_key(UserName="admin")["AccessKey"]
        yield Enforced(server, (key["AccessKeyId"], key["SecretAccessKey"]))


def deployed_policy(cluster: str, service: str) -> dict[str, Any]:
    """deploy/iam-policy.json filled in as docs/iam.md says; every placeholder must be known."""
    text = string.Template(POLICY.read_text()).substitute(
        AUTOSCALER_REGION=REGION,
        AWS_ACCOUNT_ID=ACCOUNT,
        AUTOSCALER_CLUSTER=cluster,
        AUTOSCALER_SERVICE=service,
    )
    return dict(json.loads(text))


def as_moto_checks_it(policy: dict[str, Any]) -> dict[str, Any]:
    """The same actions, with ECS statements widened to every resource.

    moto (5.2) checks ECS and EMR actions but evaluates every such request against the
    resource "*": it has no ECS resource ARNs in its IAM check, so a statement scoped to a
    service ARN never matches there and everything is denied. The scoping cannot be proven
    against moto; the test checks instead that the filled-in ARN is the service's real ARN.
    """
    widened = copy.deepcopy(policy)
    for statement in widened["Statement"]:
        if str(statement["Resource"]).startswith("arn:aws:ecs:"):
            statement["Resource"] = "*"
    return widened


def actions(policy: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for statement in policy["Statement"]:
        listed = statement["Action"]
        found.update([listed] if isinstance(listed, str) else listed)
    return found


def iam_action(operation: str) -> str:
    """'emr list-clusters' -> 'elasticmapreduce:ListClusters'."""
    service, command = operation.split()
    return f"{IAM_PREFIX[service]}:{''.join(w.capitalize() for w in command.split('-'))}"


class Deployment:
    """The backup cluster, the autoscaler's service and the controller's user, for one test."""

    def __init__(self, enforced: Enforced, tmp_path: Path) -> None:
        tag = uuid.uuid4().hex[:8]
        self.enforced = enforced
        self.cluster, self.service = f"autoscaling-{tag}", f"dynamodb-autoscaler-{tag}"
        self.user = f"controller-{tag}"
        self.world = World(enforced.server.url, credentials=enforced.admin)
        self.iam = enforced.client("iam")
        self.stack = Stack(enforced.server, tmp_path)
        self.stack.fake_aws()  # pass-through, to record which operations the controller ran
        self.stack.env.update(AUTOSCALER_CLUSTER=self.cluster, AUTOSCALER_SERVICE=self.service)

    def create_user(self, policy: dict[str, Any]) -> str:
        """The controller's user with exactly `policy`; its keys go to the controller."""
        self.iam.create_user(UserName=self.user)
        arn = self.iam.create_policy(PolicyName=self.user, PolicyDocument=json.dumps(policy))[
            "Policy"
        ]["Arn"]
        self.iam.attach_user_policy(UserName=self.user, PolicyArn=arn)
        key = self.iam.create_access_key(UserName=self.user)["AccessKey"]
        self.key = (key["AccessKeyId"], key["SecretAccessKey"])
        self.stack.env.update(AWS_ACCESS_KEY_ID=self.key[0], AWS_SECRET_ACCESS_KEY=self.key[1])
        return str(arn)

    def desired(self) -> int:
        return self.world.desired(self.cluster, self.service)


@pytest.fixture
def deployment(enforced: Enforced, tmp_path: Path) -> Deployment:
    return Deployment(enforced, tmp_path)


def test_the_policy_is_enough_to_pause_and_resume_and_no_more(deployment: Deployment) -> None:
    d = deployment
    service_arn = d.world.create_service(d.cluster, d.service, desired=1)
    backup = d.world.start_cluster(f"{PREFIX}iam")
    policy = deployed_policy(d.cluster, d.service)
    ecs_statement = next(s for s in policy["Statement"] if "ecs:UpdateService" in s["Action"])
    assert ecs_statement["Resource"] == service_arn, (
        "the placeholders of docs/iam.md name the service"
    )
    d.create_user(as_moto_checks_it(policy))

    paused = d.stack.run("--once")
    assert paused.returncode == 0, paused.stderr
    assert d.desired() == 0
    assert "pause: desired 1 -> 0" in paused.stderr

    d.world.terminate_cluster(backup)
    assert d.world.age_records(d.cluster, d.service) == 1  # the backup ran for an hour
    resumed = d.stack.run("--once")
    assert resumed.returncode == 0, resumed.stderr
    assert d.desired() == 1
    assert "resume: desired 0 -> 1" in resumed.stderr
    assert d.world.service_tags(d.cluster, d.service) == {}

    # Minimal: every action in the policy was needed, and nothing else was called.
    assert {iam_action(op) for op in d.stack.operations()} == actions(policy)
    # Enforcement is on: the same user may not do what the policy leaves out.
    with pytest.raises(d.iam.exceptions.ClientError, match="AccessDenied"):
        d.enforced.client("ecs", d.key).list_clusters()


def test_without_the_emr_permission_the_controller_stays_fail_safe(deployment: Deployment) -> None:
    d = deployment
    d.world.create_service(d.cluster, d.service, desired=0)  # paused; no backup runs
    policy = as_moto_checks_it(deployed_policy(d.cluster, d.service))
    policy_arn = d.create_user(policy)
    no_emr = {
        **policy,
        "Statement": [
            s for s in policy["Statement"] if s["Action"] != "elasticmapreduce:ListClusters"
        ],
    }
    d.iam.create_policy_version(
        PolicyArn=policy_arn, PolicyDocument=json.dumps(no_emr), SetAsDefault=True
    )

    result = d.stack.run("--once")

    assert result.returncode == 1, result.stderr
    assert d.desired() == 0, "EMR unreadable: never resume"
    assert d.stack.operations().count("emr list-clusters") == 1, "access denied is not retried"
    assert "ecs update-service" not in d.stack.operations()
    error = next(line for line in result.stderr.splitlines() if "EMR query failed" in line)
    assert "AccessDenied" in error
    assert "not authorized to perform: elasticmapreduce:ListClusters" in error
    assert "<?xml" not in error
    assert f"service {d.cluster}/{d.service}: desired=0" in result.stderr, "ECS still readable"
    assert "EMR state unknown, changing nothing" in result.stderr


def test_with_the_original_images_role_a_backup_still_pauses_the_autoscaler(
    deployment: Deployment,
) -> None:
    """The original image's role has no ecs:TagResource/UntagResource: pause without the record,
    resume to RESUME_COUNT, and say which actions to add."""
    d = deployment
    d.world.create_service(d.cluster, d.service, desired=2)
    backup = d.world.start_cluster(f"{PREFIX}original")
    policy = as_moto_checks_it(deployed_policy(d.cluster, d.service))
    for statement in policy["Statement"]:
        if isinstance(statement["Action"], list):
            statement["Action"] = [
                a for a in statement["Action"] if a not in ("ecs:TagResource", "ecs:UntagResource")
            ]
    d.create_user(policy)

    paused = d.stack.run("--once", RESUME_COUNT="2")

    assert paused.returncode == 0, paused.stderr
    assert d.desired() == 0
    error = next(line for line in paused.stderr.splitlines() if "could not record" in line)
    assert "AccessDenied" in error and "not authorized to perform: ecs:TagResource" in error
    assert "Fix: add ecs:TagResource and ecs:UntagResource on the service" in error

    d.world.terminate_cluster(backup)
    resumed = d.stack.run("--once", RESUME_COUNT="2")

    assert resumed.returncode == 0, resumed.stderr
    assert d.desired() == 2
    assert "ecs untag-resource" not in d.stack.operations()
