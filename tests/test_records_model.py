"""Any number of controllers, any slowness: no interleaving loses a record.

An exhaustive search of the schedules of two controllers (and of three, to a smaller bound)
around backups starting and ending, with a controller dying between any two calls and its
call in flight landing at any later moment (tests/support/records_model.py says what the
model is and what it checks at the end of every schedule). The same search finds the races
of version 1.0's records, which shows that it can.
"""

from __future__ import annotations

import pytest

from tests.support.records_model import Bounds, Current, Legacy, Result, describe, explore

SCHEDULED = frozenset({"ScheduledScalingSuspended"})
TWO_BACKUPS = (True, False, True, False)
# The largest searches visit 1 to 2 million states, 20 to 60 s each on a quiet 2-core machine.
pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]


def passes(result: Result, at_least: int) -> None:
    assert result.failure is None, describe(result)
    # A search that checked a handful of schedules would prove nothing.
    assert result.schedules >= at_least, f"only {result.schedules} schedules"


@pytest.mark.parametrize(
    ("mode", "lost"),
    [
        ("ecs", "desired count 1, not 4 as before the pause"),
        ("table", "suspended, not [] as before the pause"),
    ],
)
def test_the_search_finds_the_races_of_version_1_0(mode: str, lost: str) -> None:
    result = explore(Legacy(), mode, Bounds(controllers=2, ticks=3, deaths=0))

    assert result.failure is not None, f"{result.states} states and no race found"
    assert lost in result.failure[-1], describe(result)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_two_controllers_one_dying_lose_no_record(mode: str) -> None:
    # A flag a person set on the table must come out as it went in.
    person = SCHEDULED if mode == "table" else frozenset()
    bounds = Bounds(controllers=2, ticks=3, deaths=1, person_flags=person)

    passes(explore(Current(), mode, bounds), at_least=5000)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_two_backups_in_a_row(mode: str) -> None:
    bounds = Bounds(controllers=2, ticks=3, deaths=0, script=TWO_BACKUPS)

    passes(explore(Current(), mode, bounds), at_least=500)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_a_rolling_deploy_a_new_controller_joins_and_the_old_one_dies(mode: str) -> None:
    bounds = Bounds(controllers=1, ticks=3, deaths=1, joins=1)

    passes(explore(Current(), mode, bounds), at_least=1000)


@pytest.mark.parametrize(("mode", "ticks"), [("ecs", (2, 2, 1)), ("table", (2, 2, 1))])
def test_three_controllers(mode: str, ticks: tuple[int, ...]) -> None:
    bounds = Bounds(controllers=3, ticks=ticks, deaths=0)

    passes(explore(Current(), mode, bounds), at_least=300)
