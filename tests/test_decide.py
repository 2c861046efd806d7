"""The rule table, row by row, with no AWS at all."""

from __future__ import annotations

import pytest

from controller.decide import Action, Verb, decide
from controller.ecs import Service
from controller.emr import Cluster

BACKUP = Cluster(id="j-1", name="dynamodb-backup-1", state="RUNNING")


def service(desired: int, status: str = "ACTIVE", running: int = 0, pending: int = 0) -> Service:
    return Service("arn:svc", "svc", status, desired, running, pending)


@pytest.mark.parametrize(
    ("backups", "desired", "expected"),
    [
        ((BACKUP,), 1, Action(Verb.PAUSE, "backup cluster active", desired_count=0)),
        ((BACKUP,), 3, Action(Verb.PAUSE, "backup cluster active", desired_count=0)),
        ((BACKUP,), 0, Action(Verb.HOLD, "backup cluster active, already paused")),
        ((), 0, Action(Verb.RESUME, "no backup cluster active", desired_count=1)),
        ((), 1, Action(Verb.HOLD, "no backup cluster active, already running")),
        ((), 5, Action(Verb.HOLD, "no backup cluster active, already running")),
        (None, 0, Action(Verb.HOLD, "EMR state unknown, changing nothing", fault=True)),
        (None, 2, Action(Verb.HOLD, "EMR state unknown, changing nothing", fault=True)),
    ],
)
def test_rule_table(backups: tuple[Cluster, ...] | None, desired: int, expected: Action) -> None:
    assert decide(backups, service(desired)) == expected


@pytest.mark.parametrize("status", ["DRAINING", "INACTIVE"])
@pytest.mark.parametrize("backups", [(BACKUP,), (), None])
def test_service_not_active_is_never_touched(
    status: str, backups: tuple[Cluster, ...] | None
) -> None:
    action = decide(backups, service(0, status=status))

    assert action.verb is Verb.HOLD
    assert action.fault
    assert status in action.reason


def test_decides_on_desired_not_running() -> None:
    """A task still starting (desired 1, running 0, pending 1) is paused too."""
    starting = service(1, running=0, pending=1)

    assert decide((BACKUP,), starting).verb is Verb.PAUSE
    assert decide((), starting).verb is Verb.HOLD


def test_resume_count_is_used_for_resume() -> None:
    assert decide((), service(0), resume_count=3).desired_count == 3
