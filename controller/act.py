"""Carry out decisions in three phases, and say how each went.

1. the records every change needs, each kind writing its own (the tables' 20 a call);
2. the scaling, each change's own steps in order, the changes side by side on the pool;
3. the records to forget, once their change is through its scaling.

Each thing the decisions are about (the service, one table) still sees its own steps in the
rule's order: record, scaling, forget. A phase that writes several records in one call makes
only calls that several controllers side by side may already make, so every property the
model check proves per table holds (docs/reliability.md).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, InvalidStateError, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from controller.autoscalers.autoscaler import Autoscaler, Calls, accepted
from controller.aws import AwsError, Interrupted, Runner, UnexpectedOutput, concurrently, retrying
from controller.decide import Decision, Phase, Step

if TYPE_CHECKING:
    import tenacity

    from controller.config import Config

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

    def steps(self, phase: Phase) -> list[Step]:
        return [step for step in self.decision.steps if step.phase is phase]

    def after(self, done: int) -> str:
        return f"after {done} of {len(self.decision.steps)} steps"

    def end(self, outcome: Outcome | Exception) -> None:
        """Settle its future, once: a guard that ends it after a bug may come second."""
        try:
            if isinstance(outcome, Exception):
                self.result.set_exception(outcome)
            else:
                self.result.set_result(outcome)
        except InvalidStateError:
            pass

    def done(self) -> None:
        self.end(Outcome(Status.DONE, self.unrecorded) if self.unrecorded else DONE)


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
        self.kinds: dict[str, Autoscaler[Any]] = {k.name: k for k in config.autoscalers}
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

        Never waits on the pool itself: the caller waits on the futures.
        """
        changes = [_Change(d, since) for d in decisions]
        for change in changes:
            if self.config.dry_run:
                change.end(Outcome(Status.SKIPPED, "dry run, not applied"))
            elif not change.decision.steps:
                change.done()
        going = [c for c in changes if not c.result.done()]
        if going:
            pool.submit(self._phases, going, pool)
        return [c.result for c in changes]

    def _phases(self, changes: list[_Change], pool: Executor) -> None:
        try:
            self._records(changes, pool)
            wait([pool.submit(self._scale, c, pool) for c in changes if not c.result.done()])
            self._forget([c for c in changes if not c.result.done()], pool)
        except Exception as error:
            # A bug, or a pool shut down under us: what did not end fails with it, and the
            # tick fails as a crashed one does (loop.until_stopped). Never left waiting.
            for change in changes:
                change.end(error)

    # --- the phases ------------------------------------------------------------------------

    def _records(self, changes: list[_Change], pool: Executor) -> None:
        for kind, members in self._by_kind(changes, Phase.RECORD):
            if self.stop.is_set():
                for change, _ in members:
                    change.end(Outcome(Status.STOPPED, change.after(0)))
                continue
            sent = self.clock()
            try:
                errors = self._apply(kind, [step for _, step in members], pool)
            except Interrupted:
                for change, _ in members:
                    change.end(Outcome(Status.STOPPED, change.after(0)))
                continue
            for (change, step), error in zip(members, errors, strict=True):
                change.recorded = sent if change.since is None else change.since
                if error is not None:
                    # The pause is the job, the record a convenience: a backup must never run
                    # with the auto scaling active because a tag could not be written.
                    log.error("%s", kind.unrecorded(change.decision, step, error))
                    change.unrecorded = f"without a record ({error.code})"

    def _scale(self, change: _Change, pool: Executor) -> None:
        try:
            kind = self.kinds[change.decision.kind]
            done = len(change.steps(Phase.RECORD))
            for step in change.steps(Phase.SCALE):
                if self.stop.is_set():
                    return change.end(Outcome(Status.STOPPED, change.after(done)))
                if self._too_late(change):
                    return change.end(self._gave_up(done, change))
                try:
                    (error,) = self._apply(kind, [step], pool)
                except Interrupted:
                    return change.end(Outcome(Status.STOPPED, change.after(done)))
                if error is not None:
                    return change.end(Outcome(Status.FAILED, str(error)))
                done += 1
            if not change.steps(Phase.FORGET):
                change.done()
        except Exception as error:
            change.end(error)

    def _forget(self, changes: list[_Change], pool: Executor) -> None:
        for kind, members in self._by_kind(changes, Phase.FORGET):
            going = []
            for change, step in members:
                before = len(change.decision.steps) - len(change.steps(Phase.FORGET))
                if self.stop.is_set():
                    change.end(Outcome(Status.STOPPED, change.after(before)))
                elif self._too_late(change):
                    change.end(self._gave_up(before, change))
                else:
                    going.append((change, step))
            if not going:
                continue
            try:
                errors = self._apply(kind, [step for _, step in going], pool)
            except Interrupted:
                for change, _ in going:
                    before = len(change.decision.steps) - len(change.steps(Phase.FORGET))
                    change.end(Outcome(Status.STOPPED, change.after(before)))
                continue
            failed = {id(c): e for (c, _), e in zip(going, errors, strict=True) if e is not None}
            for change, _ in going:
                error = failed.get(id(change))
                if error is None:
                    change.done()
                else:
                    change.end(Outcome(Status.FAILED, str(error)))

    # --- helpers ---------------------------------------------------------------------------

    def _by_kind(
        self, changes: list[_Change], phase: Phase
    ) -> list[tuple[Autoscaler[Any], list[tuple[_Change, Step]]]]:
        """The steps of `phase`, by the kind that carries them out, in the order of the kinds."""
        found: dict[str, list[tuple[_Change, Step]]] = defaultdict(list)
        for change in changes:
            for step in change.steps(phase):
                found[change.decision.kind].append((change, step))
        return [(kind, found[name]) for name, kind in self.kinds.items() if found[name]]

    def _apply(
        self, kind: Autoscaler[Any], steps: Sequence[Step], pool: Executor
    ) -> list[AwsError | None]:
        calls = Calls(self.run, concurrently(pool), self._retry)
        try:
            return kind.apply(calls, steps)
        except UnexpectedOutput as error:
            accepted(error)
            return [None] * len(steps)
        except AwsError as error:
            return [error] * len(steps)

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return retrying(
            call,
            attempts=self.config.call_attempts,
            stop=self.stop,
            describe=what,
            wait=self.retry_wait,
        )

    def _too_late(self, change: _Change) -> bool:
        """Past the pause window of the change's record: it may be removed by then."""
        recorded = change.recorded
        return recorded is not None and self.clock() - recorded > self.config.pause_window

    def _gave_up(self, done: int, change: _Change) -> Outcome:
        # Nothing is lost: the record stays and settles, and the next tick pauses again under
        # a record of its own.
        detail = (
            f"gave up {change.after(done)}: more than {self.config.pause_window:g}s since "
            "its pause began"
        )
        return Outcome(Status.FAILED, detail)


class _Inline(Executor):
    """Runs each task as it is submitted, in the caller's thread: one decision on its own."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as error:
            future.set_exception(error)
        return future
