"""Carry out a decision's steps: one mutating CLI call each, in order, and say how it went."""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass

from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.dynamodb import Record
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
        unrecorded = ""
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
                if not isinstance(step, RecordPausedCount | RecordSuspended):
                    return Outcome(Status.FAILED, str(error))
                # The pause is the job, the record a convenience: a backup must never run
                # with the autoscaler active because a tag could not be written.
                log.error("%s", self.unrecorded(decision, step, error))
                unrecorded = f"without a record ({error.code})"
        return Outcome(Status.DONE, unrecorded) if unrecorded else DONE

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
            what = "dynamodb:TagResource and dynamodb:UntagResource on the table"
            turned_on = ", ".join(
                f"{s.target} ({'/'.join(sorted(step.record.get(s.target.record_key, ())))})"
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
            fix = f"if this persists, check that the controller may {what}"
        return (
            f"could not record before {decision.verb.value} ({decision.change}): {error}; "
            f"{consequence}. Fix: {fix}"
        )

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
                dynamodb.write_record(run, arn, c.dynamodb_region, record)
            case SetSuspended(target, suspended):
                dynamodb.set_suspended(run, target, c.dynamodb_region, suspended)
            case ForgetSuspended(arn, keys):
                try:
                    dynamodb.forget_record(run, arn, c.dynamodb_region, keys)
                except UnexpectedOutput:
                    self.records[arn] = {}  # the tags are gone all the same
                    raise
                self.records[arn] = {}
