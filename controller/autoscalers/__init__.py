"""The kinds of autoscaler the controller pauses, one line each: adding a kind is its module
and a line in ALL.

Settings, --help, the start-up line, the metrics, the tick's log line and the CloudFormation
template's policies follow from ALL; each module declares what they need in its AUTOSCALER
(controller/autoscalers/autoscaler.py's Autoscaler). CONTRIBUTING.md says what else a kind
needs: its part of the rule, which stays in controller/decide.py with the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.autoscalers import dynamodb, ecs
from controller.autoscalers.autoscaler import AnyStep, Autoscaler

if TYPE_CHECKING:
    from controller.aws import Runner
    from controller.config import Config
    from controller.decide import Observed

# In the order they are queried, changed, logged and listed in --help.
ALL: tuple[Autoscaler, ...] = (
    ecs.AUTOSCALER,
    dynamodb.AUTOSCALER,
)


def configured(config: Config) -> list[Autoscaler]:
    """The kinds whose settings are set, in the order of ALL; none: circuit breaker mode."""
    return [kind for kind in ALL if kind.on(config)]


def unread(config: Config, seen: Observed) -> list[Autoscaler]:
    """The configured kinds the tick could not read: the tick fails."""
    return [kind for kind in configured(config) if kind.part(seen) is None]


def apply(run: Runner, config: Config, step: AnyStep) -> None:
    """Carry out one step with the kind it belongs to."""
    for kind in ALL:
        if kind.apply(run, config, step):
            return
    raise TypeError(f"no kind of autoscaler carries out {step!r}")
