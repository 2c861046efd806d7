"""The desired count from before the pause comes back, across a killed controller too."""

from __future__ import annotations

import time

from controller.autoscalers.ecs import PAUSED_COUNT_TAG
from tests.conftest import Loop, Stack
from tests.support.moto import CLUSTER, PREFIX, SERVICE

DENIED = {
    "fail": 1,
    "exit": 254,
    "stderr": "An error occurred (AccessDeniedException) when calling the UpdateService "
    "operation: not now",
}


def test_count_is_restored_after_the_controller_is_killed_and_restarted(
    stack: Stack, loops: list[Loop]
) -> None:
    stack.service(desired=3)
    cluster_id = stack.world.start_cluster(f"{PREFIX}nightly")
    first = stack.start("--interval", "0.5")
    loops.append(first)
    first.wait_for("pause: desired 3 -> 0")
    assert stack.desired() == 0
    assert list(stack.tags().values()) == ["3"], "the count is recorded on the service"

    first.kill()  # SIGKILL: nothing in memory survives
    # Short calls, so that the record settles within the test (3 x CALL_TIMEOUT).
    second = stack.start("--interval", "0.5", CALL_TIMEOUT="5", CALL_ATTEMPTS="1")
    loops.append(second)
    second.wait_for("backup active, already paused")
    stack.world.terminate_cluster(cluster_id)
    second.wait_for("resume: desired 0 -> 3")
    assert stack.desired() == 3
    second.wait_for("tidy: remove the stale paused-count record (3)", timeout=120)

    assert stack.tags() == {}
    assert second.terminate()[0] == 0


def test_pause_cut_short_after_the_record_is_finished_by_the_next_tick(stack: Stack) -> None:
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    stack.fake_aws({"ecs update-service": DENIED})

    cut = stack.run("--once")

    assert cut.returncode == 1
    assert "pause: desired 2 -> 0 FAILED" in cut.stderr
    assert (stack.desired(), list(stack.tags().values())) == (2, ["2"])

    finished = stack.run("--once")

    assert finished.returncode == 0, finished.stderr
    # A record of its own: the one there may be a record a resume is about to remove.
    assert (stack.desired(), list(stack.tags().values())) == (0, ["2", "2"])
    stack.world.terminate_cluster(cluster_id)
    stack.age_records()  # the backup ran for an hour
    assert stack.run("--once").returncode == 0
    assert (stack.desired(), stack.tags()) == (2, {})


def test_service_set_to_0_by_hand_resumes_to_resume_count(stack: Stack) -> None:
    stack.service(desired=0)
    stack.fake_aws()

    result = stack.run("--once", RESUME_COUNT="2")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 2
    assert "resume: desired 0 -> 2 (no backup active)" in result.stderr
    assert stack.operations().count("ecs untag-resource") == 0, "there was no record to remove"


def test_stale_record_on_a_running_service_is_removed(stack: Stack) -> None:
    """A record a controller left an hour ago (killed between scaling up and untagging)."""
    stack.service(desired=2)
    hour_ago = f"{int(time.time()) - 3600:08x}beef"
    stack.world.ecs.tag_resource(
        resourceArn=stack.world.service(CLUSTER, SERVICE)["serviceArn"],
        tags=[{"key": f"{PAUSED_COUNT_TAG}:{hour_ago}", "value": "5"}],
    )

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert (stack.desired(), stack.tags()) == (2, {})
    assert "tidy: remove the stale paused-count record (5)" in result.stderr


def test_a_recent_record_on_a_running_service_waits_to_settle(stack: Stack) -> None:
    """Written a moment ago, it may be the record of a pause still landing: kept for now."""
    stack.service(desired=2)
    now = f"{int(time.time()):08x}beef"
    stack.world.ecs.tag_resource(
        resourceArn=stack.world.service(CLUSTER, SERVICE)["serviceArn"],
        tags=[{"key": f"{PAUSED_COUNT_TAG}:{now}", "value": "5"}],
    )

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert (stack.desired(), list(stack.tags().values())) == (2, ["5"])
    assert "a recent record waits to settle" in result.stderr


def test_cli_calls_per_tick(stack: Stack) -> None:
    """A steady tick makes the two queries only; tags are written only when something changes.
    (Running with no backup: test_no_cluster_and_running_service_changes_nothing.)"""
    stack.service(desired=3)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    stack.fake_aws()

    def tick() -> list[str]:
        before = len(stack.operations())
        assert stack.run("--once").returncode == 0
        return stack.operations()[before:]

    queries = ["ecs describe-services", "emr list-clusters"]
    paused = tick()
    assert sorted(paused[:2]) == queries
    assert paused[2:] == ["ecs tag-resource", "ecs update-service"]
    assert sorted(tick()) == queries, "paused, backup still running"
    stack.world.terminate_cluster(cluster_id)
    stack.age_records()  # the backup ran for an hour
    resumed = tick()
    # Only the record it read is removed, and no second read is needed for that
    # (docs/reliability.md, any number of controllers).
    assert resumed[2:] == ["ecs update-service", "ecs untag-resource"]
