"""deploy/iam-policy-glue.json, -emr-eks.json and -emr-serverless.json: each is enough for its
source and names no more than it uses, and without it the controller changes nothing. moto
checks every call against IAM here.

As in test_iam_native_integration, moto checks actions, not resources: statements are loaded
with their Resource widened to "*", so what this proves is that each list of actions is
complete. The placeholders are checked apart: filled in, each scoped Resource is the ARN of
the thing the source reads. The autoscaler's service belongs to the base policy
(deploy/iam-policy.json); a stand-in for its ECS statement is added here.

moto 5.2.5 answers every signed GET of emr-containers and emr-serverless (all their list
calls) with SignatureDoesNotMatch once IAM is enforced, even for a user allowed everything,
so those two policies cannot be proven under enforcement here: their tests are strict
xfails (they will say so when moto is fixed), and the test without enforcement below still
shows that each policy names exactly the calls its source makes.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Stack
from tests.support.iam import Enforced, actions, as_moto_checks, filled
from tests.support.moto import (
    ACCOUNT,
    CLUSTER,
    REGION,
    SERVICE,
    MotoServer,
    World,
    controller_env,
    executable,
)
from tests.support.sources import Sources

ECS_SERVICE = {
    "Effect": "Allow",
    "Action": ["ecs:DescribeServices", "ecs:UpdateService", "ecs:TagResource", "ecs:UntagResource"],
    "Resource": "*",
}
# The CLI command of each IAM action the policies name.
OPERATION = {
    "glue:ListJobs": "glue list-jobs",
    "glue:GetJobRuns": "glue get-job-runs",
    "emr-containers:ListVirtualClusters": "emr-containers list-virtual-clusters",
    "emr-containers:ListJobRuns": "emr-containers list-job-runs",
    "emr-serverless:ListApplications": "emr-serverless list-applications",
    "emr-serverless:ListJobRuns": "emr-serverless list-job-runs",
}
PREFIXES = {
    "glue": ("GLUE_JOB_PREFIX", "dynamodb-export-"),
    "emr-eks": ("EMR_EKS_JOB_PREFIX", "spark-dynamodb-"),
    "emr-serverless": ("EMR_SERVERLESS_JOB_PREFIX", "serverless-dynamodb-"),
}


def deployed(source: str) -> dict[str, Any]:
    """The policy filled in as the docs say."""
    setting, prefix = PREFIXES[source]
    values = {"EMR_REGION": REGION, "AWS_ACCOUNT_ID": ACCOUNT, setting: prefix}
    return filled(f"iam-policy-{source}.json", **values)


def run(
    server: MotoServer, home: Path, source: str, key: tuple[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """One tick as a user with `key`, only `source`'s prefix set; and the operations run."""
    setting, prefix = PREFIXES[source]
    calls = home / "calls.jsonl"
    calls.unlink(missing_ok=True)
    env = controller_env(
        server.url,
        home,
        **{setting: prefix},
        AUTOSCALER_CLUSTER=f"{CLUSTER}-{source}",
        AWS_ACCESS_KEY_ID=key[0],
        AWS_SECRET_ACCESS_KEY=key[1],
        CALL_ATTEMPTS="1",
        AWS_CLI=str(Path(__file__).parent / "support" / "fake_aws.py"),
        FAKE_AWS_CALLS=str(calls),
        FAKE_AWS_REAL=executable("aws"),
    )
    del env["EMR_PREFIX"]
    done = subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    operations = [" ".join(json.loads(line)[:2]) for line in calls.read_text().splitlines()]
    return done, operations


MOTO_SIGNATURE_BUG = pytest.mark.xfail(
    reason="moto 5.2.5 answers signed GETs of this service with SignatureDoesNotMatch under "
    "IAM enforcement",
    strict=True,
)


def seed(sources: Sources, source: str) -> None:
    """Something for each call to read, so that the per-item call is made too."""
    _, prefix = PREFIXES[source]
    if source == "glue":
        sources.start_glue_run(f"{prefix}{source}")
    elif source == "emr-eks":
        sources.start_eks_run(sources.virtual_cluster(), f"{prefix}1")
    else:
        sources.start_serverless_run(sources.started_application(), f"{prefix}1")


@pytest.mark.parametrize(
    "source",
    [
        "glue",
        pytest.param("emr-eks", marks=MOTO_SIGNATURE_BUG),
        pytest.param("emr-serverless", marks=MOTO_SIGNATURE_BUG),
    ],
)
def test_each_source_policy_is_enough_and_names_only_what_is_used(
    enforced: Enforced, tmp_path: Path, source: str
) -> None:
    server, admin = enforced.server, enforced.admin
    world = World(server.url, credentials=admin)
    seed(Sources(server.url, credentials=admin), source)
    world.create_service(f"{CLUSTER}-{source}", SERVICE, desired=1)
    policy = deployed(source)
    users = (f"{source}-{n}" for n in itertools.count())

    key = enforced.user(next(users), as_moto_checks(policy, plus=[ECS_SERVICE]))
    result, operations = run(server, tmp_path, source, key)

    assert result.returncode == 0, result.stderr
    used = {op for op in operations if not op.startswith("ecs ")}
    assert used == {OPERATION[action] for action in actions(policy)}

    # Each action is needed: without it the source is unknown, and nothing changes.
    for action in actions(policy):
        key = enforced.user(next(users), as_moto_checks(policy, without=action, plus=[ECS_SERVICE]))
        denied, _ = run(server, tmp_path, source, key)
        assert denied.returncode == 1, (action, denied.stderr)
        assert "AccessDenied" in denied.stderr, (action, denied.stderr)
        assert "state unknown, changing nothing" in denied.stderr


@pytest.mark.parametrize("source", sorted(PREFIXES))
def test_each_policy_names_exactly_the_calls_its_source_makes(stack: Stack, source: str) -> None:
    setting, prefix = PREFIXES[source]
    stack.env.pop("EMR_PREFIX")
    stack.env[setting] = prefix
    stack.service(desired=1)
    seed(Sources(stack.server.url), source)
    stack.fake_aws()

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    used = {op for op in stack.operations() if not op.startswith("ecs ")}
    assert used == {OPERATION[action] for action in actions(deployed(source))}


@pytest.mark.parametrize(
    ("source", "arn"),
    [
        ("glue", f"arn:aws:glue:{REGION}:{ACCOUNT}:job/dynamodb-export-orders"),
        (
            "emr-eks",
            f"arn:aws:emr-containers:{REGION}:{ACCOUNT}:/virtualclusters/u43qkp5sjzlganvqkn",
        ),
        ("emr-serverless", f"arn:aws:emr-serverless:{REGION}:{ACCOUNT}:/applications/00f1abc"),
    ],
)
def test_the_scoped_statement_covers_what_the_source_reads(source: str, arn: str) -> None:
    (scoped,) = [s for s in deployed(source)["Statement"] if s["Resource"] != "*"]

    assert fnmatch.fnmatchcase(arn, scoped["Resource"])
    assert not fnmatch.fnmatchcase(arn.replace(REGION, "eu-west-1"), scoped["Resource"])
