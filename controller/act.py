"""Carry out a decision's steps: one mutating CLI call each, in order, and say how it went."""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from controller.autoscalers import dynamodb, ecs
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


class TooLate(Exception):
    """A pause's change would start after its pause window: its record may be removed by then."""


class Actor:
    """Applies steps for one controller."""

    def __init__(
        self,
        config: Config,
        run: Runner,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.run = run
        self.stop = stop
        self.clock = clock

    def carry_out(self, decision: Decision, since: float | None = None) -> Outcome:
        """Run a decision's steps in order, stopping at the first failure.

        Each step is one mutating call, which a shutdown never interrupts; a shutdown
        stops the steps after it. Any prefix of the steps leaves a state the rule can
        finish from on the next start.

        `since` is when the pause id was made (on this clock), which is as old as the time
        in the id: the steps after a record must start within the pause window of it.
        """
        if self.config.dry_run:
            return Outcome(Status.SKIPPED, "dry run, not applied")
        unrecorded = ""
        # Set once this decision's record is sent: the changes after it must start within
        # the pause window (Config.pause_window, docs/reliability.md), counted from the
        # pause id's time, which other controllers read its age by.
        recorded: float | None = None
        for done, step in enumerate(decision.steps):
            try:
                if self.stop.is_set():
                    raise Interrupted(str(step))
                if recorded is not None and self.clock() - recorded > self.config.pause_window:
                    raise TooLate
                if isinstance(step, RecordPausedCount | RecordSuspended):
                    recorded = self.clock() if since is None else since
                self.apply(step)
            except Interrupted:
                return Outcome(Status.STOPPED, f"after {done} of {len(decision.steps)} steps")
            except TooLate:
                # Nothing is lost: the record stays and settles, and the next tick pauses
                # again under a record of its own.
                detail = (
                    f"gave up after {done} of {len(decision.steps)} steps: more than "
                    f"{self.config.pause_window:g}s since its pause began"
                )
                return Outcome(Status.FAILED, detail)
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
            fix = f"if this persists, check that the controller may {what}"
        return (
            f"could not record before {decision.verb.value} ({decision.change}): {error}; "
            f"{consequence}. Fix: {fix}"
        )

    def apply(self, step: Step) -> None:
        c, run = self.config, self.run
        match step:
            case RecordPausedCount(arn, key, count):
                ecs.record_paused_count(run, arn, c.autoscaler_region, key, count)
            case SetDesiredCount(count):
                ecs.set_desired_count(
                    run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region, count
                )
            case ForgetPausedCount(arn, keys):
                ecs.forget_paused_counts(run, arn, c.autoscaler_region, keys)
            case RecordSuspended(arn, record):
                dynamodb.write_record(run, arn, c.dynamodb_region, record)
            case SetSuspended(target, suspended):
                dynamodb.set_suspended(run, target, c.dynamodb_region, suspended)
            case ForgetSuspended(arn, keys):
                dynamodb.forget_record(run, arn, c.dynamodb_region, keys)


def _recorded(record: RecordSuspended, step: SetSuspended) -> frozenset[str]:
    found = [flags for key, flags in record.record.items() if step.target.named_by(key)]
    return frozenset().union(*found)
