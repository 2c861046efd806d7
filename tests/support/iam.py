"""moto_server with IAM enforced, the users the controller runs as there, and the policy files
of deploy/ as moto can check them. One set-up for every test that proves a policy.

moto_server checks every call against IAM once INITIAL_NO_AUTH_ACTION_COUNT unauthenticated
calls have been made. The first three create an administrator, which seeds the world and
makes the controller's users; the controller then runs as one of those users.
"""

from __future__ import annotations

import copy
import json
import string
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.moto import REGION, MotoServer, World, session

if TYPE_CHECKING:
    from tests.conftest import Stack

DEPLOY = Path(__file__).parents[2] / "deploy"
ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
# create_user, put_user_policy and create_access_key for the administrator.
UNAUTHENTICATED_CALLS = 3
# The IAM service prefix of each CLI command the controller runs in ECS mode.
IAM_PREFIX = {"emr": "elasticmapreduce", "ecs": "ecs"}


class Enforced:
    """A moto_server that checks every call against IAM, with an administrator's key."""

    def __init__(self, server: MotoServer) -> None:
        self.server = server
        self.admin = ("bootstrap", "bootstrap-secret")  # any key passes the first calls
        anyone = self.client("iam")
        anyone.create_user(UserName="admin")
        anyone.put_user_policy(
            UserName="admin", PolicyName="admin", PolicyDocument=json.dumps(ALLOW_ALL)
        )
        key = anyone.create_access_key(UserName="admin")["AccessKey"]
        self.admin = (key["AccessKeyId"], key["SecretAccessKey"])
        self.iam = self.client("iam")
        self.policies: dict[str, str] = {}

    @classmethod
    @contextmanager
    def started(cls) -> Iterator[Enforced]:
        env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(UNAUTHENTICATED_CALLS)}
        with MotoServer(extra_env=env) as server:
            yield cls(server)

    def client(self, service: str, key: tuple[str, str] | None = None) -> Any:
        """A boto3 client as the administrator, or as the holder of `key`."""
        return session(REGION, key or self.admin).client(service, endpoint_url=self.server.url)

    def user(self, name: str, policy: Mapping[str, Any]) -> tuple[str, str]:
        """A user holding exactly `policy` (a managed policy of the same name); its key."""
        self.iam.create_user(UserName=name)
        created = self.iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(policy))
        self.policies[name] = created["Policy"]["Arn"]
        self.iam.attach_user_policy(UserName=name, PolicyArn=self.policies[name])
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def replace_policy(self, name: str, policy: Mapping[str, Any]) -> None:
        """Give user `name` `policy` instead, as a new default version of its policy."""
        self.iam.create_policy_version(
            PolicyArn=self.policies[name], PolicyDocument=json.dumps(policy), SetAsDefault=True
        )


def filled(file: str, **values: str) -> dict[str, Any]:
    """deploy/`file` with its placeholders filled in as docs/iam.md says; every placeholder
    must be given (string.Template.substitute raises on a missing one)."""
    text = string.Template((DEPLOY / file).read_text()).substitute(values)
    return dict(json.loads(text))


def actions(policy: Mapping[str, Any]) -> list[str]:
    """Every action the policy's statements name, in order."""
    found: list[str] = []
    for statement in policy["Statement"]:
        listed = statement["Action"]
        found += [listed] if isinstance(listed, str) else listed
    return found


def as_moto_checks(
    policy: Mapping[str, Any],
    without: str | Collection[str] = (),
    plus: Collection[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The same actions as moto (5.2) can check them, less `without`, plus `plus`.

    moto checks actions, not resources or conditions: it evaluates every request against the
    resource "*", so a statement scoped to an ARN never matches there and everything would be
    denied. Each statement's Resource is widened to "*" and its Condition dropped: what a test
    then proves is that the list of actions is complete; the scoping is checked apart, by
    filling in the placeholders. moto also names the Resource Groups Tagging API's actions by
    its signing name, "tagging:", where IAM's prefix is "tag:".
    """
    left_out = {without} if isinstance(without, str) else set(without)
    statements = []
    for statement in copy.deepcopy(policy["Statement"]):
        listed = statement["Action"]
        kept = [
            action.replace("tag:", "tagging:", 1) if action.startswith("tag:") else action
            for action in ([listed] if isinstance(listed, str) else listed)
            if action not in left_out
        ]
        if kept:
            checked = {k: v for k, v in statement.items() if k != "Condition"}
            statements.append({**checked, "Action": kept, "Resource": "*"})
    return {"Version": policy["Version"], "Statement": [*statements, *plus]}


def iam_action(operation: str) -> str:
    """'emr list-clusters' -> 'elasticmapreduce:ListClusters'."""
    service, command = operation.split()
    return f"{IAM_PREFIX[service]}:{''.join(w.capitalize() for w in command.split('-'))}"


class Deployment:
    """A backup cluster, an autoscaler's service and the controller's user, names of one
    test's own, on an `Enforced` moto_server; `stack` runs the controller there."""

    def __init__(self, enforced: Enforced, stack: Stack) -> None:
        tag = uuid.uuid4().hex[:8]
        self.enforced = enforced
        self.cluster, self.service = f"autoscaling-{tag}", f"dynamodb-autoscaler-{tag}"
        self.user = f"controller-{tag}"
        self.world = World(enforced.server.url, credentials=enforced.admin)
        self.iam = enforced.iam
        self.stack = stack
        self.stack.fake_aws()  # pass-through, to record which operations the controller ran
        self.stack.env.update(AUTOSCALER_CLUSTER=self.cluster, AUTOSCALER_SERVICE=self.service)

    def create_user(self, policy: dict[str, Any]) -> None:
        """The controller's user with exactly `policy`; its keys go to the controller."""
        self.key = self.enforced.user(self.user, policy)
        self.stack.env.update(AWS_ACCESS_KEY_ID=self.key[0], AWS_SECRET_ACCESS_KEY=self.key[1])

    def desired(self) -> int:
        return self.world.desired(self.cluster, self.service)
