"""Ticks and the sleep between them. Each tick: observe, decide, act, log one line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from controller import ecs, emr, native
from controller.aws import AwsError, Interrupted, Runner
from controller.config import Config
from controller.decide import (
    Decision,
    ForgetPausedCount,
    ForgetSuspended,
    Observed,
    Policy,
    RecordPausedCount,
    RecordSuspended,
    SetDesiredCount,
    SetSuspended,
    Step,
    Verb,
    decide,
    records_needed,
)
from controller.emr import Cluster
from controller.native import Record, Target

log = logging.getLogger(__name__)
T = TypeVar("T")


class Controller:
    def __init__(
        self,
        config: Config,
        run: Runner,
        pool: Executor,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.run = run
        self.pool = pool
        self.stop = stop or threading.Event()
        self.clock = clock
        self.policy = Policy(config.resume_count, config.resume_delay)
        # RESUME_DELAY counts from the start until a backup is seen: a restart during the
        # delay waits a whole delay again, which errs on the side of staying paused.
        self.last_backup = clock()
        # The records read from table tags, by table ARN. Only the controller writes them,
        # so what it read stays true until it writes again.
        self.records: dict[str, Record] = {}

    def tick(self) -> bool:
        """One pass. True when it completed; False when something stopped it deciding or acting."""
        c = self.config
        # The queries are independent and each costs a CLI start-up, so run them together.
        clusters = self.pool.submit(emr.list_active, self.run, c.emr_region)
        service = (
            self.pool.submit(
                ecs.describe,
                self.run,
                c.autoscaler_cluster,
                c.autoscaler_service,
                c.autoscaler_region,
            )
            if c.ecs_mode
            else None
        )
        targets = (
            self.pool.submit(native.describe, self.run, c.dynamodb_table_prefix, c.dynamodb_region)
            if c.native_mode
            else None
        )
        backups = _result(clusters, "EMR query")
        current = _result(service, "ECS query")
        found = _result(targets, "Application Auto Scaling query")
        matching = None if backups is None else emr.matching(backups, c.emr_prefix)
        now = self.clock()
        if matching:
            self.last_backup = now
        seen = Observed(
            backups=matching,
            service=current,
            targets=found,
            records=self._records(matching, found),
            now=now,
            last_backup=self.last_backup,
        )
        plan = decide(seen, self.policy)
        # Decisions are independent (one service, one table each): carry them out together.
        outcomes = [self.pool.submit(self._carry_out, d) for d in plan.decisions]
        done = [(d, outcome.result()) for d, outcome in zip(plan.decisions, outcomes, strict=True)]
        failed = any(outcome.startswith("FAILED") for _, outcome in done)
        blind = (c.ecs_mode and current is None) or (c.native_mode and found is None)
        ok = not (plan.fault or failed or blind)
        line = f"{self._summary(seen)} | action: "
        line += "; ".join(self._shown(d, outcome) for d, outcome in done) or "no change"
        level = logging.ERROR if plan.fault or failed else logging.INFO
        log.log(level, line, extra={"fields": self._fields(seen, done, ok)})
        return ok

    def _records(
        self, backups: Sequence[Cluster] | None, targets: Sequence[Target] | None
    ) -> dict[str, Record]:
        """The records the rule needs, from memory or read now (together); failures left out."""
        missing = [a for a in records_needed(backups, targets or ()) if a not in self.records]
        region = self.config.dynamodb_region
        reads = {a: self.pool.submit(native.read_record, self.run, a, region) for a in missing}
        for arn, future in reads.items():
            record = _result(future, f"reading the record on {arn}")
            if record is not None:
                self.records[arn] = record
        return dict(self.records)

    def _carry_out(self, decision: Decision) -> str:
        """Run a decision's steps in order; say how far it got ("done" when all ran).

        Each step is one mutating call, which a shutdown never interrupts; a shutdown
        stops the steps after it. Any prefix of the steps leaves a state the rule can
        finish from on the next start.
        """
        if self.config.dry_run:
            return "done"
        for done, step in enumerate(decision.steps):
            try:
                if self.stop.is_set():
                    raise Interrupted(str(step))
                self._apply(step)
            except Interrupted:
                return f"stopped by shutdown after {done} of {len(decision.steps)} steps"
            except AwsError as error:
                return f"FAILED: {error}"
        return "done"

    def _shown(self, decision: Decision, outcome: str) -> str:
        if self.config.dry_run and decision.steps:
            return decision.describe("dry run, not applied")
        if outcome == "done":
            return decision.describe()
        return f"{decision.verb.value}: {decision.change} {outcome}"

    def _apply(self, step: Step) -> None:
        c, run = self.config, self.run
        match step:
            case RecordPausedCount(arn, count):
                ecs.record_paused_count(run, arn, c.autoscaler_region, count)
            case SetDesiredCount(count):
                ecs.set_desired_count(
                    run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region, count
                )
            case ForgetPausedCount(arn):
                ecs.forget_paused_count(run, arn, c.autoscaler_region)
            case RecordSuspended(arn, record):
                # Forget what was read before: the table's tags are changing.
                self.records.pop(arn, None)
                native.write_record(run, arn, c.dynamodb_region, record)
            case SetSuspended(target, suspended):
                native.set_suspended(run, target, c.dynamodb_region, suspended)
            case ForgetSuspended(arn, keys):
                native.forget_record(run, arn, c.dynamodb_region, keys)
                self.records[arn] = {}

    def _summary(self, seen: Observed) -> str:
        c = self.config
        backups = seen.backups
        shown = "unknown" if backups is None else ", ".join(map(str, backups)) or "none active"
        parts = [f"backups: {shown}"]
        if c.ecs_mode:
            target = f"{c.autoscaler_cluster}/{c.autoscaler_service}"
            parts.append(f"service {target}: {seen.service or 'unknown'}")
        if c.native_mode:
            state = "unknown"
            if seen.targets is not None:
                suspended = sum(1 for t in seen.targets if t.suspended)
                state = f"{len(seen.targets)} scalable targets, {suspended} suspended"
            parts.append(f"tables {c.dynamodb_table_prefix}*: {state}")
        return " | ".join(parts)

    def _fields(
        self, seen: Observed, done: Sequence[tuple[Decision, str]], ok: bool
    ) -> dict[str, Any]:
        """The tick as structured data, for LOG_FORMAT=json."""
        c = self.config
        tick: dict[str, Any] = {
            "backups": None
            if seen.backups is None
            else [{"name": b.name, "id": b.id, "state": b.state} for b in seen.backups]
        }
        if c.ecs_mode:
            tick["service"] = {"cluster": c.autoscaler_cluster, "name": c.autoscaler_service}
            if seen.service is not None:
                tick["service"].update(
                    desired=seen.service.desired,
                    running=seen.service.running,
                    pending=seen.service.pending,
                    status=seen.service.status,
                    paused_count_tag=seen.service.paused_tag,
                )
        if c.native_mode:
            tick["tables"] = {"prefix": c.dynamodb_table_prefix, "region": c.dynamodb_region}
            if seen.targets is not None:
                tick["tables"]["targets"] = len(seen.targets)
                tick["tables"]["suspended"] = sum(1 for t in seen.targets if t.suspended)
        changes = [d for d, _ in done if d.steps]
        tick["action"] = changes[0].verb.value if changes else Verb.HOLD.value
        tick["decisions"] = [
            {
                "verb": d.verb.value,
                "change": d.change,
                "reason": d.reason,
                "outcome": ("dry run" if c.dry_run else outcome) if d.steps else None,
            }
            for d, outcome in done
        ]
        tick["dry_run"] = c.dry_run
        tick["ok"] = ok
        return tick


def _result(future: Future[T] | None, what: str) -> T | None:
    """The query's answer, or None after logging why it failed (shutdown propagates)."""
    if future is None:
        return None
    try:
        return future.result()
    except AwsError as error:
        log.error("%s failed: %s", what, error)
        return None


def run(
    controller: Controller,
    *,
    interval: float,
    once: bool,
    stop: threading.Event,
    on_success: Callable[[], None] | None = None,
) -> int:
    """Tick until stopped. Exit status: 0, or 1 when a `--once` tick failed.

    `on_success` runs after each tick that completed (the heartbeat).
    """
    while True:
        started = time.monotonic()
        try:
            ok = controller.tick()
        except Interrupted:
            log.info("shutdown requested during a tick; stopped its queries, changed nothing")
            return 0
        if ok and on_success is not None:
            on_success()
        if stop.is_set():
            log.info("shutdown requested; exiting")
            return 0
        if once:
            return 0 if ok else 1
        # Waiting on the event, not sleeping, is what lets SIGTERM end the wait at once.
        if stop.wait(max(0.0, interval - (time.monotonic() - started))):
            log.info("shutdown requested; exiting")
            return 0
