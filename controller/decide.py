"""The rule, as a pure function: what we observed in, a plan of steps out. No I/O here.

What every kind shares lives here: a backup seen pauses; every source read and none seen
resumes; anything unknown holds what is paused. Each kind of autoscaler turns that verdict
into its own steps (its `plan`), which this module never looks inside.

Every step is one CLI call, and the steps of a change are ordered so that the world is in a
state the rule can finish from if the controller dies between any two of them: a record is
written before the thing it records is changed, and removed only after it was undone. The
order is the steps' phases (record, scale, forget), which controller/act.py carries out.

Any number of controllers may run side by side (a rolling deploy, two replicas), and tags are
last-writer-wins with no compare-and-swap. So each pause writes records under keys of its own
(the tick's pause id), a resume removes only records it has read, and only records that have
been seen for longer than a pause can take (`Context.settled`): a record younger than that may
belong to a pause whose change has not landed yet. tests/test_records_model.py enumerates the
interleavings of two and three controllers against these steps (docs/reliability.md).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from controller.sources.backup import Backup


class Verb(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    # Remove a record that no longer describes anything; no scaling changes.
    TIDY = "tidy"
    HOLD = "no change"


class Phase(enum.IntEnum):
    """When a step runs in a change: every record first, then the scaling, then the records
    to forget. The order a crash must find them in is this order."""

    RECORD = 1
    SCALE = 2
    FORGET = 3


class Step:
    """One mutating call a kind of autoscaler makes; each kind defines its own."""

    phase: ClassVar[Phase] = Phase.SCALE


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
    # The kind of autoscaler whose steps these are (its name): the one that carries them out.
    kind: str = ""

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
class Verdict:
    """What the backups say, for every kind alike."""

    # The backups that hold the pause: one is enough, whatever an unknown source would say.
    backups: tuple[Backup, ...] = ()
    # The sources whose query failed: a backup may be running there unseen.
    unknown: tuple[str, ...] = ()

    @property
    def pause(self) -> bool:
        return bool(self.backups)

    @property
    def resume(self) -> bool:
        """Every source was read and none holds the pause: the only view a resume follows."""
        return not self.backups and not self.unknown


@dataclass(frozen=True)
class Context:
    """What a kind's plan needs besides its view and the verdict."""

    # The id of any pause this tick makes: its records' keys carry it.
    pause_id: str = "000000000000"
    # The records (resource ARN, tag key) seen for longer than a pause can take: only these
    # may be removed (see the module's docstring).
    settled: frozenset[tuple[str, str]] = frozenset()
    # --release: resume only what a record names, and say what cannot be released.
    releasing: bool = False


class Planner(Protocol):
    """What the rule asks of a kind of autoscaler (controller/autoscalers/autoscaler.py)."""

    @property
    def name(self) -> str: ...

    def plan(self, view: Any, verdict: Verdict, context: Context) -> list[Decision]: ...


@dataclass(frozen=True)
class Observed:
    """One tick's view of the world."""

    # The matching active backups seen by the sources that were read, and that hold the pause
    # (see holding). One is enough to pause, whatever the sources in `unknown` would say.
    backups: Sequence[Backup]
    # What each kind of autoscaler read, by its name; None when it could not be read (the
    # rule then leaves it alone, and the tick fails).
    views: Mapping[str, object] = field(default_factory=dict)
    settled: frozenset[tuple[str, str]] = frozenset()
    pause_id: str = "000000000000"
    # Seconds on a monotonic clock: now, and when a matching backup was last seen active.
    now: float = 0.0
    last_backup: float = 0.0
    # Matching backups active for longer than MAX_BACKUP_AGE: they no longer hold the pause.
    stuck: Sequence[Backup] = ()
    # The sources whose query failed ("EMR", "Glue", ...): nothing may resume while one is.
    unknown: Sequence[str] = ()
    # The wall-clock time of the observation, which the backups' ages are counted to.
    at: datetime | None = None

    @property
    def verdict(self) -> Verdict:
        return Verdict(tuple(self.backups), tuple(self.unknown))

    @property
    def context(self) -> Context:
        return Context(self.pause_id, self.settled)


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


def decide(seen: Observed, kinds: Sequence[Planner], resume_delay: float = 0.0) -> Plan:
    verdict, context = seen.verdict, seen.context
    # Each kind that could be read plans for itself, in the order of the list of kinds. Under
    # an unknown verdict a kind plans only what it could not look at (a fault of its own).
    decisions = [
        decision
        for kind in kinds
        if seen.views.get(kind.name) is not None
        for decision in kind.plan(seen.views[kind.name], verdict, context)
    ]
    if not verdict.pause and not verdict.resume:
        # Never resume blind: if a backup is running where we cannot see, resuming would let
        # the autoscaler fight it for capacity. Nothing seen, so nothing to pause either.
        which = " and ".join(seen.unknown)
        unknown = Decision(Verb.HOLD, f"{which} state unknown, changing nothing", fault=True)
        return Plan((*decisions, unknown))
    quiet = seen.now - seen.last_backup
    if verdict.resume and quiet < resume_delay:
        # Pause is never delayed, and tidying changes no scaling; only resuming waits.
        waiting = [d for d in decisions if d.verb is Verb.RESUME]
        if waiting:
            decisions = [d for d in decisions if d.verb is not Verb.RESUME]
            reason = f"resume pending: no backup for {quiet:.0f}s of "
            decisions.append(Decision(Verb.HOLD, f"{reason}{resume_delay:g}s"))
    return Plan(tuple(decisions))
