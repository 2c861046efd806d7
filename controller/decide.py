"""The rule, as a pure function: what we observed in, what to do out. No I/O here."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from controller.ecs import Service
from controller.emr import Cluster


class Verb(enum.Enum):
    PAUSE = "pause"
    RESUME = "resume"
    HOLD = "no change"


@dataclass(frozen=True)
class Action:
    verb: Verb
    reason: str
    desired_count: int | None = None
    # True when the controller could not see enough to decide: it changes nothing, and the
    # tick counts as failed so that `--once` exits non-zero and a person looks.
    fault: bool = False


def decide(backups: Sequence[Cluster] | None, service: Service, resume_count: int = 1) -> Action:
    """`backups` are the matching active clusters, or None when the EMR query failed."""
    if service.status != "ACTIVE":
        return Action(Verb.HOLD, f"service is {service.status}, not ACTIVE", fault=True)
    if backups is None:
        # Never resume blind: if a backup is running and we cannot see it, resuming would
        # let the autoscaler fight the backup for capacity.
        return Action(Verb.HOLD, "EMR state unknown, changing nothing", fault=True)
    if backups:
        if service.desired > 0:
            return Action(Verb.PAUSE, "backup cluster active", desired_count=0)
        return Action(Verb.HOLD, "backup cluster active, already paused")
    if service.desired == 0:
        return Action(Verb.RESUME, "no backup cluster active", desired_count=resume_count)
    return Action(Verb.HOLD, "no backup cluster active, already running")
