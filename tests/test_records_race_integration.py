"""Two races between controllers on one record, played out on purpose against moto with
the real CLI.

Controller A resumes: it scales up (or turns the flags off), then its untag is slow, as a
throttled call that tenacity retries for a while would be. In that window a new backup starts
and controller B pauses again. With one fixed record key, A's untag then removed B's record:
the service came back at RESUME_COUNT, a table stayed suspended for good. With a key per
pause, A's untag removes only the record A read. The slow call is held by the CLI double until
the test lets it go, so the window is an event, not a matter of timing.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from controller.autoscalers.ecs import PAUSED_COUNT_TAG
from tests.conftest import Stack
from tests.support.moto import CLUSTER, PREFIX, SERVICE, SUSPENDED_FLAGS

ALL = " ".join(sorted(SUSPENDED_FLAGS))
ORIGINAL = 4


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the held call never started: {process.communicate()}")
        time.sleep(0.02)


def slow_untag(stack: Stack, operation: str) -> tuple[subprocess.Popen[str], Path]:
    """Controller A's resume, started in the background with its untag held."""
    release = stack.tmp / "release-the-untag"
    stack.fake_aws({operation: {"hold": str(release)}})
    a = subprocess.Popen(
        [stack.command, "--once"],
        env={**stack.env, "CALL_TIMEOUT": "300"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for(Path(f"{release}.held"), a)
    return a, release


def other_controller(stack: Stack) -> subprocess.CompletedProcess[str]:
    """Controller B, through the real CLI: nothing of A's plan applies to it."""
    return stack.run("--once", AWS_CLI=stack.aws_cli)


def test_a_slow_untag_during_a_resume_keeps_a_second_controllers_pause(stack: Stack) -> None:
    stack.service(desired=ORIGINAL)
    first = stack.world.start_cluster(f"{PREFIX}1")
    assert stack.run("--once").returncode == 0
    assert stack.desired() == 0
    assert stack.age_records() == 1, "the backup ran for an hour"
    stack.world.terminate_cluster(first)

    a, release = slow_untag(stack, "ecs untag-resource")
    assert stack.desired() == ORIGINAL, "A scaled up, and now waits in its untag"
    second = stack.world.start_cluster(f"{PREFIX}2")
    b = other_controller(stack)
    assert b.returncode == 0, b.stdout + b.stderr
    assert stack.desired() == 0, "B paused again"
    release.touch()
    out, _ = a.communicate(timeout=120)
    assert a.returncode == 0, out

    # A removed only its own record: B's pause still knows the count.
    assert stack.desired() == 0
    assert list(stack.tags().values()) == [str(ORIGINAL)], out
    stack.world.terminate_cluster(second)
    stack.age_records()
    resume = other_controller(stack)
    assert resume.returncode == 0, resume.stderr
    assert stack.desired() == ORIGINAL
    assert stack.tags() == {}


@pytest.fixture
def table(stack: Stack) -> str:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.env["DYNAMODB_TABLE_PREFIX"] = "orders-"
    stack.world.autoscale_table("orders-eu")
    return "orders-eu"


# Tens of CLI calls, each about a second of CPU: on two cores shared with other tests it
# can take more than the default 120 s without anything being wrong.
@pytest.mark.timeout(300)
def test_a_slow_untag_during_a_resume_leaves_no_table_suspended(stack: Stack, table: str) -> None:
    world = stack.world
    first = world.start_cluster(f"{PREFIX}1")
    assert stack.run("--once").returncode == 0
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())
    assert world.age_records(table=table) == 2, "the backup ran for an hour"
    world.terminate_cluster(first)

    a, release = slow_untag(stack, "resourcegroupstaggingapi untag-resources")
    assert all(not flags for flags in world.suspended().values()), "A resumed, then waits"
    second = world.start_cluster(f"{PREFIX}2")
    b = other_controller(stack)
    assert b.returncode == 0, b.stdout + b.stderr
    release.touch()
    out, _ = a.communicate(timeout=120)
    assert a.returncode == 0, out

    # B's records survived A's untag: the resume after the backup turns B's flags off.
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())
    assert sorted(world.table_tags(table).values()) == [ALL, ALL], out
    world.terminate_cluster(second)
    world.age_records(table=table)
    resume = other_controller(stack)
    assert resume.returncode == 0, resume.stderr
    assert all(not flags for flags in world.suspended().values()), resume.stderr
    assert world.table_tags(table) == {}
    assert "no change (no backup active, 2 scalable targets, 0 suspended)" in (
        other_controller(stack).stderr
    ), "and stays so"


# Tens of CLI calls, each about a second of CPU: on two cores shared with other tests it
# can take more than the default 120 s without anything being wrong.
@pytest.mark.timeout(300)
def test_records_of_version_1_0_are_resumed_from_and_removed(stack: Stack, table: str) -> None:
    """An upgrade in place: a service and a table paused by version 1.0 (its bare keys)."""
    world = stack.world
    stack.env.update(
        AUTOSCALER_CLUSTER="autoscaling", AUTOSCALER_REGION="us-east-1",
        AUTOSCALER_SERVICE="dynamodb-autoscaler",
    )  # fmt: skip
    arn = world.create_service("autoscaling", "dynamodb-autoscaler", 0)
    world.ecs.tag_resource(resourceArn=arn, tags=[{"key": PAUSED_COUNT_TAG, "value": "3"}])
    table_arn = world.dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
    legacy = "dynamodb-autoscaler-control:suspended:table:read"
    world.dynamodb.tag_resource(ResourceArn=table_arn, Tags=[{"Key": legacy, "Value": ALL}])
    world.autoscale(f"table/{table}", "dynamodb:table:ReadCapacityUnits", SUSPENDED_FLAGS)

    first = stack.run("--once")
    assert first.returncode == 0, first.stderr
    assert world.desired("autoscaling", "dynamodb-autoscaler") == 3
    assert all(not flags for flags in world.suspended().values())
    # A record without a time in its key is removed once a controller has seen it for the
    # settle time (3 x CALL_TIMEOUT here): the loop's business, over a few ticks.
    assert world.service_tags("autoscaling", "dynamodb-autoscaler") == {PAUSED_COUNT_TAG: "3"}
    loop = stack.start("--interval", "0.5", CALL_TIMEOUT="3", CALL_ATTEMPTS="1")
    deadline = time.monotonic() + 120
    while world.service_tags("autoscaling", "dynamodb-autoscaler") or world.table_tags(table):
        assert time.monotonic() < deadline, loop.output
        time.sleep(0.2)
    assert loop.terminate()[0] == 0
    assert world.desired("autoscaling", "dynamodb-autoscaler") == 3
    assert all(not flags for flags in world.suspended().values())


def test_release_understands_the_records_of_both_versions(stack: Stack) -> None:
    stack.service(desired=0)
    arn = stack.world.service(CLUSTER, SERVICE)["serviceArn"]
    old = {"key": PAUSED_COUNT_TAG, "value": "3"}
    new = {"key": f"{PAUSED_COUNT_TAG}:{int(time.time()):08x}beef", "value": "3"}
    stack.world.ecs.tag_resource(resourceArn=arn, tags=[old, new])

    released = stack.run("--release")

    assert released.returncode == 0, released.stderr
    assert stack.desired() == 3
    assert stack.tags() == {}
    assert stack.run("--release").returncode == 0, "and again: nothing to release"
