"""Every row of the rule, run as a user runs it: the console script, the real aws CLI, moto.

Each test runs with AWS CLI v1 (PyPI) and v2 (the image ships v2; Debian's where installed).
"""

from __future__ import annotations

import pytest

from tests.conftest import EVERY_AWS_CLI, Stack
from tests.support.moto import CLUSTER, PREFIX, SERVICE

pytestmark = EVERY_AWS_CLI


def test_matching_cluster_and_running_service_pauses(stack: Stack) -> None:
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}2026-11-23")

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 0
    assert "pause: desired 2 -> 0" in result.stderr
    assert f"{PREFIX}2026-11-23 ({cluster_id}, WAITING)" in result.stderr
    assert f"service {CLUSTER}/{SERVICE}: desired=2" in result.stderr


def test_matching_cluster_and_paused_service_changes_nothing(stack: Stack) -> None:
    stack.service(desired=0)
    stack.world.start_cluster(f"{PREFIX}nightly")
    stack.fake_aws()  # pass-through, but records every call

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 0
    assert "action: no change (backup active, already paused)" in result.stderr
    assert "ecs update-service" not in stack.operations()


def test_no_cluster_and_paused_service_resumes_to_one(stack: Stack) -> None:
    stack.service(desired=0)

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1
    assert "resume: desired 0 -> 1" in result.stderr
    assert "backups: none active" in result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "nightly-dynamodb-backup-1",  # contains the prefix, does not start with it
        "DYNAMODB-BACKUP-1",  # case differs
        "dynamodb-backup",  # shorter than the prefix
    ],
)
def test_only_non_matching_clusters_resumes(stack: Stack, name: str) -> None:
    stack.service(desired=0)
    stack.world.start_cluster(name)

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1


def test_prefix_is_literal_never_a_glob(stack: Stack) -> None:
    stack.service(desired=0)
    stack.world.start_cluster("dynamodb-backup-1")

    glob = stack.run("--once", EMR_PREFIX="dynamodb-*")

    assert glob.returncode == 0, glob.stderr
    assert stack.desired() == 1, "a '*' in the prefix must not match anything but a '*'"

    stack.world.start_cluster("dynamodb-*weird")
    literal = stack.run("--once", EMR_PREFIX="dynamodb-*")
    assert stack.desired() == 0, literal.stderr


def test_no_cluster_and_running_service_changes_nothing(stack: Stack) -> None:
    stack.service(desired=3)
    stack.fake_aws()

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 3
    assert "no change (no backup active, already running)" in result.stderr
    assert sorted(stack.operations()) == ["ecs describe-services", "emr list-clusters"]


def test_terminated_cluster_no_longer_counts(stack: Stack) -> None:
    stack.service(desired=1)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    assert stack.run("--once").returncode == 0
    assert stack.desired() == 0

    stack.world.terminate_cluster(cluster_id)
    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1


def test_emr_query_failure_never_resumes(stack: Stack) -> None:
    stack.service(desired=0)
    stack.fake_aws(
        {
            "emr list-clusters": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (AccessDeniedException) when calling the "
                "ListClusters operation: User is not authorized to perform elasticmapreduce:"
                "ListClusters",
            }
        }
    )

    result = stack.run("--once")

    assert result.returncode == 1
    assert stack.desired() == 0, "EMR state unknown: the service must stay paused"
    assert "EMR query failed" in result.stderr
    assert "AccessDeniedException" in result.stderr
    assert "EMR state unknown" in result.stderr
    assert "ecs update-service" not in stack.operations()


# --- one source seeing a backup, another denied ---------------------------------------------

GLUE = "dynamodb-export-"
GLUE_DENIED = {
    "glue list-jobs": {
        "fail": -1,
        "exit": 254,
        "stderr": "An error occurred (AccessDeniedException) when calling the ListJobs "
        "operation: User: arn:aws:iam::123456789012:user/controller is not authorized to "
        "perform: glue:ListJobs because no identity-based policy allows the glue:ListJobs action",
    }
}


def tick_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if "action:" in line]
    return line


def test_a_cluster_seen_pauses_while_glue_is_denied_and_stays_paused_after_it(
    stack: Stack,
) -> None:
    stack.env["GLUE_JOB_PREFIX"] = GLUE  # the Glue policy not attached yet
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}nightly")
    stack.fake_aws(GLUE_DENIED)
    heartbeat = stack.tmp / "heartbeat"

    paused = stack.run("--once")

    assert stack.desired() == 0, "a backup seen is paused for, whatever Glue would say"
    assert paused.returncode == 1, "Glue unread: a failed tick, even though it paused"
    assert not heartbeat.exists(), "no heartbeat: the health check must see the blind source"
    assert "ERROR   Glue query failed: `aws glue list-jobs" in paused.stderr
    assert "AccessDeniedException" in paused.stderr
    line = tick_line(paused.stderr)
    assert " ERROR " in line
    assert (
        f"backups: EMR cluster {PREFIX}nightly ({cluster_id}, WAITING) | "
        "unknown sources: Glue (query failed) |" in line
    )
    assert line.endswith("| action: pause: desired 2 -> 0 (backup active) | ok=false")

    # The cluster ends while Glue is still denied: a Glue run could be reading unseen.
    stack.world.terminate_cluster(cluster_id)
    held = stack.run("--once")

    assert held.returncode == 1
    assert stack.desired() == 0, "never resume blind"
    line = tick_line(held.stderr)
    assert "backups: none seen | unknown sources: Glue (query failed) |" in line
    assert line.endswith("| action: no change (Glue state unknown, changing nothing) | ok=false")
    assert stack.operations().count("ecs update-service") == 1, "only the pause"

    # Glue's policy attached: every source read, none holds the pause, so the resume.
    stack.fake_aws()
    resumed = stack.run("--once")

    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 2
    assert heartbeat.exists()


def test_nothing_seen_while_glue_is_denied_leaves_a_running_service_alone(stack: Stack) -> None:
    stack.env["GLUE_JOB_PREFIX"] = GLUE
    stack.service(desired=3)
    stack.world.start_cluster("nightly-report")  # active, but not a backup
    stack.fake_aws(GLUE_DENIED)

    result = stack.run("--once")

    assert result.returncode == 1
    assert stack.desired() == 3, "nothing seen: no pause"
    assert "no change (Glue state unknown, changing nothing) | ok=false" in result.stderr
    assert "ecs update-service" not in stack.operations()


def test_missing_service_is_an_error_naming_cluster_and_service(stack: Stack) -> None:
    stack.world.create_service(CLUSTER, "something-else", 1)

    result = stack.run("--once")

    assert result.returncode == 1
    assert f"service {SERVICE!r} on cluster {CLUSTER!r}: MISSING" in result.stderr


def test_missing_cluster_is_an_error(stack: Stack) -> None:
    result = stack.run("--once", AUTOSCALER_CLUSTER="no-such-cluster")

    assert result.returncode == 1
    assert "ClusterNotFoundException" in result.stderr
    assert "--cluster no-such-cluster" in result.stderr


def test_inactive_service_is_left_alone(stack: Stack) -> None:
    stack.service(desired=0)
    stack.world.ecs.delete_service(cluster=CLUSTER, service=SERVICE, force=True)
    stack.fake_aws()

    result = stack.run("--once")

    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(error) == 1, result.stderr
    assert f"service {CLUSTER}/{SERVICE}: desired=0" in error[0]
    assert "service is INACTIVE, not ACTIVE" in error[0]
    assert "ecs update-service" not in stack.operations()


def test_dry_run_decides_but_changes_nothing(stack: Stack) -> None:
    stack.service(desired=2)
    stack.world.start_cluster(f"{PREFIX}1")
    stack.fake_aws()

    flag = stack.run("--once", "--dry-run")
    env = stack.run("--once", DRY_RUN="true")

    for result in (flag, env):
        assert result.returncode == 0, result.stderr
        assert "pause: desired 2 -> 0" in result.stderr
        assert "dry run, not applied" in result.stderr
    assert stack.desired() == 2
    assert "ecs update-service" not in stack.operations()


def test_debug_output_shows_commands_but_never_the_secret(stack: Stack) -> None:
    stack.service(desired=1)

    result = stack.run("--once", DEBUG_OUTPUT="1")

    assert result.returncode == 0, result.stderr
    assert "DEBUG" in result.stderr
    assert "aws emr list-clusters --active --region us-east-1" in result.stderr
    assert "aws ecs describe-services --cluster autoscaling" in result.stderr
    assert stack.env["AWS_SECRET_ACCESS_KEY"] not in result.stderr + result.stdout


def test_log_lines_have_timestamps_and_levels(stack: Stack) -> None:
    stack.service(desired=1)

    result = stack.run("--once")

    tick = [line for line in result.stderr.splitlines() if "action:" in line]
    assert len(tick) == 1, result.stderr
    stamp, level = tick[0].split()[:2]
    assert stamp.endswith("Z") and stamp[4] == "-" and "T" in stamp
    assert level == "INFO"
