"""The rule for the recorded count, native auto scaling and RESUME_DELAY: no AWS at all.

Besides the table, a tiny model of the world applies a plan's steps, so that a controller
killed after any step and started again can be shown to end where an uninterrupted one would.
Two or more controllers at once are tests/test_records_model.py's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from controller.autoscalers.dynamodb import (
    ALL,
    ForgetSuspended,
    Record,
    RecordSuspended,
    SetSuspended,
    Target,
)
from controller.autoscalers.ecs import (
    PAUSED_COUNT_TAG,
    ForgetPausedCount,
    RecordPausedCount,
    Service,
    SetDesiredCount,
)
from controller.decide import Decision, Observed, Plan, Step, Verb
from controller.sources.backup import Backup
from tests.support.rule import Policy, decide, observed

BACKUP = (Backup(kind="EMR cluster", id="j-1", name="dynamodb-backup-1", state="RUNNING"),)
ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
NEW = "dynamodb-autoscaler-control:paused-desired-count:0000beef0000"
IN, OUT, SCHEDULED = (
    "DynamicScalingInSuspended",
    "DynamicScalingOutSuspended",
    ("ScheduledScalingSuspended"),
)


PAUSE = "0000beef0000"  # the tick's pause id
KEY = f"{PAUSED_COUNT_TAG}:0000cafe0000"  # the record of an earlier pause


def service(desired: int, tag: str | None = None, status: str = "ACTIVE") -> Service:
    records = {} if tag is None else {KEY: tag}
    return Service(ARN, "svc", status, desired, desired, 0, records=records)


def seen(backups: Sequence[Backup] | None, **parts: object) -> Observed:
    """An observation in which every record has been seen long enough to be removed."""
    records: Any = parts.get("records") or {}
    service: Any = parts.get("service")
    settled = {(arn, key) for arn, record in records.items() for key in record}
    if service is not None:
        settled |= {(service.arn, key) for key in service.records}
    return observed(backups or (), pause_id=PAUSE, settled=frozenset(settled), **parts)  # type: ignore[arg-type]


def target(resource: str, io: str = "Read", *flags: str) -> Target:
    table = resource.split("/")[1]
    kind = "index" if "/index/" in resource else "table"
    return Target(
        resource_id=resource,
        dimension=f"dynamodb:{kind}:{io}CapacityUnits",
        suspended=frozenset(flags),
        table_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
    )


def steps(plan: Plan) -> list[Step]:
    return [step for decision in plan.decisions for step in decision.steps]


# --- the service's recorded count ----------------------------------------------------------


@pytest.mark.parametrize(
    ("backups", "svc", "verb", "expected"),
    [
        # pause: record first (under this pause's own key), then scale down
        (BACKUP, service(3), Verb.PAUSE, [RecordPausedCount(ARN, NEW, 3), SetDesiredCount(0)]),
        # a record already there (killed between the two, or another controller's pause that
        # a resume may be about to remove): a record of its own all the same
        (BACKUP, service(3, "3"), Verb.PAUSE, [RecordPausedCount(ARN, NEW, 3), SetDesiredCount(0)]),
        (
            BACKUP,
            service(2, "lots"),
            Verb.PAUSE,
            [RecordPausedCount(ARN, NEW, 2), SetDesiredCount(0)],
        ),
        (BACKUP, service(0, "3"), Verb.HOLD, []),
        (BACKUP, service(0), Verb.HOLD, []),
        # resume: scale up first, then forget
        ((), service(0, "3"), Verb.RESUME, [SetDesiredCount(3), ForgetPausedCount(ARN, (KEY,))]),
        ((), service(0), Verb.RESUME, [SetDesiredCount(1)]),
        ((), service(0, "0"), Verb.RESUME, [SetDesiredCount(1), ForgetPausedCount(ARN, (KEY,))]),
        ((), service(0, "x"), Verb.RESUME, [SetDesiredCount(1), ForgetPausedCount(ARN, (KEY,))]),
        # killed between the two, or scaled up by hand: the record is stale
        ((), service(3, "3"), Verb.TIDY, [ForgetPausedCount(ARN, (KEY,))]),
        ((), service(2), Verb.HOLD, []),
    ],
)
def test_service_rule(
    backups: tuple[Backup, ...], svc: Service, verb: Verb, expected: list[Step]
) -> None:
    plan = decide(seen(backups, service=svc))

    (decision,) = plan.decisions
    assert decision.verb is verb
    assert steps(plan) == expected
    assert not plan.fault


@pytest.mark.parametrize(
    ("backups", "svc", "verb", "expected"),
    [
        # a backup seen pauses, whatever the source that could not be read would say
        (BACKUP, service(3), Verb.PAUSE, [RecordPausedCount(ARN, NEW, 3), SetDesiredCount(0)]),
        (BACKUP, service(3, "3"), Verb.PAUSE, [RecordPausedCount(ARN, NEW, 3), SetDesiredCount(0)]),
        (BACKUP, service(0, "3"), Verb.HOLD, []),
        # nothing seen: a backup may be running where it cannot see, so nothing changes
        ((), service(0, "3"), Verb.HOLD, []),
        ((), service(0), Verb.HOLD, []),
        ((), service(3, "3"), Verb.HOLD, []),  # not even tidying
        ((), service(3), Verb.HOLD, []),
    ],
)
def test_service_rule_with_a_source_unknown(
    backups: tuple[Backup, ...], svc: Service, verb: Verb, expected: list[Step]
) -> None:
    plan = decide(seen(backups, service=svc, unknown=("Glue",)))

    (decision,) = plan.decisions
    assert decision.verb is verb
    assert steps(plan) == expected
    # Nothing seen and a source unknown: the plan itself cannot decide. A pause (or a service
    # already paused) is decided; the tick still fails on the unknown source (loop.tick).
    assert plan.fault is (not backups)
    if not backups:
        assert decision.describe() == "no change (Glue state unknown, changing nothing)"


def test_resume_count_applies_only_without_a_record() -> None:
    policy = Policy(resume_count=4)

    assert steps(decide(seen((), service=service(0)), policy)) == [SetDesiredCount(4)]
    assert steps(decide(seen((), service=service(0, "2")), policy))[0] == SetDesiredCount(2)


def test_restored_count_is_said() -> None:
    (decision,) = decide(seen((), service=service(0, "3"))).decisions

    assert decision.describe() == (
        "resume: desired 0 -> 3 (no backup active, restoring the count recorded at pause)"
    )


@pytest.mark.parametrize(
    ("backups", "unknown"), [(BACKUP, ()), ((), ()), ((), ("Glue",)), (BACKUP, ("Glue",))]
)
def test_inactive_service_is_left_alone_but_tables_are_not(
    backups: tuple[Backup, ...], unknown: tuple[str, ...]
) -> None:
    tables = (target("table/orders"),)
    plan = decide(
        seen(backups, service=service(0, "3", "DRAINING"), targets=tables, unknown=unknown)
    )

    assert plan.fault
    assert not any(isinstance(s, (SetDesiredCount, ForgetPausedCount)) for s in steps(plan))
    assert "service is DRAINING, not ACTIVE" in plan.describe()
    if backups:
        assert any(isinstance(s, SetSuspended) for s in steps(plan))


def test_decides_on_desired_not_running() -> None:
    """A task still starting (desired 1, running 0, pending 1) is paused too."""
    starting = Service(ARN, "svc", "ACTIVE", desired=1, running=0, pending=1)

    assert steps(decide(seen(BACKUP, service=starting)))[-1] == SetDesiredCount(0)
    assert steps(decide(seen((), service=starting))) == []


# --- native auto scaling --------------------------------------------------------------------

ORDERS = (
    target("table/orders", "Read"),
    target("table/orders", "Write"),
    target("table/orders/index/by-date", "Read", IN, OUT, SCHEDULED),  # suspended by a person
    target("table/orders/index/by-date", "Write", SCHEDULED),  # scheduled scaling off by hand
)
ORDERS_ARN = ORDERS[0].table_arn


def test_pause_records_then_suspends_only_what_is_not_suspended() -> None:
    plan = decide(seen(BACKUP, targets=ORDERS))

    (decision,) = plan.decisions
    assert decision.verb is Verb.PAUSE
    assert decision.change == "table orders, 3 of 4 scalable targets"
    assert steps(plan) == [
        RecordSuspended(
            ORDERS_ARN,
            {
                "dynamodb-autoscaler-control:suspended:0000beef0000:table:read": ALL,
                "dynamodb-autoscaler-control:suspended:0000beef0000:table:write": ALL,
                "dynamodb-autoscaler-control:suspended:0000beef0000:index/by-date:write": frozenset(
                    {IN, OUT}
                ),
            },
        ),
        SetSuspended(ORDERS[0], ALL),
        SetSuspended(ORDERS[1], ALL),
        SetSuspended(ORDERS[3], ALL),
    ]


def paused(targets: Sequence[Target]) -> tuple[tuple[Target, ...], dict[str, Record]]:
    """The targets and records after an uninterrupted pause."""
    world = World(targets=list(targets))
    world.apply(decide(seen(BACKUP, targets=world.targets)))
    return tuple(world.targets), world.records


def test_resume_undoes_exactly_what_the_pause_did() -> None:
    targets, records = paused(ORDERS)
    assert all(t.suspended == ALL for t in targets)

    plan = decide(seen((), targets=targets, records=records))

    assert [d.verb for d in plan.decisions] == [Verb.RESUME]
    assert steps(plan) == [
        SetSuspended(targets[0], frozenset()),
        SetSuspended(targets[1], frozenset()),
        SetSuspended(targets[3], frozenset({SCHEDULED})),
        ForgetSuspended(
            ORDERS_ARN,
            (
                "dynamodb-autoscaler-control:suspended:0000beef0000:index/by-date:write",
                "dynamodb-autoscaler-control:suspended:0000beef0000:table:read",
                "dynamodb-autoscaler-control:suspended:0000beef0000:table:write",
            ),
        ),
    ]


def test_an_unreadable_record_holds_only_that_table() -> None:
    other = (target("table/orders-archive", "Read", IN, OUT, SCHEDULED),)
    targets, records = paused(ORDERS + other)
    records.pop(other[0].table_arn, None)  # fully suspended by a person: never recorded

    plan = decide(seen((), targets=targets, records=records))

    assert plan.fault
    assert "record of table orders-archive could not be read" in plan.describe()
    assert [d.verb for d in plan.decisions if d.steps] == [Verb.RESUME]
    assert all(s.target.table == "orders" for s in steps(plan) if isinstance(s, SetSuspended))


def test_unreadable_record_of_a_table_with_nothing_suspended_is_no_fault() -> None:
    plan = decide(seen((), targets=(target("table/orders"),), records={}))

    assert not plan.fault
    assert plan.describe() == "no change (no backup active, 1 scalable targets, 0 suspended)"


def test_a_record_naming_nothing_still_suspended_is_tidied() -> None:
    record = {"dynamodb-autoscaler-control:suspended:table:read": ALL}
    plan = decide(seen((), targets=(target("table/orders"),), records={ORDERS_ARN: record}))

    assert [d.verb for d in plan.decisions] == [Verb.TIDY]
    assert steps(plan) == [
        ForgetSuspended(ORDERS_ARN, ("dynamodb-autoscaler-control:suspended:table:read",))
    ]


def test_everything_suspended_during_a_backup_is_no_change() -> None:
    targets, _ = paused(ORDERS)

    plan = decide(seen(BACKUP, targets=targets))

    assert steps(plan) == []
    assert plan.describe() == "no change (backup active, 4 scalable targets, 4 suspended)"


def test_a_record_not_yet_settled_is_resumed_from_but_kept() -> None:
    """A record seen for less than the settle time may be a pause's whose change has not
    landed yet: the resume turns its flags off but leaves the record to settle."""
    targets, records = paused(ORDERS)
    young = observed((), targets=targets, records=records, pause_id=PAUSE)

    plan = decide(young)

    assert [d.verb for d in plan.decisions] == [Verb.RESUME]
    assert not any(isinstance(s, ForgetSuspended) for s in steps(plan))
    assert sum(isinstance(s, SetSuspended) for s in steps(plan)) == 3


def test_a_young_service_record_is_kept_on_a_running_service() -> None:
    running = observed((), service=service(3, "3"), pause_id=PAUSE)
    paused_ = observed((), service=service(0, "3"), pause_id=PAUSE)

    assert steps(decide(running)) == []
    assert "a recent record waits to settle" in decide(running).describe()
    assert steps(decide(paused_)) == [SetDesiredCount(3)]


def test_records_of_version_1_0_are_read_resumed_from_and_removed() -> None:
    legacy = {
        "dynamodb-autoscaler-control:suspended:table:read": ALL,
        "dynamodb-autoscaler-control:suspended:index/by-date:write": frozenset({IN, OUT}),
    }
    targets = tuple(replace(t, suspended=ALL) for t in ORDERS)

    plan = decide(seen((), targets=targets, records={ORDERS_ARN: legacy}))

    assert steps(plan) == [
        SetSuspended(targets[0], frozenset()),
        SetSuspended(targets[3], frozenset({SCHEDULED})),
        ForgetSuspended(ORDERS_ARN, tuple(sorted(legacy))),
    ]
    legacy_service = Service(ARN, "svc", "ACTIVE", 0, 0, 0, records={PAUSED_COUNT_TAG: "3"})
    assert steps(decide(seen((), service=legacy_service))) == [
        SetDesiredCount(3),
        ForgetPausedCount(ARN, (PAUSED_COUNT_TAG,)),
    ]


def test_records_of_two_pauses_resume_together() -> None:
    two = Service(ARN, "svc", "ACTIVE", 0, 0, 0, records={KEY: "3", NEW: "3"})

    assert steps(decide(seen((), service=two))) == [
        SetDesiredCount(3),
        ForgetPausedCount(ARN, tuple(sorted((KEY, NEW)))),
    ]


def test_nothing_seen_and_emr_unknown_changes_no_table() -> None:
    targets, records = paused(ORDERS)

    for tables in (ORDERS, targets):
        plan = decide(seen((), targets=tables, records=records, unknown=("EMR",)))
        assert plan.fault
        assert steps(plan) == []


def test_a_backup_seen_pauses_tables_whatever_an_unknown_source_says() -> None:
    seen = observed(BACKUP, targets=ORDERS, unknown=("Glue", "EMR on EKS"))

    plan = decide(seen)

    assert steps(plan) == steps(decide(observed(BACKUP, targets=ORDERS)))
    assert [d.verb for d in plan.decisions] == [Verb.PAUSE]


def test_a_paused_table_stays_paused_when_the_backup_ends_but_a_source_is_unknown() -> None:
    targets, records = paused(ORDERS)

    plan = decide(observed((), targets=targets, records=records, unknown=("Glue",)))

    assert steps(plan) == []
    assert plan.describe() == "no change (Glue state unknown, changing nothing)"


# --- RESUME_DELAY ---------------------------------------------------------------------------

DELAY = Policy(resume_delay=300)


def test_resume_waits_for_the_delay_and_says_so() -> None:
    waiting = decide(seen((), service=service(0, "3"), now=1012, last_backup=1000), DELAY)
    due = decide(seen((), service=service(0, "3"), now=1300, last_backup=1000), DELAY)

    assert steps(waiting) == []
    assert not waiting.fault
    assert waiting.describe() == "no change (resume pending: no backup for 12s of 300s)"
    assert steps(due) == [SetDesiredCount(3), ForgetPausedCount(ARN, (KEY,))]


def test_pause_is_never_delayed() -> None:
    plan = decide(seen(BACKUP, service=service(2), now=1001, last_backup=1001), DELAY)

    assert steps(plan) == [RecordPausedCount(ARN, NEW, 2), SetDesiredCount(0)]


def test_delay_holds_table_resumes_too_but_not_tidying() -> None:
    targets, records = paused(ORDERS)
    observed = seen((), service=service(3, "3"), targets=targets, records=records, now=5)

    plan = decide(observed, DELAY)

    assert [d.verb for d in plan.decisions] == [Verb.TIDY, Verb.HOLD]
    assert steps(plan) == [ForgetPausedCount(ARN, (KEY,))]
    assert "resume pending: no backup for 5s of 300s" in plan.describe()


# --- killed after any step, started again ----------------------------------------------------


@dataclass
class World:
    """What AWS would hold: the service's count and tag, the targets, the table tags."""

    desired: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    records: dict[str, Record] = field(default_factory=dict)

    def observe(self, backups: tuple[Backup, ...]) -> Observed:
        # One controller, started again after its records settled.
        svc = Service(ARN, "svc", "ACTIVE", self.desired, 0, 0, records=dict(self.tags))
        return seen(backups, service=svc, targets=tuple(self.targets), records=self.records)

    def step(self, step: Step) -> None:
        match step:
            case RecordPausedCount(_, key, count):
                self.tags[key] = str(count)
            case SetDesiredCount(count):
                self.desired = count
            case ForgetPausedCount(_, keys):
                self.tags = {k: v for k, v in self.tags.items() if k not in keys}
            case RecordSuspended(arn, record):
                self.records[arn] = {**self.records.get(arn, {}), **record}
            case SetSuspended(old, flags):
                self.targets = [
                    replace(t, suspended=flags) if t == old else t for t in self.targets
                ]
            case ForgetSuspended(arn, keys):
                left = {k: v for k, v in self.records.get(arn, {}).items() if k not in keys}
                self.records[arn] = left

    def apply(self, plan: Plan, limit: int | None = None) -> None:
        """Carry out the plan, or only its first `limit` steps (then the process dies)."""
        for step in steps(plan)[:limit]:
            self.step(step)


def fresh() -> World:
    return World(desired=3, targets=list(ORDERS))


def run_to_rest(world: World, backups: tuple[Backup, ...]) -> None:
    for _ in range(3):
        world.apply(decide(world.observe(backups)))
    assert steps(decide(world.observe(backups))) == [], "the rule must come to rest"


def pause_steps() -> int:
    return len(steps(decide(fresh().observe(BACKUP))))


@pytest.mark.parametrize("killed_after", range(pause_steps() + 1))
def test_killed_during_pause_then_restarted(killed_after: int) -> None:
    world = fresh()
    world.apply(decide(world.observe(BACKUP)), limit=killed_after)

    run_to_rest(world, BACKUP)  # the new process, the backup still running
    assert world.desired == 0
    run_to_rest(world, ())  # the backup ended

    assert (world.desired, world.tags) == (3, {})
    assert world.targets == list(ORDERS)
    assert all(not record for record in world.records.values())


@pytest.mark.parametrize("killed_after", range(5 + 1))
def test_killed_during_resume_then_restarted(killed_after: int) -> None:
    world = fresh()
    run_to_rest(world, BACKUP)
    resume = decide(world.observe(()))
    assert len(steps(resume)) == 6
    world.apply(resume, limit=killed_after)

    run_to_rest(world, ())

    assert (world.desired, world.tags) == (3, {})
    assert world.targets == list(ORDERS)


def test_describe_joins_decisions() -> None:
    plan = Plan(
        (
            Decision(Verb.PAUSE, "backup active", "desired 2 -> 0", (SetDesiredCount(0),)),
            Decision(Verb.HOLD, "backup active, 0 scalable targets, 0 suspended"),
        )
    )

    assert plan.describe("dry run, not applied") == (
        "pause: desired 2 -> 0 (backup active; dry run, not applied); "
        "no change (backup active, 0 scalable targets, 0 suspended)"
    )
