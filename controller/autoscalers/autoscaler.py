"""What a kind of autoscaler is: one module with one class of this shape, listed once in
controller/autoscalers/__init__.py. Nothing outside its module names a kind.

A kind reads what it controls (`read`), turns the rule's verdict into its own steps (`plan`),
carries out its steps (`apply`) and describes itself: its settings (`configure`, `settings`),
its IAM policy, its words in the start-up line, the tick's log line and JSON, its metrics.
The loop, the act, --release, the report, the HTTP server and the records' model check drive
every kind through this and nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar, cast

from controller.aws import AwsError, Each, Runner, UnexpectedOutput
from controller.decide import Context, Decision, Step, Verdict
from controller.settings import Reader, Row, Shared

log = logging.getLogger(__name__)
T = TypeVar("T")
V = TypeVar("V")


class Retry(Protocol):
    """Call `call` with the runner's attempts and waits until it succeeds or fails for good;
    raises Interrupted when a shutdown comes during a wait."""

    def __call__(self, call: Callable[[], T], what: str, /) -> T: ...


@dataclass(frozen=True)
class Calls:
    """What carrying out steps may use: the CLI, the pool, and retries for what the runner's
    own retries cannot see (one table refused within a batch call)."""

    run: Runner
    each: Each
    retry: Retry


@dataclass(frozen=True)
class Facts:
    """How a kind looks after a tick, for every place that shows it."""

    text: str  # its part of the tick's log line
    field: tuple[str, dict[str, Any]]  # its JSON field: name, value
    # Whether each thing it controls is held paused, by the paused gauge's label; what could
    # not be read is left out.
    held: dict[str, bool] = dataclasses.field(default_factory=dict)
    # Its own CloudWatch metrics, by name (their units are the kind's `units`).
    measured: dict[str, float] = dataclasses.field(default_factory=dict)
    # The backups that hold each thing it controls, by the same label, when it pauses per
    # thing (PAUSE_SCOPE=named); empty when every backup holds everything.
    holders: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)


class Autoscaler(ABC, Generic[V]):
    """One kind of autoscaler the controller pauses. `V` is what it reads each tick."""

    # Its short name: its JSON and metric words start with it (`ecs:CLUSTER/SERVICE`), and
    # the CloudFormation template names its policy after it.
    name: ClassVar[str]
    # Its group of settings in --help, and the settings.
    mode: ClassVar[str]
    settings: ClassVar[tuple[Row, ...]]
    # The setting that turns it on, as other kinds' messages name it.
    switch: ClassVar[str]
    # Its IAM policy file in deploy/, attached when the template's `condition` holds.
    policy: ClassVar[str]
    condition: ClassVar[str]
    # What its read is called when it fails ("ECS query failed: ...").
    query: ClassVar[str]
    # True when a change makes one call per item (one per table): the tick keeps
    # MAX_CONCURRENT_CALLS threads for them.
    fans_out: ClassVar[bool] = False
    # Its own CloudWatch metrics and their units (Facts.measured).
    units: ClassVar[tuple[tuple[str, str], ...]] = ()

    @property
    def names_tables(self) -> bool:
        """Whether it pauses only the tables each backup names (the sources then read them)."""
        return False

    @classmethod
    @abstractmethod
    def configure(cls, read: Reader, shared: Shared) -> Autoscaler[Any] | None:
        """Its settings, read with `read` (problems noted there); None when it is off."""

    # --- what it says before the first tick -------------------------------------------------

    @abstractmethod
    def pausing(self) -> str:
        """What it pauses, for the start-up line: "autoscaling/svc (us-east-1)"."""

    @abstractmethod
    def dimensions(self) -> dict[str, str]:
        """The metric dimensions that name what it controls (CloudWatch; the alarms)."""

    def fresh(self) -> Autoscaler[V]:
        """The same settings with no memory of past ticks, for one controller of its own."""
        fresh: Autoscaler[V] = dataclasses.replace(cast(Any, self))
        return fresh

    def known(self) -> list[str]:
        """The paused gauge's labels known before the first tick."""
        return []

    # --- a tick --------------------------------------------------------------------------

    @abstractmethod
    def read(self, run: Runner) -> V:
        """What it controls, now; AwsError when that cannot be read."""

    @abstractmethod
    def records(self, view: V) -> Mapping[str, Mapping[str, str | None]]:
        """Its records in the view, by resource ARN (each resource whose records were read):
        tag key -> the pause id in the key (None for a key without one)."""

    @abstractmethod
    def plan(self, view: V, verdict: Verdict, context: Context) -> list[Decision]:
        """Its decisions for the verdict: steps in phase order (record, scale, forget)."""

    @abstractmethod
    def apply(self, calls: Calls, steps: Sequence[Step]) -> list[AwsError | None]:
        """Carry out steps of one phase, from any of its decisions: each step's error, or
        None. An AwsError raised is every step's."""

    @abstractmethod
    def unrecorded(self, decision: Decision, step: Step, error: AwsError) -> str:
        """The ERROR for a record that could not be written: the cause, what the resume will
        do without it, and the fix."""

    @abstractmethod
    def describe(self, view: V | None, steps: Sequence[Step] = ()) -> Facts:
        """How it looks once `steps` (of its own, carried out) are done; None: not read."""


def unrecorded(
    decision: Decision, error: AwsError, *, needs: str, consequence: str, fix: str = ""
) -> str:
    """The words every kind's `unrecorded` shares: `needs` is what the IAM policy must allow."""
    if not fix:
        fix = f"add {needs} to the controller's IAM policy"
        if not error.code.startswith("AccessDenied"):
            fix = f"if this persists, check that the controller may {needs.rstrip(',')}"
    return (
        f"could not record before {decision.verb.value} ({decision.change}): {error}; "
        f"{consequence}. Fix: {fix}"
    )


def accepted(error: UnexpectedOutput) -> None:
    """A mutating call whose CLI exited 0 but whose answer cannot be read: AWS accepted the
    change. Calling it failed would log the opposite of what happened and stop the steps that
    finish the change (forgetting the record)."""
    log.warning(
        "`%s` succeeded but its answer could not be read (%s); the step is done",
        error.command,
        error.message,
    )
