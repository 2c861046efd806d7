"""The rule over every combination of what the sources answered and what the controlled things
look like: a backup seen is always paused for, and nothing resumes while a source is unknown.

Each of the four sources answers one of three ways: backups seen, none, or unknown (its query
failed). Every test runs all 81 combinations of those answers against each world hypothesis
draws (a service, tables, records, RESUME_DELAY). The backups go through `holding`, as the
loop's `observe` does, so that MAX_BACKUP_AGE is part of it: a stuck backup holds nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.autoscalers import breaker
from controller.autoscalers.dynamodb import (
    ALL,
    FLAGS,
    Record,
    RecordSuspended,
    SetSuspended,
    Target,
)
from controller.autoscalers.ecs import PAUSED_COUNT_TAG, RecordPausedCount, Service, SetDesiredCount
from controller.decide import Observed, Plan, Verb, holding
from controller.sources.backup import Backup
from tests.support.rule import Policy, decide, observed

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
SOURCES = {
    "EMR": "EMR cluster",
    "Glue": "Glue job run",
    "EMR on EKS": "EMR on EKS job run",
    "EMR Serverless": "EMR Serverless job run",
}
TABLES = ("orders", "users")


def backups(kind: str) -> st.SearchStrategy[Backup]:
    started = st.integers(0, 20_000).map(lambda s: NOW - timedelta(seconds=s))
    return st.builds(
        Backup,
        st.just(kind),
        st.text(max_size=3),
        st.just("b-1"),
        st.just("RUNNING"),
        st.one_of(st.none(), started),
    )


ANSWERS = ("seen", "none", "unknown")
services = st.one_of(
    st.none(),  # ECS mode off, or the service could not be read
    st.builds(
        Service,
        st.just(ARN),
        st.just("svc"),
        st.sampled_from(["ACTIVE", "ACTIVE", "DRAINING"]),
        st.sampled_from([0, 0, 1, 3]),  # paused, often
        st.integers(0, 5),
        st.integers(0, 1),
        records=st.sampled_from(
            [{}, {PAUSED_COUNT_TAG: "3"}, {PAUSED_COUNT_TAG: "0"}, {f"{PAUSED_COUNT_TAG}:x": "x"}]
        ),
    ),
)
flags = st.frozensets(st.sampled_from(FLAGS))


@st.composite
def target(draw: st.DrawFn) -> Target:
    table = draw(st.sampled_from(TABLES))
    where = draw(st.sampled_from(["", "/index/by-date"]))
    kind = "index" if where else "table"
    io = draw(st.sampled_from(["Read", "Write"]))
    return Target(
        resource_id=f"table/{table}{where}",
        dimension=f"dynamodb:{kind}:{io}CapacityUnits",
        suspended=draw(flags),
        table_arn=f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}",
    )


targets = st.one_of(
    st.none(), st.lists(target(), max_size=6, unique_by=lambda t: (t.resource_id, t.dimension))
)
KEYS = [
    f"dynamodb-autoscaler-control:suspended:{pause}{where}:{io}"
    for pause in ("", "6930c2a14f0e:")  # version 1.0's keys, and a pause's own
    for where in ("table", "index/by-date")
    for io in ("read", "write")
]
records = st.dictionaries(
    st.sampled_from([f"arn:aws:dynamodb:us-east-1:123456789012:table/{t}" for t in TABLES]),
    st.dictionaries(st.sampled_from(KEYS), flags, max_size=4),
)


@dataclass(frozen=True)
class Case:
    seen: Observed
    policy: Policy


@dataclass(frozen=True)
class World:
    """What the sources would see if read, and everything else a tick looks at."""

    found: dict[str, list[Backup]]  # per source, when it is read and sees backups
    service: Service | None
    targets: list[Target] | None
    records: dict[str, Record]
    # The records seen long enough to be removed: some, all or none of them.
    settled: frozenset[tuple[str, str]]
    max_age: float
    now: float
    quiet: float
    policy: Policy

    def cases(self) -> Iterator[Case]:
        """The world under every combination of the sources' answers."""
        for combination in itertools.product(ANSWERS, repeat=len(SOURCES)):
            answered = dict(zip(SOURCES, combination, strict=True))
            seen = [b for name, a in answered.items() if a == "seen" for b in self.found[name]]
            held, stuck = holding(seen, NOW, self.max_age)
            view = observed(
                held,
                service=self.service,
                targets=self.targets,
                records=self.records,
                now=self.now,
                last_backup=self.now - self.quiet,
                stuck=stuck,
                unknown=tuple(name for name, a in answered.items() if a == "unknown"),
                at=NOW,
                settled=self.settled,
                pause_id="6930c2a1beef",
            )
            yield Case(view, self.policy)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    # What each source sees when it is read and sees something.
    found = {
        name: draw(st.lists(backups(kind), min_size=1, max_size=2))
        for name, kind in SOURCES.items()
    }
    service = draw(services)
    table_records = draw(records)
    every = [(arn, key) for arn, record in table_records.items() for key in record]
    every += [(service.arn, key) for key in service.records] if service else []
    return World(
        found=found,
        service=service,
        targets=draw(targets),
        records=table_records,
        settled=frozenset(draw(st.lists(st.sampled_from(every), unique=True)) if every else ()),
        max_age=draw(st.sampled_from([0.0, 3600.0])),
        now=draw(st.floats(0, 1000)),
        quiet=draw(st.sampled_from([0.0, 100.0, 1000.0])),
        policy=Policy(resume_delay=draw(st.sampled_from([0.0, 300.0]))),
    )


def applied(seen: Observed, plan: Plan) -> tuple[Service | None, list[Target]]:
    """The service and targets as they are once every step of the plan went through."""
    service: Any = seen.views.get("ecs")
    tables: Any = seen.views.get("dynamodb")
    current = {(t.resource_id, t.dimension): t for t in (tables.targets if tables else ())}
    for decision in plan.decisions:
        for step in decision.steps:
            if isinstance(step, SetDesiredCount) and service is not None:
                service = Service(
                    service.arn, service.name, service.status, step.count, 0, 0, service.records
                )
            if isinstance(step, SetSuspended):
                t = step.target
                current[(t.resource_id, t.dimension)] = Target(
                    t.resource_id, t.dimension, step.suspended, t.table_arn
                )
    return service, list(current.values())


def pausing(step: object) -> bool:
    """A step that records or pauses; never one that gives capacity back."""
    if isinstance(step, SetDesiredCount):
        return step.count == 0
    if isinstance(step, SetSuspended):
        return step.suspended == ALL
    return isinstance(step, (RecordPausedCount, RecordSuspended))


@given(worlds())
def test_never_a_resume_while_a_source_is_unknown(world: World) -> None:
    for case in world.cases():
        seen = case.seen
        if not seen.unknown:
            continue
        plan = decide(seen, case.policy)

        assert Verb.RESUME not in [d.verb for d in plan.decisions], seen
        assert all(pausing(s) for d in plan.decisions for s in d.steps), (seen, plan)
        if not seen.backups:
            assert not any(d.steps for d in plan.decisions), "nothing seen: nothing changes"
            assert plan.fault, "nothing seen and a source unknown: the plan cannot decide"
            assert all(name in plan.describe() for name in seen.unknown)


@given(worlds())
def test_a_backup_seen_leaves_nothing_unpaused_whatever_the_other_sources_say(
    world: World,
) -> None:
    for case in world.cases():
        seen = case.seen
        if not seen.backups:
            continue
        plan = decide(seen, case.policy)

        service, after = applied(seen, plan)

        if service is not None and service.status == "ACTIVE":
            assert service.desired == 0, (seen, plan)
        assert all(t.suspended == ALL for t in after), (seen, plan)
        assert all(pausing(s) for d in plan.decisions for s in d.steps), (seen, plan)


@given(worlds())
def test_a_resume_needs_every_source_read_none_holding_and_the_delay_passed(
    world: World,
) -> None:
    for case in world.cases():
        seen = case.seen
        plan = decide(seen, case.policy)
        verbs = [d.verb for d in plan.decisions]

        if Verb.RESUME in verbs:
            assert seen.verdict.resume, seen
            assert not seen.unknown and not seen.backups
            assert seen.now - seen.last_backup >= case.policy.resume_delay
        if not seen.backups:
            assert Verb.PAUSE not in verbs, "nothing seen: no pause"


@given(worlds(), st.booleans())
def test_the_breaker_answers_by_the_same_rule(world: World, dry_run: bool) -> None:
    for case in world.cases():
        seen, delay = case.seen, case.policy.resume_delay

        answer = breaker.judge(seen, delay, dry_run=dry_run)

        may_scale = seen.verdict.resume and seen.now - seen.last_backup >= delay
        assert answer.may_scale is (may_scale or dry_run), seen
        for name in seen.unknown:
            assert f"{name} " in answer.reason, "the words name what could not be read"
        for backup in seen.backups:
            assert str(backup) in answer.reason
