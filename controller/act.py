"""Carry out a decision's steps: one mutating CLI call each, in order, and say how it went."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass

from controller import ecs, native
from controller.aws import AwsError, Interrupted, Runner, UnexpectedOutput
from controller.config import Config
from controller.decide import (
    Decision,
    ForgetPausedCount,
    ForgetSuspended,
    RecordPausedCount,
    RecordSuspended,
    SetDesiredCount,
    SetSuspended,
    Step,
)
from controller.native import Record

log = logging.getLogger(__name__)


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


class Actor:
    """Applies steps for one controller. `records` is the controller's cache of table records,
    kept true as the steps change the tags it mirrors."""

    def __init__(
        self,
        config: Config,
        run: Runner,
        stop: threading.Event,
        records: MutableMapping[str, Record],
    ) -> None:
        self.config = config
        self.run = run
        self.stop = stop
        self.records = records

    def carry_out(self, decision: Decision) -> Outcome:
        """Run a decision's steps in order, stopping at the first failure.

        Each step is one mutating call, which a shutdown never interrupts; a shutdown
        stops the steps after it. Any prefix of the steps leaves a state the rule can
        finish from on the next start.
        """
        if self.config.dry_run:
            return Outcome(Status.SKIPPED, "dry run, not applied")
        for done, step in enumerate(decision.steps):
            try:
                if self.stop.is_set():
                    raise Interrupted(str(step))
                self.apply(step)
            except Interrupted:
                return Outcome(Status.STOPPED, f"after {done} of {len(decision.steps)} steps")
            except UnexpectedOutput as error:
                # The CLI exited 0: AWS accepted the change, only its answer is unreadable.
                # Calling it failed would log the opposite of what happened and stop the
                # steps that finish the change (forgetting the record).
                log.warning(
                    "`%s` succeeded but its answer could not be read (%s); the step is done",
                    error.command,
                    error.message,
                )
            except AwsError as error:
                return Outcome(Status.FAILED, str(error))
        return DONE

    def apply(self, step: Step) -> None:
        c, run = self.config, self.run
        match step:
            case RecordPausedCount(arn, count):
                ecs.record_paused_count(run, arn, c.autoscaler_region, count)
            case SetDesiredCount(count):
                ecs.set_desired_count(
                    run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region, count
                )
            case ForgetPausedCount(arn):
                ecs.forget_paused_count_if_running(
                    run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region, arn
                )
            case RecordSuspended(arn, record):
                # Forget what was read before: the table's tags are changing.
                self.records.pop(arn, None)
                native.write_record(run, arn, c.dynamodb_region, record)
            case SetSuspended(target, suspended):
                native.set_suspended(run, target, c.dynamodb_region, suspended)
            case ForgetSuspended(arn, keys):
                try:
                    native.forget_record(run, arn, c.dynamodb_region, keys)
                except UnexpectedOutput:
                    self.records[arn] = {}  # the tags are gone all the same
                    raise
                self.records[arn] = {}
