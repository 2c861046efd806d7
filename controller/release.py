"""`--release`: the way out. Undo every pause the controller's records describe, at once.

For uninstalling, rolling back to the original tool, or an emergency ("the backup is over but
the controller cannot see that"). It never asks EMR: it resumes even while a backup is active.
It acts only on what the records name (the paused-count tag on the service, the suspended-flag
tags on the tables), with the same steps the loop uses to resume, so a service a person scaled
to 0 without a record, or a flag someone else turned on, is left alone. Run twice, the second
run finds no records and changes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from controller.act import Actor, Outcome, Status
from controller.autoscalers.autoscaler import Autoscaler
from controller.aws import AwsError, Interrupted, Runner
from controller.config import Config
from controller.decide import Context, Decision, Verdict
from controller.runtime import logs

log = logging.getLogger(__name__)
# As many changes at once as the loop makes at the least (loop.workers).
RELEASE_THREADS = 3


def plan(
    kinds: Sequence[Autoscaler[Any]], views: Mapping[str, object]
) -> tuple[list[Decision], list[str]]:
    """What releasing takes (the kinds' own resume steps, as if no backup were active), and
    the records that cannot be acted on. Pure: what was read in, decisions and problems out."""
    problems = []
    decisions = []
    for kind in kinds:
        view = views.get(kind.name)
        if view is None:
            continue
        # Every record counts as settled: releasing is run with the controllers stopped, so
        # no pause of theirs is under way.
        settled = frozenset((arn, key) for arn, keys in kind.records(view).items() for key in keys)
        context = Context(settled=settled, releasing=True)
        for decision in kind.plan(view, Verdict(), context):
            if decision.fault:
                problems.append(decision.reason)
            elif decision.steps:
                decisions.append(decision)
    return decisions, problems


def release(config: Config, run: Runner, stop: threading.Event) -> int:
    """Release everything the records name; 0 when all of it was released (or would be, in a
    dry run), 1 when a record could not be read or acted on (the others are still released)."""
    try:
        views: dict[str, object] = {}
        problems = []
        for kind in config.autoscalers:
            try:
                views[kind.name] = kind.read(run)
            except AwsError as error:
                problems.append(f"{kind.query} failed: {error}")
        decisions, more = plan(config.autoscalers, views)
        problems += more
        # The loop's own way of carrying them out: together, the tables' records in batches.
        with ThreadPoolExecutor(RELEASE_THREADS, thread_name_prefix="release") as pool:
            futures = Actor(config, run, stop).submit(decisions, pool)
            outcomes = [(d, f.result()) for d, f in zip(decisions, futures, strict=True)]
    except Interrupted:
        log.error("release: shutdown requested before it finished; run it again")
        return 1
    for problem in problems:
        log.error("release: cannot release: %s", problem)
    for decision, outcome in outcomes:
        _report(decision, outcome)
    if not decisions and not problems:
        log.log(logs.NOTICE, "release: nothing to release, no records of a pause found")
    failed = problems or any(o.status not in (Status.DONE, Status.SKIPPED) for _, o in outcomes)
    return 1 if failed else 0


def _report(decision: Decision, outcome: Outcome) -> None:
    what = f"{decision.verb.value}: {decision.change}"
    # At the pause's own level: what it undid is as loud as what it undoes.
    if outcome.status is Status.DONE:
        log.log(logs.NOTICE, "release: %s", what)
    elif outcome.status is Status.SKIPPED:
        log.log(logs.NOTICE, "release (dry run, not applied): would %s", what)
    else:
        word = "FAILED" if outcome.failed else outcome.status.value
        log.error("release: %s %s: %s", what, word, outcome.detail)
