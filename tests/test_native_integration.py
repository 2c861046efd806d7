"""DynamoDB's own auto scaling paused and resumed: real tables and scalable targets in moto."""

from __future__ import annotations

import pytest

from tests.conftest import Loop, Stack
from tests.support.moto import PREFIX, SUSPENDED_FLAGS

ALL = set(SUSPENDED_FLAGS)
SCHEDULED = "ScheduledScalingSuspended"
TABLE_READ, TABLE_WRITE = "dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits"
INDEX_READ, INDEX_WRITE = "dynamodb:index:ReadCapacityUnits", "dynamodb:index:WriteCapacityUnits"
ECS_SETTINGS = ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE")


def native_only(stack: Stack, prefix: str = "orders-") -> None:
    for name in ECS_SETTINGS:
        del stack.env[name]
    stack.env["DYNAMODB_TABLE_PREFIX"] = prefix


def seed(stack: Stack) -> dict[tuple[str, str], set[str]]:
    """Matching tables (one with an index), look-alikes that do not match; the state before."""
    world = stack.world
    world.autoscale_table("orders-eu", indexes=("by-date",))
    world.autoscale_table("orders-us")
    world.autoscale_table("customers")
    world.autoscale_table("old-orders-eu")
    # Set by a person before any backup: these must come out of the resume as they went in.
    world.autoscale("table/orders-us", TABLE_WRITE, ALL)
    world.autoscale("table/orders-eu/index/by-date", INDEX_WRITE, {SCHEDULED})
    return world.suspended()


def matching(state: dict[tuple[str, str], set[str]]) -> dict[tuple[str, str], set[str]]:
    return {key: flags for key, flags in state.items() if key[0].startswith("table/orders-")}


def others(state: dict[tuple[str, str], set[str]]) -> dict[tuple[str, str], set[str]]:
    return {key: flags for key, flags in state.items() if key not in matching(state)}


def test_native_pause_and_resume_undoes_only_what_it_did(stack: Stack) -> None:
    before = seed(stack)
    native_only(stack)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")

    pause = stack.run("--once")

    assert pause.returncode == 0, pause.stderr
    during = stack.world.suspended()
    assert len(matching(during)) == 6
    assert all(flags == ALL for flags in matching(during).values()), during
    assert others(during) == others(before), "tables outside the prefix are never touched"
    ((key, value),) = stack.world.table_tags("orders-us").items()
    assert (key.split(":")[-2:], value) == (["table", "read"], " ".join(sorted(ALL)))
    assert "pause: table orders-eu, 4 of 4 scalable targets" in pause.stderr
    assert "pause: table orders-us, 1 of 2 scalable targets" in pause.stderr

    stack.world.terminate_cluster(cluster_id)
    for table in ("orders-eu", "orders-us"):
        stack.world.age_records(table=table)  # the backup ran for an hour
    resume = stack.run("--once")

    assert resume.returncode == 0, resume.stderr
    assert stack.world.suspended() == before
    assert stack.world.table_tags("orders-eu") == {}
    assert stack.world.table_tags("orders-us") == {}
    assert "resume: table orders-eu, 4 of 4 scalable targets" in resume.stderr


def test_native_and_ecs_together(stack: Stack) -> None:
    stack.world.autoscale_table("orders-eu", indexes=("by-date",))
    stack.service(desired=2)
    stack.env["DYNAMODB_TABLE_PREFIX"] = "orders-"
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    stack.fake_aws()

    pause = stack.run("--once")

    assert pause.returncode == 0, pause.stderr
    assert stack.desired() == 0
    assert all(flags == ALL for flags in stack.world.suspended().values())
    assert "pause: desired 2 -> 0 (backup active); pause: table orders-eu, 4 of 4" in pause.stderr

    before = len(stack.calls())
    steady = stack.run("--once")
    assert steady.returncode == 0, steady.stderr
    assert sorted(stack.operations()[before:]) == [
        "application-autoscaling describe-scalable-targets",
        "ecs describe-services",
        "emr list-clusters",
        # A new process reads the tables' records once, in one call for up to 100 tables.
        "resourcegroupstaggingapi get-resources",
    ]

    stack.world.terminate_cluster(cluster_id)
    stack.age_records()
    stack.world.age_records(table="orders-eu")
    resume = stack.run("--once")

    assert resume.returncode == 0, resume.stderr
    assert stack.desired() == 2
    assert stack.tags() == {}
    assert all(not flags for flags in stack.world.suspended().values())
    assert stack.world.table_tags("orders-eu") == {}


def test_unreadable_record_never_resumes(stack: Stack) -> None:
    stack.world.autoscale_table("orders-eu")
    native_only(stack)
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")
    assert stack.run("--once").returncode == 0
    stack.world.terminate_cluster(cluster_id)
    stack.fake_aws(
        {
            "resourcegroupstaggingapi get-resources": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (AccessDeniedException) when calling the "
                "GetResources operation: no",
            }
        }
    )

    result = stack.run("--once")

    assert result.returncode == 1
    assert "the record of table orders-eu could not be read" in result.stderr
    assert all(flags == ALL for flags in stack.world.suspended().values())
    assert "application-autoscaling register-scalable-target" not in stack.operations()


@pytest.mark.parametrize(
    ("remove", "add", "expected"),
    [
        # nothing to pause at all
        (ECS_SETTINGS, {}, "AUTOSCALER_CLUSTER is required but not set (needed unless"),
        # half an ECS configuration next to a table prefix
        (("AUTOSCALER_SERVICE",), {"DYNAMODB_TABLE_PREFIX": "orders-"}, "the ECS mode needs"),
        ((), {"DYNAMODB_TABLE_PREFIX": ""}, "DYNAMODB_TABLE_PREFIX is set but empty"),
        ((), {"DYNAMODB_REGION": "eu-west-1"}, "DYNAMODB_TABLE_PREFIX is not"),
        ((), {"RESUME_COUNT": "0"}, "RESUME_COUNT must be a whole number"),
        ((), {"RESUME_DELAY": "-1"}, "RESUME_DELAY must be a number of seconds from 0"),
        ((), {"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of text, json"),
    ],
)
def test_configuration_combinations(
    stack: Stack, remove: tuple[str, ...], add: dict[str, str], expected: str
) -> None:
    for name in remove:
        del stack.env[name]

    result = stack.run("--once", **add)

    assert result.returncode == 2
    assert expected in result.stderr


def test_steady_native_ticks_read_the_records_once(stack: Stack, loops: list[Loop]) -> None:
    """Steady: one describe-scalable-targets per tick next to the EMR query; the records of
    the tables, one of them with a target suspended by a person, are read on the first tick,
    and then only every 10 ticks (for records a dead controller may have left)."""
    stack.world.autoscale_table("orders-eu")
    stack.world.autoscale("table/orders-eu", TABLE_WRITE, ALL)
    native_only(stack)
    stack.fake_aws()
    loop = stack.start("--interval", "0.3")
    loops.append(loop)

    loop.wait_for("no backup active, 2 scalable targets, 1 suspended", count=3)
    assert loop.terminate()[0] == 0

    operations = stack.operations()
    assert set(operations) == {
        "emr list-clusters",
        "application-autoscaling describe-scalable-targets",
        "resourcegroupstaggingapi get-resources",
    }
    ticks = operations.count("application-autoscaling describe-scalable-targets")
    assert ticks >= 3
    assert operations.count("resourcegroupstaggingapi get-resources") == 1 + (ticks - 1) // 10
    assert stack.world.suspended()[("table/orders-eu", TABLE_WRITE)] == ALL


def test_more_scalable_targets_than_one_page_are_all_seen(stack: Stack) -> None:
    # 51 tables, 102 targets: three pages of describe-scalable-targets (50 a page), which the
    # CLI follows (moto's own paging fails from the third page on, without the fix in
    # tests/support/moto_server.py).
    for number in range(51):
        stack.world.autoscale_table(f"orders-{number:02}")
    stack.world.autoscale_table("customers")
    native_only(stack)
    stack.fake_aws()

    steady = stack.run("--once")

    assert steady.returncode == 0, steady.stderr
    assert "tables orders-*: 102 scalable targets, 0 suspended" in steady.stderr
    # One CLI call, which followed the pages itself.
    assert stack.operations().count("application-autoscaling describe-scalable-targets") == 1
