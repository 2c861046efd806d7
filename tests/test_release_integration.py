"""`--release` against moto, and an accepted update whose answer cannot be read, through the
real CLI and the CLI double."""

from __future__ import annotations

from controller.autoscalers.ecs import PAUSED_COUNT_TAG
from tests.conftest import Stack
from tests.support.moto import PREFIX, SUSPENDED_FLAGS

ALL = set(SUSPENDED_FLAGS)
TABLE_READ, TABLE_WRITE = "dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits"
MUTATING = {
    "ecs update-service",
    "ecs tag-resource",
    "ecs untag-resource",
    "resourcegroupstaggingapi tag-resources",
    "resourcegroupstaggingapi untag-resources",
    "application-autoscaling register-scalable-target",
}


def paused(stack: Stack, desired: int = 3) -> str:
    """A service paused by the controller while a backup cluster stays active."""
    stack.service(desired=desired)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    pause = stack.run("--once")
    assert pause.returncode == 0, pause.stderr
    assert (stack.desired(), list(stack.tags().values())) == (0, [str(desired)])
    (key,) = stack.tags()
    assert key.startswith(f"{PAUSED_COUNT_TAG}:"), "under a key of its own pause"
    return cluster_id


def mutations(stack: Stack) -> list[str]:
    return [op for op in stack.operations() if op in MUTATING]


def test_release_restores_the_count_during_a_backup_and_a_second_run_changes_nothing(
    stack: Stack,
) -> None:
    paused(stack, desired=3)

    # At LOG_LEVEL=NOTICE, which leaves out the steady ticks, as loud as the pause it undoes.
    released = stack.run("--release", LOG_LEVEL="NOTICE")

    assert released.returncode == 0, released.stderr
    assert "NOTICE  release: resume: desired 0 -> 3" in released.stderr
    assert (stack.desired(), stack.tags()) == (3, {}), "restored although the backup is active"

    stack.fake_aws()  # record the second run's calls
    again = stack.run("--release")

    assert again.returncode == 0, again.stderr
    assert "release: nothing to release" in again.stderr
    assert mutations(stack) == []
    assert "emr list-clusters" not in stack.operations(), "release never asks EMR"
    assert stack.desired() == 3


def test_release_dry_run_only_says_what_it_would_do(stack: Stack) -> None:
    paused(stack, desired=2)
    stack.fake_aws()

    dry = stack.run("--release", "--dry-run")

    assert dry.returncode == 0, dry.stderr
    assert "would resume: desired 0 -> 2" in dry.stderr
    assert mutations(stack) == []
    assert (stack.desired(), list(stack.tags().values())) == (0, ["2"])


def test_release_leaves_a_service_at_0_without_a_record_alone(stack: Stack) -> None:
    stack.service(desired=0)  # scaled to 0 by a person, not paused by the controller

    released = stack.run("--release")

    assert released.returncode == 0, released.stderr
    assert "nothing to release" in released.stderr
    assert stack.desired() == 0


def test_release_reports_a_record_it_cannot_use_and_still_releases_the_tables(
    stack: Stack,
) -> None:
    stack.world.autoscale_table("orders-eu")
    stack.world.autoscale("table/orders-eu", TABLE_WRITE, {"ScheduledScalingSuspended"})
    stack.env["DYNAMODB_TABLE_PREFIX"] = "orders-"
    paused(stack, desired=2)
    assert stack.world.table_tags("orders-eu") != {}
    arn = stack.world.service("autoscaling", "dynamodb-autoscaler")["serviceArn"]
    (key,) = stack.tags()  # a person edits the record
    stack.world.ecs.tag_resource(resourceArn=arn, tags=[{"key": key, "value": "two"}])

    released = stack.run("--release")

    assert released.returncode == 1
    error_lines = [line for line in released.stderr.splitlines() if "ERROR" in line]
    assert len(error_lines) == 1, released.stderr
    assert "holds 'two', not a count" in error_lines[0]
    assert (stack.desired(), stack.tags()) == (0, {key: "two"}), "not guessed"
    suspended = stack.world.suspended()
    assert suspended[("table/orders-eu", TABLE_READ)] == set()
    assert suspended[("table/orders-eu", TABLE_WRITE)] == {"ScheduledScalingSuspended"}, (
        "a flag set before the pause stays"
    )
    assert stack.world.table_tags("orders-eu") == {}
    assert "release: resume: table orders-eu, 2 of 2 scalable targets" in released.stderr


def test_release_in_native_mode_only(stack: Stack) -> None:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.env["DYNAMODB_TABLE_PREFIX"] = "orders-"
    stack.world.autoscale_table("orders-eu")
    stack.world.autoscale_table("orders-us")
    stack.world.start_cluster(f"{PREFIX}1")
    assert stack.run("--once").returncode == 0
    every = " ".join(sorted(ALL))
    tags = stack.world.table_tags("orders-eu")
    assert sorted(tags.values()) == [every, every]
    assert sorted(key.split(":")[-2:][0] + ":" + key.split(":")[-1] for key in tags) == [
        "table:read",
        "table:write",
    ]
    stack.fake_aws()

    released = stack.run("--release")

    assert released.returncode == 0, released.stderr
    assert all(not flags for flags in stack.world.suspended().values())
    assert stack.world.table_tags("orders-eu") == {}
    assert stack.world.table_tags("orders-us") == {}
    # The loop's own way: the records of both tables removed in one call, after the scaling.
    assert mutations(stack) == [
        *["application-autoscaling register-scalable-target"] * 4,
        "resourcegroupstaggingapi untag-resources",
    ]
    assert stack.run("--release").stderr.count("nothing to release") == 1


def test_an_accepted_update_with_an_unreadable_answer_is_reported_done(stack: Stack) -> None:
    cluster_id = paused(stack, desired=3)
    stack.world.terminate_cluster(cluster_id)
    stack.age_records()  # the backup ran for an hour
    stack.fake_aws({"ecs update-service": {"answer": "<html>502 Bad Gateway</html>"}})

    resume = stack.run("--once")

    assert resume.returncode == 0, resume.stderr
    assert "succeeded but its answer could not be read" in resume.stderr
    assert "WARNING" in resume.stderr
    assert "FAILED" not in resume.stderr
    assert "resume: desired 0 -> 3" in resume.stderr
    assert (stack.desired(), stack.tags()) == (3, {}), "the record is forgotten in the same tick"
