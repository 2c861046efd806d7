"""Carry out decisions: each one's steps in order, one mutating CLI call each, and say how it went.

The tables' records are written and removed in batches. A pause of a table starts with its
record and a resume ends by removing its settled records; the records of one pause are the
same tags on every table of the same layout, so the Resource Groups Tagging API writes (or
removes) them on up to 20 tables in one call. Each table still sees its own steps in the
rule's order: record, scaling, forget. A batch is only several of those calls made at once,
as several controllers side by side may already make them, so every property the model check
proves per table holds (docs/reliability.md).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, InvalidStateError
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from controller import autoscalers
from controller.autoscalers import dynamodb
from controller.autoscalers.dynamodb import ForgetSuspended, RecordSuspended, SetSuspended
from controller.autoscalers.ecs import RecordPausedCount
from controller.aws import AwsError, Interrupted, Runner, UnexpectedOutput, retrying
from controller.config import Config
from controller.decide import Decision, Step

if TYPE_CHECKING:
    import tenacity

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


class Status(enum.Enum):
    DONE = "done"
    FAILED = "failed"
    # A shutdown came between two steps: the ones after it did not run.
    STOPPED = "stopped by shutdown"
    # Not carried out at all: a dry run.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Outcome:
    status: Status
    detail: str = ""  # why it failed, or how far it got

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


DONE = Outcome(Status.DONE)


class TooLate(Exception):
    """A pause's change would start after its pause window: its record may be removed by then."""


# A table's call as the tagging batches make it: up to ARNS_PER_CHANGE tables in, the tables
# that refused out.
TableCall = Callable[[Sequence[str]], dict[str, AwsError]]


@dataclass(eq=False)
class _Change:
    """One decision under way."""

    decision: Decision
    # When the pause id was made (Actor.submit's `since`), if known.
    since: float | None = None
    result: Future[Outcome] = field(default_factory=Future)
    # Set once its record is sent: its changes of scaling must start within the pause window
    # of `since`, or of the sending when that is not known.
    recorded: float | None = None
    unrecorded: str = ""  # why it goes on without a record
    forget: _Forget | None = None  # the batch its last step is made in
    handed: bool = False  # its scaling steps are on the pool
    left: bool = False  # its forget batch no longer waits for it

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.decision.steps

    @property
    def record(self) -> RecordSuspended | None:
        """Its first step when that writes a table's record: made in a batch."""
        first = self.steps[0] if self.steps else None
        return first if isinstance(first, RecordSuspended) else None

    @property
    def last(self) -> ForgetSuspended | None:
        """Its last step when that removes a table's records: made in a batch."""
        last = self.steps[-1] if len(self.steps) > (self.record is not None) else None
        return last if isinstance(last, ForgetSuspended) else None

    @property
    def middle(self) -> tuple[Step, ...]:
        """The steps between: made one call each, in order."""
        end = len(self.steps) - (self.last is not None)
        return self.steps[(self.record is not None) : end]


@dataclass(eq=False)
class _Forget:
    """Changes whose last step removes the same keys: one untag-resources call, made once each
    of them has made its earlier steps or ended short of its last."""

    keys: tuple[str, ...]
    changes: list[_Change]
    waiting: int
    ready: list[_Change] = field(default_factory=list)


@dataclass(frozen=True)
class _Unit:
    """Changes handed to the pool together: a batch whose records are written first, the
    changes of one forget batch, or one change on its own."""

    changes: tuple[_Change, ...]
    record: RecordSuspended | None = None


@dataclass(eq=False)
class _Work:
    """One `submit`: its pool, and the lock over its forget batches' counts."""

    pool: Executor
    lock: threading.Lock = field(default_factory=threading.Lock)


class Actor:
    """Applies steps for one controller."""

    def __init__(
        self,
        config: Config,
        run: Runner,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        *,
        retry_wait: tenacity.wait.wait_base | None = None,
    ) -> None:
        self.config = config
        self.run = run
        self.stop = stop
        self.clock = clock
        # Between tries of the tables a batch call refused for a passing reason (tests: none).
        self.retry_wait = retry_wait

    def carry_out(self, decision: Decision, since: float | None = None) -> Outcome:
        """One decision on its own, in this thread: `submit` with nothing else under way."""
        (outcome,) = self.submit([decision], _Inline(), since)
        return outcome.result()

    def submit(
        self, decisions: Sequence[Decision], pool: Executor, since: float | None = None
    ) -> list[Future[Outcome]]:
        """Carry out the decisions on `pool`: the future of each one's outcome, in order.

        `since` is when the pause id was made (on this clock), which is as old as the time in
        the id: the steps after a record must start within the pause window of it, since
        other controllers read a record's age by its id. Without it, the window counts from
        when the record was sent.

        A decision's steps run in order and stop at the first failure; each step is one
        mutating call, which a shutdown never interrupts, and a shutdown stops the steps after
        it. Any prefix of the steps leaves a state the rule can finish from on the next start.

        Decisions are independent (one service, one table each) and run side by side, with
        the tables' records batched: the pauses whose records are the same tags write them in
        one tag-resources call per 20 tables, and then each table's changes of scaling go
        ahead, within the pause window; the decisions whose last step
        removes the same keys remove them in one untag-resources call per 20 tables, once each
        of those tables is through its earlier steps. One batch is handed to the pool after
        another, each once the changes of the one before are on the pool, so that a table's
        changes follow its record closely rather than after every record of the tick.

        Never waits on the pool itself: the caller waits on the futures.
        """
        changes = [_Change(d, since) for d in decisions]
        if self.config.dry_run:
            for change in changes:
                _finish(change, Outcome(Status.SKIPPED, "dry run, not applied"))
            return [c.result for c in changes]
        for change in changes:
            if not change.steps:
                _finish(change, DONE)
        units = _units([c for c in changes if c.steps])
        if units:
            work = _Work(pool)
            pool.submit(self._feed, work, units, 0)
        return [c.result for c in changes]

    # --- the stages of a change, each a task on the pool -----------------------------------

    def _feed(self, work: _Work, units: Sequence[_Unit], at: int) -> None:
        """Write the records of the unit `at` (if it has any), hand its changes to the pool,
        then the next unit."""
        unit = units[at]
        try:
            if unit.record is not None:
                self._record(work, unit, unit.record)
            for change in unit.changes:
                if not change.result.done():
                    work.pool.submit(self._scale, work, change)
                    change.handed = True
            if at + 1 < len(units):
                work.pool.submit(self._feed, work, units, at + 1)
        except Exception as error:
            # A bug, or a pool shut down under us: what was not handed on fails with it, and
            # the tick fails as a crashed one does (loop.until_stopped). Never left waiting.
            for later in units[at:]:
                for change in later.changes:
                    if not change.handed:
                        self._end(work, change, error)

    def _record(self, work: _Work, unit: _Unit, record: RecordSuspended) -> None:
        if self.stop.is_set():
            for change in unit.changes:
                self._end(work, change, Outcome(Status.STOPPED, _after(0, change)))
            return
        sent = self.clock()
        arns = [_record_arn(change) for change in unit.changes]
        region = self.config.dynamodb_region
        try:
            refused = self._each_table(
                lambda chunk: dynamodb.tag_tables(self.run, region, chunk, record.record),
                arns,
                dynamodb.TAG,
            )
        except Interrupted:
            for change in unit.changes:
                self._end(work, change, Outcome(Status.STOPPED, _after(0, change)))
            return
        for change in unit.changes:
            change.recorded = sent if change.since is None else change.since
            error = refused.get(_record_arn(change))
            if error is not None and change.record is not None:
                # The pause is the job, the record a convenience: a backup must never run
                # with the auto scaling active because a tag could not be written.
                log.error("%s", self.unrecorded(change.decision, change.record, error))
                change.unrecorded = f"without a record ({error.code})"

    def _scale(self, work: _Work, change: _Change) -> None:
        try:
            outcome = self._steps(change)
        except Exception as error:
            self._end(work, change, error)
            return
        if outcome is not None:
            self._end(work, change, outcome)
        elif change.forget is None:
            self._end(work, change, _done(change))
        else:
            self._leave(work, change, ready=True)

    def _steps(self, change: _Change) -> Outcome | None:
        """The steps between the batched ones, in order: the final outcome when they end it,
        None when the last step is still to come (or there is none)."""
        steps = len(change.steps)
        for done, step in enumerate(change.middle, start=int(change.record is not None)):
            try:
                if self.stop.is_set():
                    raise Interrupted(str(step))
                self._in_time(change)
                if isinstance(step, RecordPausedCount | RecordSuspended):
                    change.recorded = self.clock() if change.since is None else change.since
                self.apply(step)
            except Interrupted:
                return Outcome(Status.STOPPED, f"after {done} of {steps} steps")
            except TooLate:
                return self._too_late(done, change)
            except UnexpectedOutput as error:
                # The CLI exited 0: AWS accepted the change, only its answer is unreadable.
                # Calling it failed would log the opposite of what happened and stop the
                # steps that finish the change (forgetting the record).
                _accepted(error)
            except AwsError as error:
                if not isinstance(step, RecordPausedCount | RecordSuspended):
                    return Outcome(Status.FAILED, str(error))
                # As for a batch's record (_record): pausing matters more than recording.
                log.error("%s", self.unrecorded(change.decision, step, error))
                change.unrecorded = f"without a record ({error.code})"
        return None

    def _leave(self, work: _Work, change: _Change, *, ready: bool) -> None:
        """The change no longer keeps its forget batch waiting: ready for its last step, or
        ended before it. The last one to leave sends the batch on its way."""
        batch = change.forget
        if batch is None:
            return
        with work.lock:
            if change.left:
                return
            change.left = True
            batch.waiting -= 1
            if ready:
                batch.ready.append(change)
            go = batch.waiting == 0 and bool(batch.ready)
        if go:
            try:
                work.pool.submit(self._forget, work, batch)
            except Exception as error:
                for waiting in batch.ready:
                    _finish(waiting, error)

    def _forget(self, work: _Work, batch: _Forget) -> None:
        try:
            self._untag(batch)
        except Exception as error:
            for change in batch.ready:
                _finish(change, error)

    def _untag(self, batch: _Forget) -> None:
        going = []
        for change in batch.ready:
            before = len(change.steps) - 1
            if self.stop.is_set():
                _finish(change, Outcome(Status.STOPPED, _after(before, change)))
                continue
            try:
                self._in_time(change)
            except TooLate:
                _finish(change, self._too_late(before, change))
                continue
            going.append(change)
        if not going:
            return
        region = self.config.dynamodb_region
        try:
            refused = self._each_table(
                lambda chunk: dynamodb.untag_tables(self.run, region, chunk, batch.keys),
                [_forget_arn(change) for change in going],
                dynamodb.UNTAG,
            )
        except Interrupted:
            for change in going:
                _finish(change, Outcome(Status.STOPPED, _after(len(change.steps) - 1, change)))
            return
        for change in going:
            error = refused.get(_forget_arn(change))
            _finish(change, Outcome(Status.FAILED, str(error)) if error else _done(change))

    def _end(self, work: _Work, change: _Change, outcome: Outcome | Exception) -> None:
        _finish(change, outcome)
        self._leave(work, change, ready=False)

    # --- time, and the tagging calls ----------------------------------------------------------

    def _in_time(self, change: _Change) -> None:
        """Raise TooLate past the pause window of the change's record."""
        recorded = change.recorded
        if recorded is not None and self.clock() - recorded > self.config.pause_window:
            raise TooLate

    def _too_late(self, done: int, change: _Change) -> Outcome:
        # Nothing is lost: the record stays and settles, and the next tick pauses again under
        # a record of its own.
        detail = (
            f"gave up {_after(done, change)}: more than {self.config.pause_window:g}s since "
            "its pause began"
        )
        return Outcome(Status.FAILED, detail)

    def _each_table(self, call: TableCall, arns: Sequence[str], what: str) -> dict[str, AwsError]:
        """Make a tagging call for up to 20 tables, then again for the tables it refused for a
        reason that passes (throttled, the service's own fault), with the runner's attempts
        and waits: the tables refused for good, with why.

        A call that failed as a whole (the runner has retried it already) is every table's
        failure. A call whose answer cannot be read was accepted (the CLI exited 0): no table
        counts as refused. Raises Interrupted when a shutdown comes during a wait.
        """
        refused: dict[str, AwsError] = {}
        pending = list(arns)
        last: dict[str, AwsError] = {}

        def attempt() -> None:
            nonlocal pending, last
            try:
                last = call(pending)
            except UnexpectedOutput as error:
                _accepted(error)
                last = {}
            except AwsError as error:
                refused.update({arn: _for_table(error, arn, len(pending)) for arn in pending})
                pending = []
                return
            refused.update({arn: e for arn, e in last.items() if not e.retryable})
            pending = [arn for arn in pending if arn in last and last[arn].retryable]
            if pending:
                first = last[pending[0]]
                message = f"{len(pending)} of its tables refused, the first: {first.message}"
                raise AwsError(what, first.code, message, retryable=True)

        try:
            retrying(
                attempt,
                attempts=self.config.call_attempts,
                stop=self.stop,
                describe=what,
                wait=self.retry_wait,
            )
        except AwsError:
            refused.update({arn: last[arn] for arn in pending})
        return refused

    # --- messages, and one step --------------------------------------------------------------

    def unrecorded(
        self, decision: Decision, step: RecordPausedCount | RecordSuspended, error: AwsError
    ) -> str:
        """The ERROR for a record that could not be written: the cause, what the resume will
        do without it, and the fix."""
        c = self.config
        if isinstance(step, RecordPausedCount):
            what = "ecs:TagResource and ecs:UntagResource on the service"
            consequence = (
                f"pausing anyway; the resume will set the desired count to RESUME_COUNT="
                f"{c.resume_count}, not to the {step.count} it had"
            )
        else:
            # The Tagging API checks its own actions and then DynamoDB's on each table.
            what = (
                "tag:TagResources and tag:UntagResources, and dynamodb:TagResource and "
                "dynamodb:UntagResource on the table,"
            )
            turned_on = ", ".join(
                f"{s.target} ({'/'.join(sorted(_recorded(step, s)))})"
                for s in decision.steps
                if isinstance(s, SetSuspended)
            )
            consequence = (
                "suspending anyway; after the backup the controller will NOT resume the auto "
                "scaling of this table (it resumes only what its record names): turn these "
                f"flags off by hand then: {turned_on}"
            )
        fix = f"add {what} to the controller's IAM policy"
        if "Long arn format" in error.message:
            fix = (
                "the service has a short ARN (created before ECS's long ARN format), which "
                "cannot be tagged: opt in (`aws ecs put-account-setting-default --name "
                "serviceLongArnFormat --value enabled`) and recreate the service"
            )
        elif not error.code.startswith("AccessDenied"):
            fix = f"if this persists, check that the controller may {what.rstrip(',')}"
        return (
            f"could not record before {decision.verb.value} ({decision.change}): {error}; "
            f"{consequence}. Fix: {fix}"
        )

    def apply(self, step: Step) -> None:
        c, run = self.config, self.run
        match step:
            case RecordSuspended(arn, record):
                # Not first in its decision, so not batched: a batch of one.
                _raise_any(
                    self._each_table(
                        lambda chunk: dynamodb.tag_tables(run, c.dynamodb_region, chunk, record),
                        [arn],
                        dynamodb.TAG,
                    )
                )
            case ForgetSuspended(arn, keys):
                _raise_any(
                    self._each_table(
                        lambda chunk: dynamodb.untag_tables(run, c.dynamodb_region, chunk, keys),
                        [arn],
                        dynamodb.UNTAG,
                    )
                )
            case _:
                # The one-call steps are the kind's own to make.
                autoscalers.apply(run, c, step)


def _units(changes: Sequence[_Change]) -> list[_Unit]:
    """The order the changes are handed to the pool in, a batch at a time: changes with
    nothing to batch (the service's), then the pauses by batch of records, then the rest by
    forget batch. Sets each change's forget batch."""
    records: dict[frozenset[tuple[str, frozenset[str]]], list[_Change]] = defaultdict(list)
    forgets: dict[tuple[str, ...], list[_Change]] = defaultdict(list)
    alone = []
    for change in changes:
        if change.last is not None:
            forgets[tuple(sorted(change.last.keys))].append(change)
        if change.record is not None:
            # Same tags (one pause id, one layout of targets, the same flags): one call.
            records[frozenset(change.record.record.items())].append(change)
        elif change.last is None:
            alone.append(change)
    batches = []
    for keys, members in forgets.items():
        for chunk in _chunks(members):
            batch = _Forget(keys, chunk, waiting=len(chunk))
            batches.append(batch)
            for change in chunk:
                change.forget = batch
    units = [_Unit((change,)) for change in alone]
    units += [
        _Unit(tuple(chunk), chunk[0].record)
        for members in records.values()
        for chunk in _chunks(members)
    ]
    # The resumes a forget batch at a time, so that each batch's untag follows its own tables'
    # changes closely rather than every table's.
    for batch in batches:
        rest = tuple(change for change in batch.changes if change.record is None)
        if rest:
            units.append(_Unit(rest))
    return units


def _chunks(changes: list[_Change]) -> list[list[_Change]]:
    size = dynamodb.ARNS_PER_CHANGE
    return [changes[start : start + size] for start in range(0, len(changes), size)]


def _record_arn(change: _Change) -> str:
    return change.record.table_arn if change.record else ""


def _forget_arn(change: _Change) -> str:
    return change.last.table_arn if change.last else ""


def _finish(change: _Change, outcome: Outcome | Exception) -> None:
    """Settle the change's future, once: a guard that ends it after a bug may come second."""
    try:
        if isinstance(outcome, Exception):
            change.result.set_exception(outcome)
        else:
            change.result.set_result(outcome)
    except InvalidStateError:
        pass


def _done(change: _Change) -> Outcome:
    return Outcome(Status.DONE, change.unrecorded) if change.unrecorded else DONE


def _after(done: int, change: _Change) -> str:
    return f"after {done} of {len(change.steps)} steps"


def _accepted(error: UnexpectedOutput) -> None:
    log.warning(
        "`%s` succeeded but its answer could not be read (%s); the step is done",
        error.command,
        error.message,
    )


def _for_table(error: AwsError, arn: str, tables: int) -> AwsError:
    """A whole batch call's failure as one table's: its error without the call's whole list of
    tables, which every table's line would repeat."""
    others = f" (and {tables - 1} more)" if tables > 1 else ""
    command = f"{error.command.split(' --resource-arn-list ')[0]} --resource-arn-list {arn}{others}"
    return AwsError(command, error.code, error.message, error.retryable, error.attempts)


def _raise_any(refused: dict[str, AwsError]) -> None:
    for error in refused.values():
        raise error


def _recorded(record: RecordSuspended, step: SetSuspended) -> frozenset[str]:
    found = [flags for key, flags in record.record.items() if step.target.named_by(key)]
    return frozenset().union(*found)


class _Inline(Executor):
    """Runs each task as it is submitted, in the caller's thread: one decision on its own."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future
