"""deploy/iam-policy-native-autoscaling.json is enough for the native mode, and a denied
record write still suspends (with an ERROR): moto checks every call against IAM here.

moto checks actions, not resources or conditions (it sees every resource as "*"), so the
statements are loaded with their Resource widened to "*" and their Condition dropped: what
this proves is that the list of actions is complete. The EMR query belongs to the base
policy (deploy/iam-policy.json); a one-action stand-in for it is added here.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.moto import (
    PREFIX,
    REGION,
    SUSPENDED_FLAGS,
    MotoServer,
    World,
    executable,
    isolated_env,
)

POLICY = Path(__file__).parent.parent / "deploy" / "iam-policy-native-autoscaling.json"
EMR_QUERY = {"Effect": "Allow", "Action": "elasticmapreduce:ListClusters", "Resource": "*"}
# Unauthenticated calls: three users, three calls each; every later call is checked.
SETUP_CALLS = 9
EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def as_moto_checks(policy: dict[str, Any], without: str = "") -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        # moto names the Resource Groups Tagging API's actions by its signing name, "tagging",
        # where IAM's prefix is "tag" (tag:GetResources): the same action under moto's name.
        kept = [
            action.replace("tag:", "tagging:", 1) if action.startswith("tag:") else action
            for action in actions
            if action != without
        ]
        if kept:
            checked = {k: v for k, v in statement.items() if k != "Condition"}
            statements.append({**checked, "Action": kept, "Resource": "*"})
    return {"Version": policy["Version"], "Statement": [*statements, EMR_QUERY]}


class Accounts:
    """An admin that seeds the world, and controller users with a given policy."""

    def __init__(self, server: MotoServer) -> None:
        self.iam = boto3.client(
            "iam",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id="setup",
            aws_secret_access_key="setup-secret-key",
        )

    def user(self, name: str, policy: dict[str, Any]) -> tuple[str, str]:
        self.iam.create_user(UserName=name)
        self.iam.put_user_policy(
            UserName=name, PolicyName="policy", PolicyDocument=json.dumps(policy)
        )
        key = self.iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def iam_server() -> Iterator[MotoServer]:
    extra = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_CALLS)}
    with MotoServer(extra_env=extra) as server:
        yield server


def test_native_policy_is_enough_and_a_denied_record_still_suspends(
    iam_server: MotoServer, tmp_path: Path
) -> None:
    policy = json.loads(POLICY.read_text())
    accounts = Accounts(iam_server)
    admin = accounts.user("admin", EVERYTHING)
    controller = accounts.user("controller", as_moto_checks(policy))
    # The records are written through the Tagging API, which AWS checks first (and then
    # dynamodb:TagResource on each table, which moto does not check).
    no_tagging = accounts.user(
        "controller-no-tagging", as_moto_checks(policy, without="tag:TagResources")
    )
    world = World(iam_server.url, credentials=admin)
    world.autoscale_table("orders-eu", indexes=("by-date",))
    cluster_id = world.start_cluster(f"{PREFIX}1")

    def run(credentials: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        env = isolated_env(
            iam_server.url,
            tmp_path / "home",
            EMR_PREFIX=PREFIX,
            EMR_REGION=REGION,
            DYNAMODB_TABLE_PREFIX="orders-",
            AWS_ACCESS_KEY_ID=credentials[0],
            AWS_SECRET_ACCESS_KEY=credentials[1],
            CALL_ATTEMPTS="1",
        )
        return subprocess.run(
            [executable("dynamodb-autoscaler-control"), "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    paused = run(controller)

    assert paused.returncode == 0, paused.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())

    world.terminate_cluster(cluster_id)
    world.age_records(table="orders-eu")  # the backup ran for an hour
    resumed = run(controller)

    assert resumed.returncode == 0, resumed.stderr
    assert all(not flags for flags in world.suspended().values())
    assert world.table_tags("orders-eu") == {}

    # Without the record the backup still never runs with the auto scaling active.
    cluster_id = world.start_cluster(f"{PREFIX}2")
    denied = run(no_tagging)

    assert denied.returncode == 0, denied.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())
    error = next(line for line in denied.stderr.splitlines() if "could not record" in line)
    assert " ERROR " in error and "AccessDenied" in error
    assert "add tag:TagResources and tag:UntagResources, and dynamodb:TagResource" in error
    assert "will NOT resume the auto scaling of this table" in error
    assert "table/orders-eu/index/by-date WriteCapacityUnits" in error
    assert "without a record (AccessDenied)" in denied.stderr

    # As the ERROR said: after the backup nothing it cannot prove it suspended is resumed.
    world.terminate_cluster(cluster_id)
    after = run(no_tagging)

    assert after.returncode == 0, after.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())
