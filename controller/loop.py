"""Ticks and the sleep between them. Each tick: observe, decide, act, report one line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, wait
from datetime import datetime, timezone
from typing import Any, TypeVar

from controller import report, sources
from controller.act import Actor
from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.dynamodb import Record, Target
from controller.aws import AwsError, CliNotRunnable, Interrupted, Runner
from controller.config import Config
from controller.decide import Decision, Observed, Policy, decide, holding, records_needed
from controller.sources.backup import Backup

log = logging.getLogger(__name__)
T = TypeVar("T")
# Told about each tick that got to a decision: what it saw, did, whether it completed, and
# how many seconds it took (the HTTP server's metrics and circuit breaker).
OnTick = Callable[[Observed, report.Done, bool, float], None]
R = TypeVar("R")
# How often a pause or resume still under way says how far it got: one of hundreds of tables
# takes minutes, and a silent log would look like a hang.
PROGRESS_EVERY = 10.0
# concurrent.futures.wait's shape: (futures, timeout) -> (done, not done).
Wait = Callable[[set[Future[Any]], float], tuple[set[Future[Any]], set[Future[Any]]]]


def _wait(futures: set[Future[Any]], timeout: float) -> tuple[set[Future[Any]], set[Future[Any]]]:
    done, pending = wait(futures, timeout)
    return done, pending


def workers(config: Config, calls: int) -> int:
    """Threads for a tick: one per query, so that they all start at once, and `calls` more
    (MAX_CONCURRENT_CALLS) for the one-by-one calls of the sources that make them (Glue jobs,
    virtual clusters, applications) and for the changes of native mode (one per table); two
    do for the service's change alone. A source waiting on its own calls holds a thread, so
    there must always be more threads than such sources, or they could wait on each other for
    ever. How many CLI processes run at once is the runner's to bound (controller/aws.py), not
    the pool's: a thread waiting there holds no process."""
    queries = len(sources.configured(config)) + config.ecs_mode + config.native_mode
    many = sources.fans_out(config) or config.native_mode
    return queries + (max(2, calls) if many else 2)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Controller:
    def __init__(
        self,
        config: Config,
        run: Runner,
        pool: Executor,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall: Callable[[], datetime] = _utc_now,
        waiting: Wait = _wait,
    ) -> None:
        self.config = config
        self.run = run
        self.pool = pool
        self.stop = stop or threading.Event()
        self.clock = clock
        # Ages of backups are counted on the wall clock, as AWS reports their start times.
        self.wall = wall
        self.waiting = waiting
        self.sources = sources.configured(config)
        self.policy = Policy(config.resume_count, config.resume_delay, config.resume_count_max)
        # RESUME_DELAY counts from the start until a backup is seen: a restart during the
        # delay waits a whole delay again, which errs on the side of staying paused.
        self.last_backup = clock()
        # The records read from table tags, by table ARN. Only the controller writes them,
        # so what it read stays true until it writes again.
        self.records: dict[str, Record] = {}
        self.actor = Actor(config, run, self.stop, self.records)
        self.on_tick: OnTick | None = None
        # Told about a tick that crashed before it got to a decision (a bug): the metrics
        # count it as failed, as the missing heartbeat does for the health check.
        self.on_crash: Callable[[], None] | None = None

    def tick(self) -> bool:
        """One pass. True when it completed; False when something stopped it deciding or acting."""
        started = time.monotonic()
        seen = self.observe()
        plan = decide(seen, self.policy)
        # Decisions are independent (one service, one table each): carry them out together.
        outcomes = [self.pool.submit(self.actor.carry_out, d) for d in plan.decisions]
        self._progress(plan.decisions, outcomes)
        done = [(d, outcome.result()) for d, outcome in zip(plan.decisions, outcomes, strict=True)]
        c = self.config
        blind = (c.ecs_mode and seen.service is None) or (c.native_mode and seen.targets is None)
        failed = any(outcome.failed for _, outcome in done)
        ok = not (plan.fault or failed or blind)
        for decision in plan.decisions:
            if decision.alarm:
                log.error("%s", decision.alarm)
        for message, about in report.stuck(c, seen):
            # A stuck backup is an ERROR, not a failed tick: a restart would not fix it.
            log.error(message, extra={"fields": about})
        level = logging.INFO if ok else logging.ERROR
        fields = report.fields(c, seen, done, ok)
        log.log(level, report.line(c, seen, done, ok), extra={"fields": fields})
        if self.on_tick is not None:
            self.on_tick(seen, done, ok, time.monotonic() - started)
        return ok

    def _progress(self, decisions: Sequence[Decision], outcomes: Sequence[Future[Any]]) -> None:
        """Wait for the changes, saying every PROGRESS_EVERY seconds how many of them (one per
        table, one for the service) are done while some are still under way."""
        changes = {o for d, o in zip(decisions, outcomes, strict=True) if d.steps}
        verbs = ", ".join(dict.fromkeys(d.verb.value for d in decisions if d.steps))
        started = self.clock()
        pending = set(changes)
        while pending:
            _, pending = self.waiting(pending, PROGRESS_EVERY)
            if pending:
                log.info(
                    "%s in progress: %d of %d done, %.0fs so far",
                    verbs,
                    len(changes - pending),
                    len(changes),
                    self.clock() - started,
                    extra={"fields": {"done": len(changes - pending), "total": len(changes)}},
                )

    def observe(self) -> Observed:
        """Ask AWS about everything the rule looks at; a part that could not be read is None."""
        c = self.config
        # The queries are independent and each costs a CLI start-up, so run them together.
        finds = [(s.name, self.pool.submit(s.find, self.run, c, self._each)) for s in self.sources]
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
            self.pool.submit(
                dynamodb.describe, self.run, c.dynamodb_table_prefix, c.dynamodb_region
            )
            if c.native_mode
            else None
        )
        seen: list[Backup] = []
        unknown = []
        for name, future in finds:
            backups = _result(future, f"{name} query")
            if backups is None:
                unknown.append(name)
            else:
                seen += backups
        current = _result(service, "ECS query")
        found = _result(targets, "Application Auto Scaling query")
        at = self.wall()
        held, stuck = holding(seen, at, c.max_backup_age)
        matching = None if unknown else held
        now = self.clock()
        if matching:
            self.last_backup = now
        return Observed(
            backups=matching,
            service=current,
            targets=found,
            records=self._records(matching, found),
            now=now,
            last_backup=self.last_backup,
            stuck=stuck,
            unknown=tuple(unknown),
            at=at,
        )

    def _each(self, call: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        """A source's one-by-one calls, all at once on the pool (see workers)."""
        futures = [self.pool.submit(call, item) for item in items]
        return [future.result() for future in futures]

    def _records(
        self, backups: Sequence[Backup] | None, targets: Sequence[Target] | None
    ) -> dict[str, Record]:
        """The records the rule needs, from memory or read now (together); failures left out."""
        missing = [a for a in records_needed(backups, targets or ()) if a not in self.records]
        region = self.config.dynamodb_region
        reads = {a: self.pool.submit(dynamodb.read_record, self.run, a, region) for a in missing}
        for arn, future in reads.items():
            record = _result(future, f"reading the record on {arn}")
            if record is not None:
                self.records[arn] = record
        return dict(self.records)


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
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Tick until stopped. Exit status: 0, or 1 when a `--once` tick failed.

    `on_success` runs after each tick that completed (the heartbeat).
    """
    while True:
        started = clock()
        try:
            ok = controller.tick()
        except Interrupted:
            log.info("shutdown requested during a tick; stopped its queries, changed nothing")
            return 0
        except CliNotRunnable:
            raise  # a configuration problem: the caller ends with exit status 2
        except Exception:
            # A bug, not an AWS answer: ending the loop would leave a paused service at 0 for
            # good (a restart meets the same data), so the tick fails and the next one runs.
            log.exception("tick failed: unexpected error (a bug; please report it)")
            ok = False
            if controller.on_crash is not None:
                controller.on_crash()
        # A crashed tick takes this path like any failed one: no heartbeat, so the health
        # check counts it as failed.
        if ok and on_success is not None:
            on_success()
        if stop.is_set():
            log.info("shutdown requested; exiting")
            return 0
        if once:
            return 0 if ok else 1
        took = clock() - started
        if took > interval:
            log.warning(
                "the tick took %.0fs, longer than POLL_INTERVAL (%gs): the next one starts at "
                "once. Give the controller more CPUs or MAX_CONCURRENT_CALLS, or raise "
                "POLL_INTERVAL (docs/performance.md#sizing)",
                took,
                interval,
                extra={"fields": {"tick_s": round(took, 3), "interval_s": interval}},
            )
        # Waiting on the event, not sleeping, is what lets SIGTERM end the wait at once.
        if stop.wait(max(0.0, interval - took)):
            log.info("shutdown requested; exiting")
            return 0
