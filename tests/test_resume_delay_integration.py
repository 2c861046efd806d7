"""RESUME_DELAY: backups made of several clusters one after another cause one pause, one resume."""

from __future__ import annotations

from tests.conftest import Loop, Stack
from tests.support.moto import PREFIX


def test_short_gap_keeps_the_pause_and_a_long_one_resumes_once(
    stack: Stack, loops: list[Loop]
) -> None:
    stack.service(desired=2)
    first = stack.world.start_cluster(f"{PREFIX}part-1")
    stack.fake_aws()
    loop = stack.start("--interval", "0.3", RESUME_DELAY="10")
    loops.append(loop)
    loop.wait_for("pause: desired 2 -> 0")

    # The next cluster of the same backup starts while the delay is still running.
    stack.world.terminate_cluster(first)
    loop.wait_for("resume pending: no backup for")
    second = stack.world.start_cluster(f"{PREFIX}part-2")
    loop.wait_for("part-2")
    assert stack.operations().count("ecs update-service") == 1, loop.output
    assert stack.desired() == 0

    # The last cluster ends; after the delay, one resume and then quiet.
    stack.world.terminate_cluster(second)
    loop.wait_for("resume: desired 0 -> 2", timeout=60)
    loop.wait_for("no backup active, already running", count=3)

    assert stack.desired() == 2
    assert stack.operations().count("ecs update-service") == 2
    assert loop.terminate()[0] == 0
