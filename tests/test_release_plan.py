"""release.plan: which recorded pauses `--release` undoes, and which records it refuses."""

from __future__ import annotations

import pytest

from controller.autoscalers.dynamodb import (
    ALL,
    RECORD_PREFIX,
    ForgetSuspended,
    Record,
    SetSuspended,
    Tables,
    Target,
)
from controller.autoscalers.ecs import PAUSED_COUNT_TAG, ForgetPausedCount, Service, SetDesiredCount
from controller.decide import Decision
from controller.release import plan
from tests.support.rule import Policy, kinds

ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
POLICY = Policy()
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"


def released(
    service: Service | None,
    targets: list[Target] | None,
    records: dict[str, Record],
    policy: Policy = POLICY,
) -> tuple[list[Decision], list[str]]:
    """release.plan over what the two kinds read."""
    tables = None if targets is None else Tables(tuple(targets), records)
    return plan(kinds(policy), {"ecs": service, "dynamodb": tables})


KEY = f"{PAUSED_COUNT_TAG}:0000cafe0000"
FORGET = ForgetPausedCount(ARN, (KEY,))


def service(desired: int, tag: str | None, status: str = "ACTIVE") -> Service:
    return Service(ARN, "svc", status, desired, desired, 0, {} if tag is None else {KEY: tag})


def target(io: str, suspended: frozenset[str]) -> Target:
    return Target("table/orders", f"dynamodb:table:{io}CapacityUnits", suspended, TABLE)


def test_a_paused_service_gets_its_recorded_count_back() -> None:
    decisions, problems = released(service(0, "4"), None, {}, POLICY)

    assert problems == []
    assert [d.steps for d in decisions] == [(SetDesiredCount(4), FORGET)]


def test_a_running_service_with_a_record_only_loses_the_tag() -> None:
    decisions, _ = released(service(2, "4"), None, {}, POLICY)

    assert [d.steps for d in decisions] == [(FORGET,)]


def test_no_record_means_nothing_to_release_even_at_0() -> None:
    assert released(service(0, None), None, {}, POLICY) == ([], [])
    assert released(service(3, None), None, {}, POLICY) == ([], [])


@pytest.mark.parametrize("tag", ["two", "0", "", "-3", "\u0661\u0662", "11"])
def test_an_unusable_count_is_a_problem_not_a_guess(tag: str) -> None:
    # The rule for what is usable is decide.recorded_count's, the loop's own.
    decisions, problems = released(service(0, tag), None, {}, Policy(resume_count_max=10))

    assert decisions == []
    assert len(problems) == 1
    assert f"holds {tag!r}, not a count up to RESUME_COUNT_MAX=10" in problems[0]


def test_a_service_that_is_not_active_is_a_problem() -> None:
    decisions, problems = released(service(0, "3", status="DRAINING"), None, {}, POLICY)

    assert decisions == []
    assert problems == ["service is DRAINING, not ACTIVE"]


def test_tables_turn_off_only_the_recorded_flags_and_lose_the_record() -> None:
    read = target("Read", ALL)
    write = target("Write", ALL)
    # Write had ScheduledScaling... and DynamicScalingOut... on before the pause.
    record = {
        f"{RECORD_PREFIX}table:read": ALL,
        f"{RECORD_PREFIX}table:write": frozenset({"DynamicScalingInSuspended"}),
    }

    decisions, problems = released(None, [read, write], {TABLE: record}, POLICY)

    assert problems == []
    (decision,) = decisions
    assert decision.steps == (
        SetSuspended(read, frozenset()),
        SetSuspended(write, ALL - {"DynamicScalingInSuspended"}),
        ForgetSuspended(TABLE, tuple(sorted(record))),
    )


def test_a_stale_table_record_is_removed_and_a_table_without_one_is_left_alone() -> None:
    idle = target("Read", frozenset())
    decisions, _ = released(None, [idle], {TABLE: {f"{RECORD_PREFIX}table:read": ALL}}, POLICY)

    assert [d.steps for d in decisions] == [
        (ForgetSuspended(TABLE, (f"{RECORD_PREFIX}table:read",)),)
    ]
    assert released(None, [target("Read", ALL)], {TABLE: {}}, POLICY) == ([], [])


def test_a_table_whose_record_was_not_read_is_left_out() -> None:
    assert released(None, [target("Read", ALL)], {}, POLICY) == ([], [])


def test_release_understands_the_records_of_both_versions() -> None:
    """Paused by version 1.0 (bare keys) and again by this one (keys with a pause id)."""
    both = Service(ARN, "svc", "ACTIVE", 0, 0, 0, {PAUSED_COUNT_TAG: "4", KEY: "4"})
    read = target("Read", ALL)
    record = {
        f"{RECORD_PREFIX}table:read": frozenset({"DynamicScalingInSuspended"}),
        f"{RECORD_PREFIX}0000cafe0000:table:read": ALL,
    }

    decisions, problems = released(both, [read], {TABLE: record}, POLICY)

    assert problems == []
    assert [d.steps for d in decisions] == [
        (SetDesiredCount(4), ForgetPausedCount(ARN, tuple(sorted(both.records)))),
        (SetSuspended(read, frozenset()), ForgetSuspended(TABLE, tuple(sorted(record)))),
    ]
