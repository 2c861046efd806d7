"""The records of a pause, against moto through the real CLI: a pause that cannot write its
record still pauses, and a record is data, not an order."""

from __future__ import annotations

import pytest

from controller.autoscalers.ecs import PAUSED_COUNT_TAG
from tests.conftest import Stack
from tests.support.moto import PREFIX


def tag_refused(code: str, message: str) -> dict[str, object]:
    return {
        "fail": -1,
        "exit": 254,
        "stderr": f"\nAn error occurred ({code}) when calling the TagResource operation: {message}",
    }


@pytest.mark.parametrize(
    ("code", "message", "fix"),
    [
        # The original's IAM role: no ecs:TagResource.
        (
            "AccessDeniedException",
            "User: arn:aws:iam::123456789012:user/original is not authorized to perform: "
            "ecs:TagResource on resource: arn:aws:ecs:us-east-1:123456789012:service/x/y",
            "Fix: add ecs:TagResource and ecs:UntagResource on the service",
        ),
        # A service created before ECS's long ARN format.
        (
            "InvalidParameterException",
            "Long arn format must be used for tagging operations",
            "--name serviceLongArnFormat --value enabled`) and recreate the service",
        ),
    ],
)
def test_a_pause_goes_ahead_when_the_tag_is_refused_and_resumes_to_resume_count(
    stack: Stack, code: str, message: str, fix: str
) -> None:
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}nightly")
    stack.fake_aws({"ecs tag-resource": tag_refused(code, message)})

    paused = stack.run("--once", RESUME_COUNT="3")

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0, "the backup never runs with the autoscaler active"
    assert stack.tags() == {}
    error = next(line for line in paused.stderr.splitlines() if "could not record" in line)
    assert " ERROR " in error
    assert code in error, error
    assert message in error, error
    assert fix in error, error
    assert "the resume will set the desired count to RESUME_COUNT=3, not to the 2" in error
    assert "pause: desired 2 -> 0 (backup active; without a record" in paused.stderr
    assert stack.operations().index("ecs tag-resource") < stack.operations().index(
        "ecs update-service"
    ), "the record is still tried first"

    stack.world.terminate_cluster(cluster_id)
    resumed = stack.run("--once", RESUME_COUNT="3")

    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 3
    assert "resume: desired 0 -> 3" in resumed.stderr
    assert "ecs untag-resource" not in stack.operations(), "no record, nothing to remove"


@pytest.mark.parametrize(
    ("tag", "shown"),
    [
        ("999999", "'999999'"),
        ("\u0661\u0662", "'\u0661\u0662'"),  # Arabic-Indic 12
        ("\u00b2", "'\u00b2'"),  # isdigit() but not int(): crashed the process before
    ],
)
def test_a_recorded_count_that_is_not_trusted_resumes_to_resume_count(
    stack: Stack, tag: str, shown: str
) -> None:
    arn = stack.service(desired=0)
    stack.world.ecs.tag_resource(resourceArn=arn, tags=[{"key": PAUSED_COUNT_TAG, "value": tag}])

    result = stack.run("--once", RESUME_COUNT="2")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 2
    # A hand-written record has no time in its key: it is removed once a controller has seen
    # it for the settle time (a loop), or by --release.
    assert stack.tags() == {PAUSED_COUNT_TAG: tag}
    error = next(line for line in result.stderr.splitlines() if "not trusted" in line)
    assert " ERROR " in error and shown in error and "RESUME_COUNT_MAX=10" in error


def test_a_recorded_count_within_resume_count_max_is_restored(stack: Stack) -> None:
    arn = stack.service(desired=0)
    stack.world.ecs.tag_resource(resourceArn=arn, tags=[{"key": PAUSED_COUNT_TAG, "value": "40"}])

    result = stack.run("--once", RESUME_COUNT_MAX="40")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 40
    assert " ERROR " not in result.stderr
