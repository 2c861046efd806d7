"""Churn soak with kill -9: the controller against moto, killed with SIGKILL at random moments
and restarted at once, while backup clusters start and end at random.

It watches what an operator would care about, all the time and at the end:
  - lost count: the service's desired count is ever neither 0 nor the original, is 0 with no
    paused-count tag, or is not the original once every backup has ended;
  - lost record: a flag the controller turns on is on with no record tag on the table;
  - a tag left behind: a paused-count or record tag that outlives the last backup;
  - a leaked process: a CLI the killed controllers started that is still alive at the end.
Exit status 1 on any of them. Not part of scripts/test: it takes minutes.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.autoscalers.ecs import is_record
from tests.support.moto import (
    CLUSTER,
    PREFIX,
    SERVICE,
    MotoServer,
    World,
    controller_env,
    executable,
)

ORIGINAL = 3
TABLE = "orders-soak"
READ, WRITE = "dynamodb:table:ReadCapacityUnits", "dynamodb:table:WriteCapacityUnits"
# Set by "a person" before the soak: it must still be on, and only it, at the end.
THEIRS = "ScheduledScalingSuspended"
# 3 x CALL_TIMEOUT with one attempt (Config.record_settle), and the clocks' allowance.
SETTLE = 3 * 10 + 5
RECORD_PREFIX = "dynamodb-autoscaler-control:suspended:"


@dataclass
class Soak:
    world: World
    env: dict[str, str]
    log: Path
    rng: random.Random
    marker: str
    active: list[str] = field(default_factory=list)
    started_clusters: int = 0
    kills: int = 0
    samples: int = 0
    churned_at: int = 0
    problems: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [executable("dynamodb-autoscaler-control"), "--interval", "0.2"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.kills += 1

    def step(self) -> None:
        """One moment of the run: maybe a cluster starts or ends; the invariants are checked."""
        # Paced by the ticks: about one change every other tick, at any moment within one.
        if self.ticks() > self.churned_at and self.rng.random() < 0.1:
            self.churned_at = self.ticks() + self.rng.randint(0, 1)
            self.churn()
        self.check()
        time.sleep(self.rng.uniform(0.05, 0.3))

    def ticks(self) -> int:
        return self.log.read_text(errors="replace").count("action:")

    def churn(self) -> None:
        if self.active and (len(self.active) >= 2 or self.rng.random() < 0.5):
            self.world.terminate_cluster(self.active.pop(self.rng.randrange(len(self.active))))
        else:
            self.started_clusters += 1
            self.active.append(self.world.start_cluster(f"{PREFIX}soak-{self.started_clusters}"))

    def check(self, final: bool = False) -> None:
        """The invariants that hold at every moment, whatever was killed when. The table's
        flags and tags take two calls, so a change between them could look like a problem:
        a suspicion is read again a moment later and reported only if it is still there."""
        self.samples += 1
        found = self.violations(final)
        if found and not final:
            time.sleep(1.0)
            found = [p for p in self.violations(final) if p in found]
        for problem in found:
            self.problem(problem)

    def violations(self, final: bool) -> list[str]:
        found = []
        # One call for count and tags, so that the two are from the same moment.
        answer = self.world.ecs.describe_services(
            cluster=CLUSTER, services=[SERVICE], include=["TAGS"]
        )["services"][0]
        desired = int(answer["desiredCount"])
        tags = {t["key"]: t["value"] for t in answer.get("tags", []) if is_record(t["key"])}
        if desired not in (0, ORIGINAL):
            found.append(f"lost count: desired {desired}, original {ORIGINAL}")
        if any(value != str(ORIGINAL) for value in tags.values()):
            found.append(f"lost count: a record holds another count: {tags}")
        if desired == 0 and not tags:
            found.append("lost count: paused at 0 with no paused-count tag")
        flags = self.world.suspended()
        table_tags = self.world.table_tags(TABLE)
        records = {k: v for k, v in table_tags.items() if k.startswith(RECORD_PREFIX)}
        ours = flags[(f"table/{TABLE}", READ)] | (flags[(f"table/{TABLE}", WRITE)] - {THEIRS})
        if ours and not records:
            found.append(f"lost record: {sorted(ours)} on with no record tag on {TABLE}")
        if THEIRS not in flags[(f"table/{TABLE}", WRITE)]:
            found.append(f"a flag set by someone else was turned off: {THEIRS}")
        if final:
            if desired != ORIGINAL:
                found.append(f"lost count: desired {desired} after the last backup ended")
            if tags:
                found.append(f"tag left behind with no backup: {tags}")
            if records or ours:
                found.append(f"table {TABLE} not resumed: flags {sorted(ours)}, tags {records}")
        return found

    def problem(self, text: str) -> None:
        print(f"  PROBLEM (tick {self.ticks()}, kill {self.kills}): {text}", flush=True)
        self.problems.append(text)

    def leaked(self) -> list[int]:
        """Processes started by any controller of this soak that are still alive."""
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if self.marker.encode() in (proc / "environ").read_bytes():
                        found.append(int(proc.name))
                except OSError:
                    pass
        return found


def finish(soak: Soak, world: World) -> float:
    """End every backup, let a last controller settle, check, stop it; seconds to settle."""
    for cluster_id in soak.active:
        world.terminate_cluster(cluster_id)
    soak.active.clear()
    soak.start()
    # The records of the last pauses are removed once settled (Config.record_settle).
    wait = 60 + SETTLE
    settle = time.monotonic() + wait
    while time.monotonic() < settle:
        tags = world.service_tags(CLUSTER, SERVICE)
        done = world.desired(CLUSTER, SERVICE) == ORIGINAL and not any(map(is_record, tags))
        if done and not any(k.startswith(RECORD_PREFIX) for k in world.table_tags(TABLE)):
            break
        time.sleep(0.5)
    settled = time.monotonic() - (settle - wait)
    soak.check(final=True)
    assert soak.process is not None
    soak.process.send_signal(signal.SIGTERM)
    exit_code = soak.process.wait(30)
    if exit_code != 0:
        soak.problem(f"the last controller exited {exit_code} on SIGTERM")
    # A killed controller's CLI children finish their call on their own (they were in
    # flight); none may outlive the call timeout.
    deadline = time.monotonic() + 12
    while soak.leaked() and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in soak.leaked():
        soak.problem(f"leaked process {pid}")
        os.kill(pid, signal.SIGKILL)
    return settled


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=300, help="stop churning after this many")
    parser.add_argument("--seed", type=int, default=20261125)
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - a replayable run, not a secret
    started = time.monotonic()
    with MotoServer() as server, tempfile.TemporaryDirectory() as tmp:
        world = World(server.url)
        world.create_service(CLUSTER, SERVICE, ORIGINAL)
        world.autoscale_table(TABLE)
        world.autoscale(f"table/{TABLE}", WRITE, {THEIRS})
        marker = f"soak-{uuid.uuid4()}"
        env = controller_env(
            server.url,
            Path(tmp) / "home",
            DYNAMODB_TABLE_PREFIX="orders-",
            HEARTBEAT_FILE=str(Path(tmp) / "heartbeat"),
            CALL_TIMEOUT="10",
            CALL_ATTEMPTS="1",
            SOAK_MARKER=marker,
        )
        soak = Soak(world, env, Path(tmp) / "controller.log", rng, marker)
        soak.log.touch()
        print(f"soak: seed {args.seed}, {args.ticks} ticks, kill -9 within 0-4 ticks of a start")
        while soak.ticks() < args.ticks:
            # Killed after 0 to 3 ticks of its own, plus a random part of a tick: at any moment
            # of a tick, at the machine's own pace (a tick takes seconds on a busy machine).
            before, born = soak.ticks(), time.monotonic()
            soak.start()
            lives, extra = rng.randint(0, 3), rng.random()
            while soak.ticks() < before + lives and time.monotonic() - born < 120:
                soak.step()
            per_tick = (time.monotonic() - started) / max(1, soak.ticks())
            end = time.monotonic() + extra * per_tick
            while time.monotonic() < end:
                soak.step()
            soak.kill()  # and restarted at once, at the top of the loop
            if soak.kills % 20 == 0:
                print(f"  {soak.ticks()} ticks, {soak.kills} kills, {len(soak.active)} active")
        churn_ticks, churn_seconds = soak.ticks(), time.monotonic() - started
        settled = finish(soak, world)
        text = soak.log.read_text(errors="replace")
        print(
            f"soak: {churn_ticks} ticks in {churn_seconds:.0f}s, "
            f"{soak.kills} kill -9 and restarts, "
            f"{soak.started_clusters} backup clusters started, "
            f"{text.count('pause: desired')} service pauses and "
            f"{text.count('resume: desired')} resumes logged, "
            f"{text.count('pause: table')} table pauses and {text.count('resume: table')} resumes, "
            f"{soak.samples} state checks; settled {settled:.1f}s after the last backup ended; "
            f"tracebacks in the log: {text.count('Traceback')}"
        )
        if soak.problems:
            print(f"soak: FAILED, {len(soak.problems)} problems")
            return 1
        print("soak: ok, no lost count, no tag left behind, no leaked process")
        return 0


if __name__ == "__main__":
    sys.exit(main())
