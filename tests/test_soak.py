"""Soak: the loop against moto while backup and other clusters come and go at random.

Run alone with `scripts/test -m soak -s` to see the figures. The RNG is seeded, so a failure
can be replayed with the same sequence of changes.
"""

from __future__ import annotations

import random
import signal
import statistics
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.conftest import Loop, Stack, processes_using
from tests.support.moto import PREFIX

pytestmark = pytest.mark.soak

SEED = 20261123
# Each tick costs two concurrent CLI calls (about 1 s, more on a loaded machine), and each
# change is followed by at least two ticks: 40-60 ticks, 1-2.5 minutes on 2 busy cores.
CHANGES = 20
MAX_ACTIVE = 2
# Far above a normal convergence (one or two ticks): only a controller that stopped reacting
# gets there.
CONVERGENCE_LIMIT = 60.0


@dataclass
class Driver:
    stack: Stack
    loop: Loop
    rng: random.Random
    active: dict[str, str] = field(default_factory=dict)  # cluster id -> name
    convergence: list[float] = field(default_factory=list)
    flips: int = 0

    def ticks(self) -> int:
        return self.loop.output.count("action:")

    def expected(self) -> int:
        """The rule: paused while a matching cluster is active, otherwise running (1)."""
        return 0 if any(name.startswith(PREFIX) for name in self.active.values()) else 1

    def change(self, n: int) -> str:
        # Few clusters at a time, so that the last backup often ends and the service resumes.
        if self.active and (len(self.active) >= MAX_ACTIVE or self.rng.random() < 0.4):
            cluster_id = self.rng.choice(sorted(self.active))
            self.stack.world.terminate_cluster(cluster_id)
            return f"terminated {self.active.pop(cluster_id)}"
        if self.rng.random() < 0.6:
            name = f"{PREFIX}{n}"
        else:
            name = self.rng.choice(
                [f"nightly-{PREFIX}{n}", f"{PREFIX.upper()}{n}", PREFIX[:-1], f"etl-{n}"]
            )
        self.active[self.stack.world.start_cluster(name)] = name
        return f"started {name}"

    def converge(self, before: int) -> None:
        """Wait for the desired count the rule asks for, confirmed by a whole tick that
        started after the change, then check it held."""
        expected = self.expected()
        started, ticks_at_change = time.monotonic(), self.ticks()
        reached: float | None = None
        while time.monotonic() - started < CONVERGENCE_LIMIT:
            if reached is None and self.stack.desired() == expected:
                reached = time.monotonic() - started
            # The tick in progress at the change may have missed it; the next one cannot.
            if reached is not None and self.ticks() >= ticks_at_change + 2:
                break
            assert self.loop.process.poll() is None, self.loop.output
            time.sleep(0.1)
        else:
            raise AssertionError(
                f"no convergence to desired={expected} within {CONVERGENCE_LIMIT:g}s:\n"
                + self.loop.output[-3000:]
            )
        assert self.stack.desired() == expected, "the desired count moved away from the rule"
        if expected != before:
            self.flips += 1
            self.convergence.append(reached)


@pytest.mark.timeout(300)
def test_soak_random_clusters_against_the_loop(
    stack: Stack, loops: list[Loop], record_property: pytest.RecordProperty
) -> None:
    marker = f"soak-{uuid.uuid4()}"
    stack.service(desired=1)
    loop = stack.start("--interval", "0.2", SOAK_RUN=marker)
    loops.append(loop)
    loop.wait_for("action:")
    driver = Driver(stack, loop, random.Random(SEED))  # noqa: S311 (a replayable sequence, not a secret)
    started = time.monotonic()

    for n in range(CHANGES):
        before = driver.expected()
        driver.change(n)
        driver.converge(before)

    elapsed = time.monotonic() - started
    code, _ = loop.terminate(signal.SIGTERM)
    assert code == 0, loop.output
    assert processes_using(marker) == [], "the loop left a process behind"
    # A tick longer than its 0.2 s interval is said (and right); anything else is a problem.
    problems = [
        line
        for line in loop.output.splitlines()
        if (" ERROR " in line or " WARNING " in line) and "longer than POLL_INTERVAL" not in line
    ]
    assert problems == [], "a healthy moto gave errors:\n" + "\n".join(problems)

    figures = {
        "seed": SEED,
        "ticks": driver.ticks(),
        "changes": CHANGES,
        "changes_that_moved_desired": driver.flips,
        "longest_convergence_s": round(max(driver.convergence), 2),
        "median_convergence_s": round(statistics.median(driver.convergence), 2),
        "seconds": round(elapsed, 1),
    }
    for name, value in figures.items():
        record_property(name, value)
    print("\nsoak:", ", ".join(f"{k}={v}" for k, v in figures.items()))
    assert driver.flips >= CHANGES // 4, "the seeded changes should pause and resume many times"
