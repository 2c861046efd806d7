"""The rule, as a pure function: what we observed in, a plan of steps out. No I/O here.

Every step is one CLI call, and the steps of a change are ordered so that the world is in a
state the rule can finish from if the controller dies between any two of them: a record is
written before the thing it records is changed, and removed only after it was undone.

Any number of controllers may run side by side (a rolling deploy, two replicas), and tags are
last-writer-wins with no compare-and-swap. So each pause writes records under keys of its own
(the tick's pause id), a resume removes only records it has read, and only records that have
been seen for longer than a pause can take (`settled`): a record younger than that may belong
to a pause whose change has not landed yet. tests/test_records_model.py enumerates the
interleavings of two and three controllers against these steps (docs/reliability.md).
"""

from __future__ import annotations

import enum
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.dynamodb import (
    ALL,
    ForgetSuspended,
    Record,
    RecordSuspended,
    SetSuspended,
    Target,
)
from controller.autoscalers.ecs import (
    ForgetPausedCount,
    RecordPausedCount,
    Service,
    SetDesiredCount,
    record_key,
)
from controller.sources.backup import Backup


class Verb(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    # Remove a record that no longer describes anything; no scaling changes.
    TIDY = "tidy"
    HOLD = "no change"


# Each kind's steps are its module's (controller/autoscalers/); the rule plans them all.
Step = ecs.Step | dynamodb.Step


@dataclass(frozen=True)
class Decision:
    """What to do about one thing (the service, one table), with the steps that do it.

    The steps of one decision run in order and stop at the first failure; decisions are
    independent of each other.
    """

    verb: Verb
    reason: str
    change: str = ""  # "desired 2 -> 0", "table orders, 4 of 4 scalable targets"
    steps: tuple[Step, ...] = ()
    # True when the controller could not see enough to decide: it changes nothing, and the
    # tick counts as failed so that `--once` exits non-zero and a person looks.
    fault: bool = False
    # Something a person must look at although the decision goes ahead (a record that is not
    # trusted): logged at ERROR on its own line.
    alarm: str = ""

    def describe(self, note: str = "") -> str:
        why = f"{self.reason}; {note}" if note else self.reason
        if self.verb is Verb.HOLD:
            return f"no change ({why})"
        return f"{self.verb.value}: {self.change} ({why})"


@dataclass(frozen=True)
class Plan:
    decisions: tuple[Decision, ...]

    @property
    def fault(self) -> bool:
        return any(d.fault for d in self.decisions)

    @property
    def changes(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.steps)

    def describe(self, note: str = "") -> str:
        return "; ".join(d.describe(note if d.steps else "") for d in self.decisions)


@dataclass(frozen=True)
class Observed:
    """One tick's view of the world. A part that is None was not asked about (its mode is
    off) or could not be read: the rule then leaves it alone."""

    # The matching active backups seen by the sources that were read, and that hold the pause
    # (see holding). One is enough to pause, whatever the sources in `unknown` would say.
    backups: Sequence[Backup]
    service: Service | None = None
    targets: Sequence[Target] | None = None
    # The controller's records, by table ARN, for the tables whose records were read.
    records: Mapping[str, Record] = field(default_factory=dict)
    # The records (resource ARN, tag key) seen for longer than a pause can take: only these
    # may be removed (see the module's docstring).
    settled: frozenset[tuple[str, str]] = frozenset()
    # The id of any pause this tick makes: its records' keys carry it.
    pause_id: str = "000000000000"
    # Seconds on a monotonic clock: now, and when a matching cluster was last seen active.
    now: float = 0.0
    last_backup: float = 0.0
    # Matching backups active for longer than MAX_BACKUP_AGE: they no longer hold the pause.
    stuck: Sequence[Backup] = ()
    # The sources whose query failed ("EMR", "Glue", ...): a backup may be running there
    # unseen, so nothing may resume while one is listed.
    unknown: Sequence[str] = ()
    # The wall-clock time of the observation, which the backups' ages are counted to.
    at: datetime | None = None

    @property
    def clear(self) -> bool:
        """Every source was read and none holds the pause: the only view a resume follows."""
        return not self.backups and not self.unknown


@dataclass(frozen=True)
class Policy:
    resume_count: int = 1  # when the service has no record of its count
    resume_delay: float = 0.0
    # The highest recorded count trusted: anyone with ecs:TagResource can write the record.
    resume_count_max: int = 10


def age(backup: Backup, at: datetime | None) -> float | None:
    """Seconds the backup has been active at `at`, by the start time AWS reports; None when
    that time is unknown."""
    if backup.started is None or at is None:
        return None
    return (at - backup.started).total_seconds()


def holding(
    backups: Sequence[Backup], at: datetime | None, max_age: float
) -> tuple[tuple[Backup, ...], tuple[Backup, ...]]:
    """Split matching active backups into those that hold the pause and those active for
    longer than `max_age` seconds (0: no bound), which no longer do. A backup whose age is
    unknown holds it: the bound cannot apply to what cannot be measured."""
    held: list[Backup] = []
    stuck: list[Backup] = []
    for backup in backups:
        seconds = age(backup, at)
        too_old = max_age > 0 and seconds is not None and seconds > max_age
        (stuck if too_old else held).append(backup)
    return tuple(held), tuple(stuck)


def oldest_age(seen: Observed) -> float | None:
    """Seconds the oldest matching active backup has been active, whether it holds the pause
    or is stuck; None when there is none with a known age (for metrics)."""
    ages = [age(b, seen.at) for b in (*seen.backups, *seen.stuck)]
    known = [a for a in ages if a is not None]
    return max(known) if known else None


def decide(seen: Observed, policy: Policy = Policy()) -> Plan:
    decisions: list[Decision] = []
    if seen.service is not None and seen.service.status != "ACTIVE":
        reason = f"service is {seen.service.status}, not ACTIVE"
        decisions.append(Decision(Verb.HOLD, reason, fault=True))
    # Three ways, for the service and each table alike. A backup seen by any source pauses,
    # whatever the sources that could not be read would say: all they could add is more
    # backups. A resume needs every source read and none holding the pause.
    active = bool(seen.backups)
    if not active and seen.unknown:
        # Never resume blind: if a backup is running where we cannot see, resuming would let
        # the autoscaler fight it for capacity. Nothing seen, so nothing to pause either.
        which = " and ".join(seen.unknown)
        unknown = Decision(Verb.HOLD, f"{which} state unknown, changing nothing", fault=True)
        return Plan((*decisions, unknown))
    if seen.service is not None and not decisions:
        decisions.append(_service(seen, seen.service, active, policy))
    if seen.targets is not None:
        decisions += _tables(seen, seen.targets, active)
    quiet = seen.now - seen.last_backup
    if not active and quiet < policy.resume_delay:
        # Pause is never delayed, and tidying changes no scaling; only resuming waits.
        waiting = [d for d in decisions if d.verb is Verb.RESUME]
        if waiting:
            decisions = [d for d in decisions if d.verb is not Verb.RESUME]
            reason = f"resume pending: no backup for {quiet:.0f}s of "
            decisions.append(Decision(Verb.HOLD, f"{reason}{policy.resume_delay:g}s"))
    return Plan(tuple(decisions))


# ASCII digits only: str.isdigit() also takes other scripts' digits (and characters int()
# refuses), and a record is data anyone with ecs:TagResource may have written.
_COUNT = re.compile(r"[0-9]{1,9}")


def recorded_count(tag: str | None, maximum: int = Policy.resume_count_max) -> int | None:
    """The count a paused-count tag holds, or None when it holds nothing usable: not plain
    ASCII digits, 0, or more than `maximum`."""
    if tag is None or not _COUNT.fullmatch(tag):
        return None
    count = int(tag)
    return count if 0 < count <= maximum else None


def _service(seen: Observed, service: Service, active: bool, policy: Policy) -> Decision:
    resume_count = policy.resume_count
    arn = service.arn
    records = service.records
    settled = tuple(sorted(k for k in records if (arn, k) in seen.settled))
    if active:
        if service.desired == 0:
            return Decision(Verb.HOLD, "backup active, already paused")
        # Always a record of its own, even with one there: that one may be a record a
        # resume is about to remove, having read it (two controllers, docs/reliability.md).
        record = RecordPausedCount(arn, record_key(seen.pause_id), service.desired)
        change = f"desired {service.desired} -> 0"
        alarm = ""
        if service.desired > policy.resume_count_max:
            # Said now, not only at the resume, so that the setting is fixed during the backup.
            alarm = (
                f"desired count {service.desired} is above RESUME_COUNT_MAX="
                f"{policy.resume_count_max}: its record will not be trusted and the resume "
                f"will go to RESUME_COUNT={resume_count}; raise RESUME_COUNT_MAX to keep it"
            )
        steps = (record, SetDesiredCount(0))
        return Decision(Verb.PAUSE, "backup active", change, steps, alarm=alarm)
    if service.desired == 0:
        counts = {recorded_count(v, policy.resume_count_max) for v in records.values()}
        # Every record of one service holds the count it had before the pauses; should they
        # differ (a person edited one), the highest errs on the side of capacity.
        recorded = max((c for c in counts if c is not None), default=None)
        count = recorded or resume_count
        forget = (ForgetPausedCount(arn, settled),) if settled else ()
        reason = "no backup active"
        alarm = ""
        if recorded:
            reason += ", restoring the count recorded at pause"
        elif records:
            shown = _quoted(service.paused_tag or "")
            reason += f", recorded count unusable ({shown})"
            alarm = (
                f"the paused-count record on {arn} holds {shown}, not a count from 1 to "
                f"RESUME_COUNT_MAX={policy.resume_count_max} in ASCII digits: not trusted, "
                f"resuming to RESUME_COUNT={resume_count}"
            )
        return Decision(
            Verb.RESUME,
            reason,
            f"desired 0 -> {count}",
            (SetDesiredCount(count), *forget),
            alarm=alarm,
        )
    if settled:
        # Running and a record seen long enough: the controller stopped between scaling up
        # and untagging, a resume left it to settle, or a person scaled the service up by hand.
        change = f"remove the stale paused-count record ({service.paused_tag})"
        reason = "no backup active, already running"
        return Decision(Verb.TIDY, reason, change, (ForgetPausedCount(arn, settled),))
    if records:
        reason = "no backup active, already running; a recent record waits to settle"
        return Decision(Verb.HOLD, reason)
    return Decision(Verb.HOLD, "no backup active, already running")


def _quoted(value: str, limit: int = 40) -> str:
    """A tag value as a log line shows it: escaped, and short even when it is not."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} chars)"


def _tables(seen: Observed, targets: Sequence[Target], active: bool) -> list[Decision]:
    by_table: dict[str, list[Target]] = defaultdict(list)
    for target in targets:
        by_table[target.table].append(target)
    decisions = []
    for table, own in sorted(by_table.items()):
        decision = (
            _pause_table(table, own, seen.pause_id)
            if active
            else _resume_table(table, own, seen.records, seen.settled)
        )
        if decision:
            decisions.append(decision)
    if decisions:
        return decisions
    suspended = sum(1 for t in targets if t.suspended)
    state = f"{len(targets)} scalable targets, {suspended} suspended"
    when = "backup active" if active else "no backup active"
    return [Decision(Verb.HOLD, f"{when}, {state}")]


def _pause_table(table: str, targets: Sequence[Target], pause_id: str) -> Decision | None:
    # A target someone else fully suspended needs nothing and gets no record, so that
    # resuming leaves it suspended; for a partly suspended one only the missing flags count.
    todo = [t for t in targets if t.suspended != ALL]
    if not todo:
        return None
    record = {t.record_key(pause_id): ALL - t.suspended for t in todo}
    steps: tuple[Step, ...] = (
        RecordSuspended(todo[0].table_arn, record),
        *(SetSuspended(t, ALL) for t in todo),
    )
    change = f"table {table}, {len(todo)} of {len(targets)} scalable targets"
    return Decision(Verb.PAUSE, "backup active", change, steps)


def _resume_table(
    table: str,
    targets: Sequence[Target],
    records: Mapping[str, Record],
    settled: frozenset[tuple[str, str]],
) -> Decision | None:
    arn = targets[0].table_arn
    record = records.get(arn)
    if record is None:
        if any(t.suspended for t in targets):
            reason = f"the record of table {table} could not be read, changing nothing there"
            return Decision(Verb.HOLD, reason, fault=True)
        return None
    # Turn off only what the controller turned on (by any of its records, young or settled)
    # and is still on; the rest stays as it is.
    todo = []
    for target in targets:
        recorded = frozenset().union(*(f for k, f in record.items() if target.named_by(k)))
        if target.suspended & recorded:
            todo.append((target, target.suspended - recorded))
    old = tuple(sorted(k for k in record if (arn, k) in settled))
    forget: tuple[Step, ...] = (ForgetSuspended(arn, old),) if old else ()
    if todo:
        steps: tuple[Step, ...] = (*(SetSuspended(t, state) for t, state in todo), *forget)
        change = f"table {table}, {len(todo)} of {len(targets)} scalable targets"
        return Decision(Verb.RESUME, "no backup active", change, steps)
    if forget:
        change = f"remove the stale record of table {table}"
        return Decision(Verb.TIDY, "nothing it names is suspended", change, forget)
    return None
