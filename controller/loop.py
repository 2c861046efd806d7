"""Ticks and the sleep between them. Each tick: observe, decide, act, report one line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, wait
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from controller import report
from controller.act import Actor
from controller.aws import AwsError, CliNotRunnable, Interrupted, Runner, concurrently
from controller.config import Config
from controller.decide import Decision, Observed, decide, holding
from controller.records import CLOCKS_AGREE_WITHIN, new_pause_id, written_at
from controller.runtime import emf, logs
from controller.sources.backup import Backup

log = logging.getLogger(__name__)
T = TypeVar("T")
# Told about each tick that got to a decision: what it saw, did, whether it completed, and
# how many seconds it took (the HTTP server's metrics and circuit breaker).
OnTick = Callable[[Observed, report.Done, bool, float], None]
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
    queries = len(config.sources) + len(config.autoscalers)
    return queries + (max(2, calls) if config.fans_out else 2)


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
        # Each controller keeps its own memory of the kinds (a kind may remember what it read).
        self.kinds = [kind.fresh() for kind in config.autoscalers]
        config = replace(config, autoscalers=tuple(self.kinds))
        self.config = config
        # RESUME_DELAY counts from the start until a backup is seen: a restart during the
        # delay waits a whole delay again, which errs on the side of staying paused.
        self.last_backup = clock()
        # When each record (resource ARN, tag key) was first seen, on the monotonic clock:
        # a record may be removed only once it is settled (Config.record_settle).
        self.first_seen: dict[tuple[str, str], float] = {}
        self.actor = Actor(config, run, self.stop, clock)
        self.on_tick: OnTick | None = None
        # Told about a tick that crashed before it got to a decision (a bug): the metrics
        # count it as failed, as the missing heartbeat does for the health check.
        self.on_crash: Callable[[], None] | None = None

    def tick(self) -> bool:
        """One pass. True when it completed; False when something stopped it deciding or acting."""
        started = time.monotonic()
        seen = self.observe()
        plan = decide(seen, self.kinds, self.config.resume_delay)
        # Decisions are independent (one service, one table each): carry them out together,
        # the tables' records in batches (Actor.submit).
        outcomes = self.actor.submit(plan.decisions, self.pool, seen.now)
        self._progress(plan.decisions, outcomes)
        done = [(d, outcome.result()) for d, outcome in zip(plan.decisions, outcomes, strict=True)]
        c = self.config
        # A source not read fails the tick even when a backup seen elsewhere paused: a blind
        # source must reach the health check and the alarms, not hide behind a good pause.
        blind = any(seen.views.get(k.name) is None for k in self.kinds) or bool(seen.unknown)
        failed = any(outcome.failed for _, outcome in done)
        ok = not (plan.fault or failed or blind)
        for decision in plan.decisions:
            if decision.alarm:
                log.error("%s", decision.alarm)
        for message, about in report.stuck(c, seen):
            # A stuck backup is an ERROR, not a failed tick: a restart would not fix it.
            log.error(message, extra={"fields": about})
        # A steady tick is INFO, which LOG_LEVEL=NOTICE leaves out; a change never is.
        level = logging.ERROR if not ok else logs.NOTICE if plan.changes else logging.INFO
        seconds = time.monotonic() - started
        fields = report.fields(c, seen, done, ok)
        if c.cloudwatch_namespace:
            fields.update(emf.block(c, seen, done, ok, seconds=seconds, at=seen.at or self.wall()))
        log.log(level, report.line(c, seen, done, ok), extra={"fields": fields})
        if self.on_tick is not None:
            self.on_tick(seen, done, ok, seconds)
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
                # NOTICE, as the change itself: LOG_LEVEL=NOTICE still shows a long one moving.
                log.log(
                    logs.NOTICE,
                    "%s in progress: %d of %d done, %.0fs so far",
                    verbs,
                    len(changes - pending),
                    len(changes),
                    self.clock() - started,
                    extra={"fields": {"done": len(changes - pending), "total": len(changes)}},
                )

    def observe(self) -> Observed:
        """Ask AWS about everything the rule looks at. A part that could not be read is None;
        a source that could not be read is named in `unknown`, and what the others saw stands."""
        c = self.config
        # Records count as settled by this moment, not by when they were read: the tables'
        # records are read after their targets, and a pause that landed in between must not
        # make a record removable whose change the targets read did not show.
        started, started_at = self.clock(), self.wall().timestamp()
        # The queries are independent and each costs a CLI start-up, so run them together.
        each = concurrently(self.pool)
        finds = [(s.name, self.pool.submit(s.find, self.run, each)) for s in c.sources]
        reads = [(k, self.pool.submit(k.read, self.run)) for k in self.kinds]
        seen: list[Backup] = []
        unknown: list[str] = []
        for name, future in finds:
            backups = _result(future, f"{name} query")
            if backups is None:
                unknown.append(name)
            else:
                seen += backups
        views = {kind.name: _result(future, f"{kind.query}") for kind, future in reads}
        at = self.wall()
        held, stuck = holding(seen, at, c.max_backup_age)
        now = self.clock()
        if held:
            self.last_backup = now
        return Observed(
            backups=held,
            views=views,
            now=now,
            last_backup=self.last_backup,
            stuck=stuck,
            unknown=tuple(unknown),
            at=at,
            settled=self._settled(views, started, started_at),
            # Made now, after the queries, and the actor counts a pause's window from `now`:
            # the id's time is never later than the record it names.
            pause_id=new_pause_id(self.wall().timestamp()),
        )

    def _settled(
        self, views: Mapping[str, object], started: float, started_at: float
    ) -> frozenset[tuple[str, str]]:
        """The records that may be removed: seen by this controller Config.record_settle
        before this tick started, or made by a pause whose id says it was that long ago (with
        room for the clocks of two controllers to disagree). A version 1.0 record has no time
        in its key: seen for the first time (a restart, a `--once` run), it starts its wait
        now, which errs on the safe side."""
        ids: dict[tuple[str, str], str | None] = {}
        for kind in self.kinds:
            view = views.get(kind.name)
            if view is not None:
                for arn, keys in kind.records(view).items():
                    ids[(arn, "")] = None  # read: what is not there now was removed
                    ids.update({(arn, key): pause_id for key, pause_id in keys.items()})
        read = {arn for arn, key in ids if not key}
        current = {seen for seen in ids if seen[1]}
        for seen in list(self.first_seen):
            if seen[0] in read and seen not in current:
                del self.first_seen[seen]  # removed: forget it
        for seen in current:
            self.first_seen.setdefault(seen, started)
        settle = self.config.record_settle
        old_ids = started_at - settle - CLOCKS_AGREE_WITHIN

        def settled(seen: tuple[str, str]) -> bool:
            pause_id = ids[seen]
            if pause_id is not None and written_at(pause_id) <= old_ids:
                return True
            # One seen for the first time this tick was first seen when it started: not settled.
            return started - self.first_seen[seen] >= settle

        return frozenset(filter(settled, current))


def _result(future: Future[T] | None, what: str) -> T | None:
    """The query's answer, or None after logging why it failed (shutdown propagates)."""
    if future is None:
        return None
    try:
        return future.result()
    except AwsError as error:
        log.error("%s failed: %s", what, error)
        return None


def _warn_slow(took: float, interval: float) -> None:
    log.warning(
        "the tick took %.0fs, longer than POLL_INTERVAL (%gs): the next one starts at "
        "once. Give the controller more CPUs or MAX_CONCURRENT_CALLS, or raise "
        "POLL_INTERVAL (docs/performance.md#sizing)",
        took,
        interval,
        extra={"fields": {"tick_s": round(took, 3), "interval_s": interval}},
    )


def until_stopped(
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
            log.log(
                logs.NOTICE,
                "shutdown requested during a tick; stopped its queries, changed nothing",
            )
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
            log.log(logs.NOTICE, "shutdown requested; exiting")
            return 0
        if once:
            return 0 if ok else 1
        took = clock() - started
        if took > interval:
            _warn_slow(took, interval)
        # Waiting on the event, not sleeping, is what lets SIGTERM end the wait at once.
        if stop.wait(max(0.0, interval - took)):
            log.log(logs.NOTICE, "shutdown requested; exiting")
            return 0
