"""What every kind of autoscaler declares of itself (`Autoscaler`), so that a new kind is a
module and one line in controller/autoscalers/__init__.py.

Settings, --help, the start-up line, the metric dimensions, the tick's log line and JSON
fields, the paused gauge and the CloudWatch metrics, the threads of a tick, the carrying out of
its steps and the CloudFormation template's policy all read the kind from here. The rule of
each kind stays in controller/decide.py, beside the others, where the model check proves them
together (CONTRIBUTING.md, "Adding a kind of autoscaler").

Nothing here imports config, decide or report at run time: they import the kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controller.aws import Runner
    from controller.config import Config
    from controller.decide import Observed

# A step of the rule's plan (controller/decide.py's Step): each kind defines its own.
AnyStep = object


@dataclass(frozen=True)
class Autoscaler:
    """One kind of autoscaler the controller pauses, as its module declares it."""

    # Its short name: the paused gauge's label starts with it (`ecs:CLUSTER/SERVICE`) and the
    # CloudFormation template names its policy after it.
    name: str
    # Its group of settings in --help, with the settings: (NAME, default, what it does).
    mode: str
    settings: tuple[tuple[str, str, str], ...]
    # Its IAM policy file in deploy/, attached when the template's `condition` holds.
    policy: str
    condition: str
    on: Callable[[Config], bool]
    # What it pauses, for the start-up line: "autoscaling/svc (us-east-1)".
    pausing: Callable[[Config], str]
    # The metric dimensions that name what it controls (CloudWatch; the template's alarms).
    dimensions: Callable[[Config], dict[str, str]]
    # Its part of a tick's view; None when it could not be read (the tick fails).
    part: Callable[[Observed], object | None]
    # Its part of the tick's log line, and its JSON field (name, value).
    shown: Callable[[Config, Observed], str]
    field: Callable[[Config, Observed], tuple[str, dict[str, Any]]]
    # Whether each thing it controls is held paused after these steps were carried out, by
    # the paused gauge's label; what could not be read is left out.
    held: Callable[[Config, Observed, Sequence[AnyStep]], dict[str, bool]]
    # The labels the paused gauge starts at 0 with, known before the first tick.
    known: Callable[[Config], list[str]]
    # Carry out one of its steps (one mutating call); False for a step not its own.
    apply: Callable[[Runner, Config, AnyStep], bool]
    # Its own CloudWatch metrics after the steps, by name, and their units.
    measured: Callable[[Config, Observed, Sequence[AnyStep]], dict[str, float]] = (
        lambda config, seen, steps: {}
    )
    units: tuple[tuple[str, str], ...] = ()
    # True when a change makes one call per item (one per table): the tick keeps
    # MAX_CONCURRENT_CALLS threads for them.
    fans_out: bool = False
