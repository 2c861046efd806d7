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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from controller.act import Actor, Outcome, Status
from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.dynamodb import Record, Target
from controller.autoscalers.ecs import Service
from controller.aws import AwsError, Interrupted, Runner
from controller.config import Config
from controller.decide import Decision, Observed, Policy, decide, recorded_count

log = logging.getLogger(__name__)
# As many changes at once as the loop makes at the least (loop.workers).
RELEASE_THREADS = 3


def plan(
    service: Service | None,
    targets: Sequence[Target] | None,
    records: dict[str, Record],
    policy: Policy,
) -> tuple[list[Decision], list[str]]:
    """What releasing takes (the rule's own resume steps, as if no backup were active), and
    the records that cannot be acted on. Pure: what was read in, decisions and problems out."""
    problems = []
    if service is not None:
        if not service.records:
            service = None  # no record: not paused by the controller, nothing to release
        elif service.desired == 0 and all(
            recorded_count(v, policy.resume_count_max) is None for v in service.records.values()
        ):
            # The loop would fall back to RESUME_COUNT; releasing by hand should not guess.
            problems.append(
                f"the paused-count tag of service {service.name} holds "
                f"{service.paused_tag!r}, not a count up to RESUME_COUNT_MAX="
                f"{policy.resume_count_max}: set its desired count by hand, then "
                f"remove the tags {', '.join(sorted(service.records))}"
            )
            service = None
    if targets is not None:
        # Tables whose record could not be read are left out (their problem is already noted).
        targets = [t for t in targets if t.table_arn in records]
    # Every record counts as settled: releasing is run with the controllers stopped, so no
    # pause of theirs is under way.
    settled = {(arn, key) for arn, record in records.items() for key in record}
    if service is not None:
        settled |= {(service.arn, key) for key in service.records}
    seen = Observed(
        backups=(),
        service=service,
        targets=targets,
        records=records,
        settled=frozenset(settled),
    )
    decisions = []
    # No resume delay: releasing is resuming now.
    now = Policy(policy.resume_count, 0.0, policy.resume_count_max)
    for decision in decide(seen, now).decisions:
        if decision.fault:
            problems.append(decision.reason)
        elif decision.steps:
            decisions.append(decision)
    return decisions, problems


def release(config: Config, run: Runner, stop: threading.Event) -> int:
    """Release everything the records name; 0 when all of it was released (or would be, in a
    dry run), 1 when a record could not be read or acted on (the others are still released)."""
    c = config
    try:
        service, targets, records, problems = _read(c, run)
        policy = Policy(c.resume_count, 0.0, c.resume_count_max)
        decisions, more = plan(service, targets, records, policy)
        problems += more
        # The loop's own way of carrying them out: together, the tables' records in batches.
        with ThreadPoolExecutor(RELEASE_THREADS, thread_name_prefix="release") as pool:
            futures = Actor(c, run, stop).submit(decisions, pool)
            outcomes = [(d, f.result()) for d, f in zip(decisions, futures, strict=True)]
    except Interrupted:
        log.error("release: shutdown requested before it finished; run it again")
        return 1
    for problem in problems:
        log.error("release: cannot release: %s", problem)
    for decision, outcome in outcomes:
        _report(decision, outcome)
    if not decisions and not problems:
        log.info("release: nothing to release, no records of a pause found")
    failed = problems or any(o.status not in (Status.DONE, Status.SKIPPED) for _, o in outcomes)
    return 1 if failed else 0


def _read(
    c: Config, run: Runner
) -> tuple[Service | None, list[Target] | None, dict[str, Record], list[str]]:
    problems = []
    service = None
    if c.ecs_mode:
        try:
            service = ecs.describe(
                run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region
            )
        except AwsError as error:
            problems.append(f"reading the ECS service failed: {error}")
    targets = None
    records: dict[str, Record] = {}
    if c.native_mode:
        try:
            targets = list(dynamodb.describe(run, c.dynamodb_table_prefix, c.dynamodb_region))
        except AwsError as error:
            problems.append(f"reading the scalable targets failed: {error}")
        # Every matching table, not only those with a flag on: a record whose flags someone
        # else turned off is still the controller's to remove.
        tables = {t.table_arn for t in targets or ()}
        if tables:
            try:
                records = dict(dynamodb.read_records(run, c.dynamodb_region, tables))
            except AwsError as error:
                problems.append(f"reading the records on the tables failed: {error}")
    return service, targets, records, problems


def _report(decision: Decision, outcome: Outcome) -> None:
    what = f"{decision.verb.value}: {decision.change}"
    if outcome.status is Status.DONE:
        log.info("release: %s", what)
    elif outcome.status is Status.SKIPPED:
        log.info("release (dry run, not applied): would %s", what)
    else:
        word = "FAILED" if outcome.failed else outcome.status.value
        log.error("release: %s %s: %s", what, word, outcome.detail)
