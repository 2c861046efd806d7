"""Two controllers on one service and on one table's auto scaling, as during a rolling deploy.

Two loops at a short interval against one moto while backup clusters start and end at random;
then every cluster ends, and the service must come back to the count it had before the first
pause (the tables to what a person had suspended, and nothing more), with no record left
once the records have settled. Seeded, so a failure replays with the same churn. Every
interleaving of the calls is tests/test_records_model.py's; this confirms it against moto
with the real CLI.

The churn is paced by the loops' own ticks, not by the clock: on a loaded machine a tick can
take many seconds, and a change that neither loop saw would test nothing. The end is a state
waited for (records settle after 3 x CALL_TIMEOUT here), never a fixed time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from tests.conftest import Loop, Stack
from tests.support.moto import PREFIX

CHANGES = 8
ORIGINAL = 3
SCHEDULED = "ScheduledScalingSuspended"
# Short calls make a short settle time (Config.record_settle, 30 s here), so that the records
# of the last pauses are removed within the test; not so short that a CLI call on a loaded
# machine (several seconds) times out.
SETTINGS = {"CALL_TIMEOUT": "10", "CALL_ATTEMPTS": "1"}


def ticks(loops: list[Loop]) -> int:
    return sum(loop.output.count("action:") for loop in loops)


def wait_ticks(loops: list[Loop], more: int, each: bool = False, timeout: float = 120) -> None:
    """Until the loops logged `more` ticks in all (or each loop `more`, with `each`)."""
    start = [loop.output.count("action:") for loop in loops]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = [loop.output.count("action:") - s for loop, s in zip(loops, start, strict=True)]
        if (min(done) if each else sum(done)) >= more:
            return
        time.sleep(0.05)
    raise AssertionError("the loops stopped ticking:\n" + "\n".join(loop.output for loop in loops))


def wait_until(done: Callable[[], bool], loops: list[Loop], timeout: float = 400) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("never at rest:\n" + "\n".join(loop.output for loop in loops))
        time.sleep(0.2)


def churn(stack: Stack, loops: list[Loop], seed: int) -> None:
    """Backups start and end at random, paced by the loops' ticks; then all of them end."""
    rng = random.Random(seed)  # noqa: S311 - replayable churn, not secrets
    for _ in range(2):
        loops.append(stack.start("--interval", "0.2", **SETTINGS))
    wait_ticks(loops, 1, each=True)
    active: list[str] = []
    for change in range(CHANGES):
        if active and (len(active) >= 2 or rng.random() < 0.5):
            stack.world.terminate_cluster(active.pop(rng.randrange(len(active))))
        else:
            active.append(stack.world.start_cluster(f"{PREFIX}{seed}-{change}"))
        # Sometimes the next change comes within the tick that sees this one, so that one
        # loop pauses while the other resumes.
        if change == 0:
            wait_ticks(loops, 2, each=True)  # a pause to begin with, whatever the seed
        else:
            wait_ticks(loops, rng.randint(0, 3))
            time.sleep(rng.uniform(0, 0.5))
    for cluster_id in active:
        stack.world.terminate_cluster(cluster_id)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2])
def test_two_loops_on_one_service_restore_the_original_count(
    stack: Stack, loops: list[Loop], seed: int
) -> None:
    stack.service(desired=ORIGINAL)

    churn(stack, loops, seed)
    wait_until(lambda: stack.desired() == ORIGINAL and not stack.tags(), loops)
    wait_ticks(loops, 2, each=True)  # and it stays so

    output = "\n".join(loop.output for loop in loops)
    assert stack.desired() == ORIGINAL, output
    assert stack.tags() == {}, output
    assert "pause: desired 3 -> 0" in output, "the churn paused the service at least once"
    assert "Traceback" not in output
    for loop in loops:
        assert loop.terminate()[0] == 0


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [3])
def test_two_loops_on_one_table_leave_it_as_it_was(
    stack: Stack, loops: list[Loop], seed: int
) -> None:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.env["DYNAMODB_TABLE_PREFIX"] = "orders-"
    world = stack.world
    world.autoscale_table("orders-eu")
    # Set by a person before any backup: it must come out as it went in.
    world.autoscale("table/orders-eu", "dynamodb:table:WriteCapacityUnits", {SCHEDULED})
    before = world.suspended()

    churn(stack, loops, seed)
    wait_until(lambda: world.suspended() == before and not world.table_tags("orders-eu"), loops)
    wait_ticks(loops, 2, each=True)  # and it stays so

    output = "\n".join(loop.output for loop in loops)
    assert world.suspended() == before, output
    assert world.table_tags("orders-eu") == {}, output
    assert "pause: table orders-eu, 2 of 2 scalable targets" in output, "paused at least once"
    assert "Traceback" not in output
    for loop in loops:
        assert loop.terminate()[0] == 0
