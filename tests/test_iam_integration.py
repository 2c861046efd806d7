"""deploy/iam-policy.json against moto with IAM enforcement: enough to pause and resume, and
fail safe when a permission is missing.

The administrator of the `enforced` moto_server (tests/support/iam.py) seeds EMR and ECS and
creates the controller's user with the policy; the controller runs as that user.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.support.iam import Deployment, Enforced, actions, as_moto_checks, filled, iam_action
from tests.support.moto import ACCOUNT, PREFIX, REGION

pytestmark = pytest.mark.integration


def deployed_policy(cluster: str, service: str) -> dict[str, Any]:
    """deploy/iam-policy.json filled in as docs/iam.md says."""
    return filled(
        "iam-policy.json",
        AUTOSCALER_REGION=REGION,
        AWS_ACCOUNT_ID=ACCOUNT,
        AUTOSCALER_CLUSTER=cluster,
        AUTOSCALER_SERVICE=service,
    )


@pytest.fixture
def deployment(enforced: Enforced, tmp_path: Path) -> Deployment:
    return Deployment(enforced, Stack(enforced.server, tmp_path))


def test_the_policy_is_enough_to_pause_and_resume_and_no_more(deployment: Deployment) -> None:
    d = deployment
    service_arn = d.world.create_service(d.cluster, d.service, desired=1)
    backup = d.world.start_cluster(f"{PREFIX}iam")
    policy = deployed_policy(d.cluster, d.service)
    ecs_statement = next(s for s in policy["Statement"] if "ecs:UpdateService" in s["Action"])
    assert ecs_statement["Resource"] == service_arn, (
        "the placeholders of docs/iam.md name the service"
    )
    d.create_user(as_moto_checks(policy))

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
    assert {iam_action(op) for op in d.stack.operations()} == set(actions(policy))
    # Enforcement is on: the same user may not do what the policy leaves out.
    with pytest.raises(d.iam.exceptions.ClientError, match="AccessDenied"):
        d.enforced.client("ecs", d.key).list_clusters()


def test_without_the_emr_permission_the_controller_stays_fail_safe(deployment: Deployment) -> None:
    d = deployment
    d.world.create_service(d.cluster, d.service, desired=0)  # paused; no backup runs
    policy = deployed_policy(d.cluster, d.service)
    d.create_user(as_moto_checks(policy))
    d.enforced.replace_policy(
        d.user, as_moto_checks(policy, without="elasticmapreduce:ListClusters")
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
    policy = deployed_policy(d.cluster, d.service)
    d.create_user(as_moto_checks(policy, without=("ecs:TagResource", "ecs:UntagResource")))

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
