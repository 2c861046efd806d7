"""Ticks and the sleep between them. Each tick: observe, decide, act, log one line."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import TypeVar

from controller import ecs, emr
from controller.aws import AwsError, Interrupted, Runner
from controller.config import Config
from controller.decide import Verb, decide

log = logging.getLogger(__name__)
T = TypeVar("T")


class Controller:
    def __init__(self, config: Config, run: Runner, pool: Executor) -> None:
        self.config = config
        self.run = run
        self.pool = pool

    def tick(self) -> bool:
        """One pass. True when it completed; False when something stopped it deciding or acting."""
        c = self.config
        # The two queries are independent and each costs a CLI start-up, so run them together.
        clusters = self.pool.submit(emr.list_active, self.run, c.emr_region)
        service = self.pool.submit(
            ecs.describe,
            self.run,
            c.autoscaler_cluster,
            c.autoscaler_service,
            c.autoscaler_region,
        )
        backups = _result(clusters, "EMR query")
        current = _result(service, "ECS query")
        matching = None if backups is None else emr.matching(backups, c.emr_prefix)
        shown_backups = (
            "unknown" if matching is None else ", ".join(map(str, matching)) or "none active"
        )
        target = f"{c.autoscaler_cluster}/{c.autoscaler_service}"
        if current is None:
            log.info(
                "backups: %s | service %s: unknown | action: no change",
                shown_backups,
                target,
            )
            return False

        action = decide(matching, current)
        summary = f"backups: {shown_backups} | service {target}: {current}"
        if action.fault:
            log.error("%s | action: no change (%s)", summary, action.reason)
            return False
        if action.verb is Verb.HOLD or action.desired_count is None:
            log.info("%s | action: no change (%s)", summary, action.reason)
            return True
        change = f"{action.verb.value}: desired {current.desired} -> {action.desired_count}"
        if c.dry_run:
            log.info(
                "%s | action: %s (%s; dry run, not applied)",
                summary,
                change,
                action.reason,
            )
            return True
        try:
            ecs.set_desired_count(
                self.run,
                c.autoscaler_cluster,
                c.autoscaler_service,
                c.autoscaler_region,
                action.desired_count,
            )
        except AwsError as error:
            log.error("%s | action: %s FAILED: %s", summary, change, error)
            return False
        log.info("%s | action: %s (%s)", summary, change, action.reason)
        return True


def _result(future: Future[T], what: str) -> T | None:
    """The query's answer, or None after logging why it failed (shutdown propagates)."""
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
        if once:
            return 0 if ok else 1
        # Waiting on the event, not sleeping, is what lets SIGTERM end the wait at once.
        if stop.wait(max(0.0, interval - (time.monotonic() - started))):
            log.info("shutdown requested; exiting")
            return 0
