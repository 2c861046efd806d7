"""The tables' records in batches (issue 20), with a fake runner: which calls the Actor makes
for many tables at once, in which order per table, and what each table's outcome says."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ParamSpec, TypeVar

import pytest
import tenacity

from controller.act import Actor, Outcome, Status
from controller.autoscalers.dynamodb import ALL, Dynamodb, Target
from controller.autoscalers.ecs import Ecs, RecordPausedCount, SetDesiredCount
from controller.aws import AwsError, UnexpectedOutput
from controller.config import Config
from controller.decide import Decision, Verb
from controller.sources.backup import Backup
from controller.sources.emr import Emr
from tests.support.rule import decide, observed

P = ParamSpec("P")
R = TypeVar("R")
CONFIG = Config(
    emr_region="us-east-1",
    sources=(Emr("backup-", "us-east-1"),),
    autoscalers=(Dynamodb("orders-", "us-east-1"),),
)
BACKUP = (Backup("EMR cluster", "j-1", "backup-1", "RUNNING"),)
PAUSE_ID = "6930c2a14f0e"
DENIED = {
    "StatusCode": 403,
    "ErrorCode": "AccessDeniedException",
    "ErrorMessage": "not authorized to perform: dynamodb:TagResource",
}
THROTTLED = {"StatusCode": 400, "ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}


def arn(table: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"


def tables(count: int, start: int = 0, index: str = "") -> dict[str, list[Target]]:
    """`count` tables with a read and a write target each (and an index's, if named)."""
    found = {}
    for n in range(start, start + count):
        name = f"orders-{n:03d}"
        ids = [f"table/{name}"] + ([f"table/{name}/index/{index}"] if index else [])
        found[name] = [
            Target(rid, f"dynamodb:{'index' if '/index/' in rid else 'table'}:{io}CapacityUnits",
                   frozenset(), arn(name))
            for rid in ids
            for io in ("Read", "Write")
        ]  # fmt: skip
    return found


def pauses(*groups: dict[str, list[Target]]) -> list[Decision]:
    """What the rule decides for these tables while a backup runs: one pause each."""
    targets = [t for group in groups for own in group.values() for t in own]
    seen = observed(BACKUP, targets=targets, pause_id=PAUSE_ID)
    return list(decide(seen).decisions)


def resumes(*groups: dict[str, list[Target]]) -> list[Decision]:
    """What the rule decides after the backup for these tables, paused by PAUSE_ID and with
    their records settled: one resume each, ending with the removal of its records."""
    targets = [
        Target(t.resource_id, t.dimension, ALL, t.table_arn)
        for group in groups
        for own in group.values()
        for t in own
    ]
    records = {
        t.table_arn: {u.record_key(PAUSE_ID): ALL for u in targets if u.table_arn == t.table_arn}
        for t in targets
    }
    settled = frozenset((a, key) for a, record in records.items() for key in record)
    seen = observed((), targets=targets, records=records, settled=settled, pause_id=PAUSE_ID)
    return list(decide(seen).decisions)


class Tagging:
    """Answers the tagging and scaling calls as AWS would, and records each call.

    `refuse` scripts the FailureInfo of a table for each tag-resources or untag-resources call
    that names it, in turn (None: accepted); `during` runs inside a call of an operation.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[list[str]] = []
        self.tags: dict[str, dict[str, str]] = {}
        self.suspended: dict[str, str] = {}
        self.refuse: dict[str, list[dict[str, Any] | None]] = {}
        self.during: dict[str, Callable[[], None]] = {}

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        operation = args[1]
        with self.lock:
            self.calls.append(list(args))
        if operation in self.during:
            self.during[operation]()
        if operation == "register-scalable-target":
            target = f"{args[args.index('--resource-id') + 1]} {args[args.index('--scalable-dimension') + 1]}"  # noqa: E501
            with self.lock:
                self.suspended[target] = args[args.index("--suspended-state") + 1]
            return {}
        if operation in ("tag-resources", "untag-resources"):
            assert mutating
            listed = args[args.index("--resource-arn-list") + 1 :]
            end = next(i for i, a in enumerate(listed) if a.startswith("--"))
            arns, rest = listed[:end], listed[end:]
            failed = {}
            with self.lock:
                for table in arns:
                    script = self.refuse.get(table, [])
                    info = script.pop(0) if script else None
                    if info is not None:
                        failed[table] = info
                    elif operation == "tag-resources":
                        self.tags.setdefault(table, {}).update(json.loads(rest[1]))
                    else:
                        for key in rest[1:]:
                            self.tags.get(table, {}).pop(key, None)
            return {"FailedResourcesMap": failed}
        raise AssertionError(f"unexpected call {args}")

    def batches(self, operation: str) -> list[list[str]]:
        """The tables each call of `operation` named, in the order of the calls."""
        found = []
        for call in self.calls:
            if call[1] == operation:
                listed = call[call.index("--resource-arn-list") + 1 :]
                found.append(listed[: next(i for i, a in enumerate(listed) if a.startswith("--"))])
        return found

    def order(self, table: str) -> list[str]:
        """The calls that changed `table` or its targets, in order."""
        return [
            call[1]
            for call in self.calls
            if (call[1] == "register-scalable-target" and _resource_table(call) == table)
            or (call[1].endswith("tag-resources") and arn(table) in call)
        ]


def _resource_table(call: list[str]) -> str:
    return call[call.index("--resource-id") + 1].split("/")[1]


class Fifo(Executor):
    """A pool that runs each task as it is handed over, in the test's thread: the calls come
    in one order, which the test can assert."""

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future

    def drain(self) -> None:
        """Nothing is left to run: every task ran when it was handed over."""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def actor(aws: Tagging, *, config: Config = CONFIG, clock: Clock | None = None) -> Actor:
    return Actor(config, aws, threading.Event(), clock or Clock(), retry_wait=tenacity.wait_none())


def carry_out(
    subject: Actor, decisions: Sequence[Decision], since: float | None = None
) -> list[Outcome]:
    pool = Fifo()
    futures = subject.submit(decisions, pool, since)
    pool.drain()
    return [future.result() for future in futures]


# --- batches ---------------------------------------------------------------------------------


def test_a_pause_writes_the_records_of_20_tables_a_call_before_their_scaling() -> None:
    plain, indexed = tables(45), tables(3, start=45, index="by-date")
    aws = Tagging()
    outcomes = carry_out(actor(aws), pauses(plain, indexed))

    assert outcomes == [Outcome(Status.DONE)] * 48
    # Tables with the same targets get the same tags: one call per 20 of them; the indexed
    # tables' tags differ, so they have a call of their own.
    assert [len(batch) for batch in aws.batches("tag-resources")] == [20, 20, 5, 3]
    assert len(aws.calls) == 4 + 45 * 2 + 3 * 4
    for name in [*plain, *indexed]:
        targets = 4 if name in indexed else 2
        assert aws.order(name) == ["tag-resources"] + ["register-scalable-target"] * targets
        assert len(aws.tags[arn(name)]) == targets, "a record per target"
    assert set(aws.suspended.values()) == {
        "DynamicScalingInSuspended=true,DynamicScalingOutSuspended=true,"
        "ScheduledScalingSuspended=true"
    }


def test_a_resume_removes_the_records_of_20_tables_a_call_after_their_scaling() -> None:
    plain, indexed = tables(45), tables(3, start=45, index="by-date")
    aws = Tagging()
    outcomes = carry_out(actor(aws), resumes(plain, indexed))

    assert outcomes == [Outcome(Status.DONE)] * 48
    assert sorted(len(batch) for batch in aws.batches("untag-resources")) == [3, 5, 20, 20]
    assert "tag-resources" not in [call[1] for call in aws.calls]
    for name in [*plain, *indexed]:
        targets = 4 if name in indexed else 2
        assert aws.order(name) == ["register-scalable-target"] * targets + ["untag-resources"]
    untags = [call for call in aws.calls if call[1] == "untag-resources"]
    keys = {tuple(call[call.index("--tag-keys") + 1 :]) for call in untags}
    assert {len(k) for k in keys} == {2, 4}, "each call removes exactly its tables' keys"


def test_the_service_and_the_tables_together() -> None:
    service = Decision(
        Verb.PAUSE,
        "backup active",
        "desired 2 -> 0",
        (RecordPausedCount("arn:svc", "k", 2), SetDesiredCount(0)),
        kind="ecs",
    )
    calls: list[str] = []

    class Both(Tagging):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            if args[0] == "ecs":
                calls.append(args[1])
                return {"service": {}} if args[1] == "update-service" else {}
            return super().__call__(args, mutating=mutating)

    aws = Both()
    config = replace(CONFIG, autoscalers=(Ecs("c", "us-east-1", "svc"), *CONFIG.autoscalers))
    outcomes = carry_out(actor(aws, config=config), [service, *pauses(tables(3))])

    assert calls == ["tag-resource", "update-service"], "the service's own steps, unbatched"
    assert outcomes[1:] == [Outcome(Status.DONE)] * 3
    assert [len(batch) for batch in aws.batches("tag-resources")] == [3]


def test_on_a_real_pool_every_table_keeps_its_order() -> None:
    group = tables(50)
    aws = Tagging()
    with ThreadPoolExecutor(3) as pool:
        outcomes = [f.result() for f in actor(aws).submit(pauses(group), pool)]
        outcomes += [f.result() for f in actor(aws).submit(resumes(group), pool)]

    assert outcomes == [Outcome(Status.DONE)] * 100
    assert all(len(batch) <= 20 for batch in aws.batches("tag-resources"))
    assert all(len(batch) <= 20 for batch in aws.batches("untag-resources"))
    assert len(aws.calls) == 3 + 100 + 100 + 3
    for name in group:
        assert aws.order(name) == [
            "tag-resources",
            *["register-scalable-target"] * 4,
            "untag-resources",
        ]
    assert all(tags == {} for tags in aws.tags.values()), "no record left"


def test_a_dry_run_makes_no_call() -> None:
    aws = Tagging()
    dry = replace(CONFIG, dry_run=True)

    outcomes = carry_out(actor(aws, config=dry), pauses(tables(3)))

    assert {o.status for o in outcomes} == {Status.SKIPPED}
    assert aws.calls == []


# --- tables a call refuses (FailedResourcesMap) ----------------------------------------------


def test_a_table_that_refuses_its_record_is_paused_anyway_with_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = tables(3)
    aws = Tagging()
    aws.refuse[arn("orders-001")] = [DENIED]

    outcomes = carry_out(actor(aws), pauses(group))

    assert outcomes == [
        Outcome(Status.DONE),
        Outcome(Status.DONE, "without a record (AccessDeniedException)"),
        Outcome(Status.DONE),
    ]
    assert aws.order("orders-001") == ["tag-resources"] + ["register-scalable-target"] * 2
    assert arn("orders-001") not in aws.tags
    (error,) = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert error.startswith("could not record before pause (table orders-001, 2 of 2")
    assert f"--resource-arn-list {arn('orders-001')}` failed: AccessDeniedException" in error
    assert "will NOT resume the auto scaling of this table" in error
    assert "table/orders-001 ReadCapacityUnits (DynamicScalingInSuspended/" in error
    assert "add tag:TagResources and tag:UntagResources, and dynamodb:TagResource" in error


def test_a_table_refused_for_a_passing_reason_is_tried_again_alone() -> None:
    group = tables(3)
    aws = Tagging()
    aws.refuse[arn("orders-002")] = [THROTTLED, THROTTLED]

    outcomes = carry_out(actor(aws), pauses(group))

    assert outcomes == [Outcome(Status.DONE)] * 3
    assert aws.batches("tag-resources") == [
        [arn("orders-000"), arn("orders-001"), arn("orders-002")],
        [arn("orders-002")],
        [arn("orders-002")],
    ]
    assert len(aws.tags[arn("orders-002")]) == 2


def test_a_table_refused_every_time_goes_without_a_record_after_call_attempts() -> None:
    aws = Tagging()
    aws.refuse[arn("orders-000")] = [THROTTLED] * 10

    (outcome,) = carry_out(actor(aws), pauses(tables(1)))

    assert outcome == Outcome(Status.DONE, "without a record (ThrottlingException)")
    assert len(aws.batches("tag-resources")) == CONFIG.call_attempts
    assert aws.order("orders-000")[-2:] == ["register-scalable-target"] * 2


def test_a_whole_batch_refused_pauses_every_table_and_each_error_names_its_table(
    caplog: pytest.LogCaptureFixture,
) -> None:
    group = tables(20)

    class Denied(Tagging):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            if args[1] == "tag-resources":
                self.calls.append(list(args))
                command = "aws resourcegroupstaggingapi tag-resources --region us-east-1 "
                command += "--resource-arn-list " + " ".join(arn(n) for n in group)
                raise AwsError(command, "AccessDeniedException", "no tag:TagResources", False)
            return super().__call__(args, mutating=mutating)

    aws = Denied()
    outcomes = carry_out(actor(aws), pauses(group))

    assert outcomes == [Outcome(Status.DONE, "without a record (AccessDeniedException)")] * 20
    assert len(aws.suspended) == 40
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 20
    assert all(e.count("arn:aws:dynamodb") == 1 for e in errors), "not all 20 ARNs each time"
    assert f"--resource-arn-list {arn('orders-007')} (and 19 more)` failed" in errors[7]


def test_a_table_that_refuses_the_removal_of_its_records_fails() -> None:
    group = tables(3)
    aws = Tagging()
    aws.refuse[arn("orders-000")] = [DENIED]

    outcomes = carry_out(actor(aws), resumes(group))

    assert outcomes[0].status is Status.FAILED
    assert outcomes[0].detail == (
        f"`aws resourcegroupstaggingapi untag-resources --resource-arn-list {arn('orders-000')}`"
        " failed: AccessDeniedException: not authorized to perform: dynamodb:TagResource"
    )
    assert outcomes[1:] == [Outcome(Status.DONE)] * 2
    assert aws.order("orders-000")[:2] == ["register-scalable-target"] * 2, "resumed all the same"


def test_a_table_whose_scaling_failed_keeps_its_records_and_the_others_lose_theirs() -> None:
    class Refused(Tagging):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            if args[1] == "register-scalable-target" and "table/orders-001" in args:
                self.calls.append(list(args))
                raise AwsError("aws application-autoscaling", "ValidationException", "no", False)
            return super().__call__(args, mutating=mutating)

    aws = Refused()
    outcomes = carry_out(actor(aws), resumes(tables(3)))

    assert [o.status for o in outcomes] == [Status.DONE, Status.FAILED, Status.DONE]
    assert aws.batches("untag-resources") == [[arn("orders-000"), arn("orders-002")]]
    assert aws.order("orders-001") == ["register-scalable-target"], "stopped at the failure"


def test_an_answer_that_cannot_be_read_is_a_batch_accepted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Garbled(Tagging):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            answer = super().__call__(args, mutating=mutating)
            if args[1] == "untag-resources":
                raise UnexpectedOutput("aws resourcegroupstaggingapi untag-resources", "not JSON")
            return answer

    aws = Garbled()
    outcomes = carry_out(actor(aws), resumes(tables(2)))

    assert outcomes == [Outcome(Status.DONE)] * 2
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "succeeded but its answer could not be read (not JSON)" in warning


def test_a_bug_in_a_batch_fails_each_of_its_tables_and_leaves_none_waiting() -> None:
    class Buggy(Tagging):
        def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
            if args[1] == "tag-resources" and arn("orders-030") in args:
                raise KeyError("a bug")
            return super().__call__(args, mutating=mutating)

    aws = Buggy()
    with ThreadPoolExecutor(2) as pool:
        futures = actor(aws).submit(pauses(tables(45)), pool)
        errors = [f.exception(timeout=60) for f in futures]

    # The records come first, so no table's scaling starts after a bug among them: each
    # pause fails with it (the next tick pauses again), and none is left waiting.
    assert all(isinstance(e, KeyError) for e in errors)


# --- the pause window, and shutdown ----------------------------------------------------------


@pytest.mark.parametrize(("late", "status"), [(False, Status.DONE), (True, Status.FAILED)])
def test_the_pause_window_counts_from_the_pause_id_s_time(late: bool, status: Status) -> None:
    """The loop gives the time the pause id was made, which other controllers read a
    record's age by: the tables' changes must start within the window of it, however late
    their batch of records went out."""
    clock = Clock()
    clock.now = 100.0 + CONFIG.pause_window - 5  # the records go out near the window's end
    aws = Tagging()

    def slow() -> None:
        clock.now += 5 + (1 if late else 0)

    aws.during["tag-resources"] = slow
    outcomes = carry_out(actor(aws, clock=clock), pauses(tables(3)), since=100.0)

    assert {o.status for o in outcomes} == {status}
    if late:
        assert outcomes[0].detail == (
            f"gave up after 1 of 3 steps: more than {CONFIG.pause_window:g}s since its pause began"
        )
        assert aws.suspended == {}, "no change after the window"


def test_every_batch_shares_the_window_of_the_pause() -> None:
    clock = Clock()
    aws = Tagging()

    def scale() -> None:
        clock.now += CONFIG.pause_window / 30

    aws.during["register-scalable-target"] = scale
    outcomes = carry_out(actor(aws, clock=clock), pauses(tables(40)), since=0.0)

    # The first batch's 40 changes take 4/3 of the window: its last tables, and the whole
    # second batch, would start too late, and give up; the next tick pauses them again.
    assert [o.status for o in outcomes] == [Status.DONE] * 15 + [Status.FAILED] * 25
    assert len(aws.suspended) == 30 + 1, "the 16th table's first change still started in time"


def test_without_the_pause_s_time_the_window_counts_from_the_records_sent() -> None:
    clock = Clock()
    aws = Tagging()

    def scale() -> None:
        clock.now += CONFIG.pause_window / 64

    aws.during["register-scalable-target"] = scale
    outcomes = carry_out(actor(aws, clock=clock), pauses(tables(40)))

    # 80 changes take 1.25 windows from the records: the first 64 are within it, and the
    # tables after give up (the next tick pauses them again, under a record of its own).
    assert [o.status for o in outcomes] == [Status.DONE] * 32 + [Status.FAILED] * 8
    assert len(aws.batches("tag-resources")) == 2


def test_a_shutdown_during_the_batch_of_records_starts_no_scaling() -> None:
    aws = Tagging()
    subject = actor(aws)
    aws.during["tag-resources"] = subject.stop.set

    outcomes = carry_out(subject, pauses(tables(3)))

    assert outcomes == [Outcome(Status.STOPPED, "after 1 of 3 steps")] * 3
    assert [call[1] for call in aws.calls] == ["tag-resources"]
    assert len(aws.tags) == 3, "the records stay: the next start pauses from them"


def test_a_shutdown_before_the_batch_of_forgets_leaves_the_records() -> None:
    aws = Tagging()
    subject = actor(aws)
    aws.during["register-scalable-target"] = subject.stop.set
    outcomes = carry_out(subject, resumes(tables(2)))

    # The first table's first change was in flight: it finishes, and nothing starts after it.
    assert outcomes == [
        Outcome(Status.STOPPED, "after 1 of 3 steps"),
        Outcome(Status.STOPPED, "after 0 of 3 steps"),
    ]
    assert [call[1] for call in aws.calls] == ["register-scalable-target"]
