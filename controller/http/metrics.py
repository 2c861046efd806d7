"""The controller's Prometheus metrics, fed by the loop after each tick and by the CLI runner.

Imported only when HTTP_PORT is set: without it nothing here (nor prometheus_client) loads.
The metrics describe the controller and what it saw; a stuck backup shows here as an age,
not as an unhealthy controller (a restart would not fix it).
"""

from __future__ import annotations

import platform
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from controller import __version__
from controller.act import Status
from controller.aws import Interrupted, JsonDict, Runner
from controller.config import Config
from controller.decide import Observed, Verb
from controller.report import Done, held_paused, holders
from controller.sources.backup import Backup

NAMESPACE = "dynamodb_autoscaler_control"
CONTENT_TYPE = CONTENT_TYPE_LATEST
BREAKER = "circuit-breaker"
# A tick is a few CLI calls of 0.5-1 s each; a slow one is bounded by CALL_TIMEOUT x attempts.
TICK_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

# The *_created series double the output and nothing here needs them (Prometheus itself
# does not use them); process-wide, but this process has no other metrics.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.clock = clock
        # Its own registry: the default one is process-wide, which tests would share.
        self.registry = CollectorRegistry()
        r = self.registry
        self.paused = Gauge(
            f"{NAMESPACE}_paused",
            "1 while the controller holds the autoscaler paused (ECS service at desired 0, every "
            "scalable target of a table suspended, the circuit breaker answering 503)",
            ["autoscaler"],
            registry=r,
        )
        self.backups = Gauge(
            f"{NAMESPACE}_backups",
            "Matching backups active at the last tick that could read them",
            ["kind"],
            registry=r,
        )
        self.oldest_backup_age = Gauge(
            f"{NAMESPACE}_oldest_backup_age_seconds",
            "Age of the oldest matching active backup with a known start time, stuck ones "
            "included (0: none)",
            registry=r,
        )
        self.oldest_backup_age.set_function(self._oldest_age)
        self.held_by = Gauge(
            f"{NAMESPACE}_held_by",
            "1 for each backup that holds a paused thing, with PAUSE_SCOPE=named (a table: "
            "dynamodb:TABLE)",
            ["autoscaler", "backup"],
            registry=r,
        )
        self._count(r)
        self._start_at_zero()
        self._lock = threading.Lock()
        self._oldest: datetime | None = None

    def _count(self, r: CollectorRegistry) -> None:
        self.ticks = Counter(f"{NAMESPACE}_ticks", "Ticks by outcome", ["outcome"], registry=r)
        self.changes = Counter(
            f"{NAMESPACE}_changes",
            "Changes decided, by verb and how carrying them out went",
            ["verb", "outcome"],
            registry=r,
        )
        self.calls = Counter(
            f"{NAMESPACE}_aws_cli_calls",
            "AWS CLI calls by operation and outcome (a call counts once, whatever its retries)",
            ["operation", "outcome"],
            registry=r,
        )
        self.tick_seconds = Histogram(
            f"{NAMESPACE}_tick_duration_seconds",
            "Wall time of a tick: its queries, decision and changes",
            buckets=TICK_BUCKETS,
            registry=r,
        )
        self.last_good = Gauge(
            f"{NAMESPACE}_last_good_tick_timestamp_seconds",
            "Unix time of the last tick that completed (0: none yet)",
            registry=r,
        )
        Info(f"{NAMESPACE}_build", "Version of the controller", registry=r).info(
            {"version": __version__, "python": platform.python_version()}
        )

    def _start_at_zero(self) -> None:
        for outcome in ("ok", "failed"):
            self.ticks.labels(outcome)
        for verb in (Verb.PAUSE, Verb.RESUME, Verb.TIDY):
            for status in (Status.DONE, Status.FAILED):
                self.changes.labels(verb.value, status.name.lower())
        # Known from the start, so that a query shows 0 and not "no data" before the first
        # backup and the first pause: every kind looked for. (A kind not looked for has no
        # series: 0 would claim that none runs.)
        self._kinds = {source.kind for source in self.config.sources}
        for kind in self._kinds:
            self.backups.labels(kind).set(0)
        for autoscaler in self.autoscalers():
            self.paused.labels(autoscaler).set(0)

    def autoscalers(self) -> list[str]:
        """The paused gauge's labels known before the first tick."""
        known = [label for kind in self.config.autoscalers for label in kind.known()]
        return [BREAKER, *known]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def counting(self, run: Runner) -> Runner:
        """`run`, counting each call by operation ("emr list-clusters") and outcome."""

        def counted(args: Sequence[str], *, mutating: bool = False) -> JsonDict:
            operation = " ".join(args[:2])
            outcome = "error"
            try:
                answer = run(args, mutating=mutating)
                outcome = "ok"
                return answer
            except Interrupted:
                outcome = "interrupted"
                raise
            finally:
                self.calls.labels(operation, outcome).inc()

        return counted

    def tick(self, seen: Observed, done: Done, ok: bool, seconds: float, breaker: bool) -> None:
        """Record one tick; `breaker` is True while the circuit breaker answers 503."""
        self.ticks.labels("ok" if ok else "failed").inc()
        self.tick_seconds.observe(seconds)
        if ok:
            self.last_good.set(self.clock())
        for decision, outcome in done:
            if decision.steps:
                self.changes.labels(decision.verb.value, outcome.status.name.lower()).inc()
        # A stuck backup (older than MAX_BACKUP_AGE) no longer holds the pause, but its age is
        # what the age gauge exists to show.
        self._backups(seen.backups, seen.stuck, complete=not seen.unknown)
        for autoscaler, held in held_paused(self.config, seen, done).items():
            self.paused.labels(autoscaler).set(1 if held else 0)
        self.paused.labels(BREAKER).set(1 if breaker else 0)
        self.held_by.clear()
        for autoscaler, backups in holders(self.config, seen).items():
            for backup in backups:
                self.held_by.labels(autoscaler, backup).set(1)

    def crashed(self) -> None:
        """A tick that ended in an unexpected error, before it could report anything else."""
        self.ticks.labels("failed").inc()

    def _backups(
        self, backups: Sequence[Backup], stuck: Sequence[Backup], *, complete: bool
    ) -> None:
        """Show what was seen. With a source unknown (`complete` False) a kind seen is still
        counted exactly, its source was read; a kind not seen may be the unknown source's, so
        it keeps its last value, and so does the oldest age when nothing was seen."""
        counts: dict[str, int] = dict.fromkeys(self._kinds, 0) if complete else {}
        for backup in backups:
            counts[backup.kind] = counts.get(backup.kind, 0) + 1
        self._kinds.update(counts)
        for kind, count in counts.items():
            self.backups.labels(kind).set(count)
        started = [b.started for b in (*backups, *stuck) if b.started is not None]
        if complete or started:
            with self._lock:
                self._oldest = min(started, default=None)

    def _oldest_age(self) -> float:
        with self._lock:
            oldest = self._oldest
        if oldest is None:
            return 0.0
        now = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        return max(0.0, (now - oldest).total_seconds())
