"""Measure what a tick costs: wall time against the sequential baseline, the controller's own
CPU and memory (without its CLI children), CLI calls per tick, and growth over a long loop.

Everything runs against a local moto_server with the real aws CLI, as in production but for
the network. See the README's Performance section for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.moto import (
    CLUSTER,
    PREFIX,
    REGION,
    SERVICE,
    MotoServer,
    World,
    controller_env,
    executable,
)
from tests.support.sources import Sources

FAKE_AWS = ROOT / "tests" / "support" / "fake_aws.py"
# Each source of backups and the setting that turns it on, for the per-combination report.
SOURCE_SETTINGS = {
    "EMR": ("EMR_PREFIX", PREFIX),
    "Glue": ("GLUE_JOB_PREFIX", "dynamodb-export-"),
    "EKS": ("EMR_EKS_JOB_PREFIX", "spark-dynamodb-"),
    "Serverless": ("EMR_SERVERLESS_JOB_PREFIX", "serverless-dynamodb-"),
}

# Runs the controller in this interpreter and reports, at exit, its own resource use apart
# from its children's: RUSAGE_SELF is the controller alone, RUSAGE_CHILDREN the CLI processes.
# Peak memory comes from VmHWM, the kernel's high-water mark for this process: ru_maxrss of
# RUSAGE_SELF read twice that here (it also counts the fork()ed copies made to start each CLI).
SHIM = """
import atexit, json, os, resource, sys
def report():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    status = open("/proc/self/status").read()
    hwm_kib = int(status.split("VmHWM:")[1].split()[0])
    with open(os.environ["BENCH_RUSAGE"], "w") as f:
        json.dump({"cpu": own.ru_utime + own.ru_stime, "peak_rss_kib": hwm_kib,
                   "children_cpu": kids.ru_utime + kids.ru_stime,
                   "children_maxrss_kib": kids.ru_maxrss}, f)
atexit.register(report)
from controller.cli import main
sys.argv[0] = "dynamodb-autoscaler-control"
sys.exit(main())
"""


def timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def proc_sample(pid: int) -> dict[str, float]:
    """The controller's own state, read from /proc: nothing here includes its children."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    children = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        # sh starts and ends threads around each CLI call; one may be gone already.
        with contextlib.suppress(FileNotFoundError):
            children += len((task / "children").read_text().split())
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) / 1024,
        "threads": int(fields["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "children": children,
        # utime and stime are fields 14 and 15 of stat; counting from after the ")" they
        # are the 12th and 13th.
        "cpu_s": (int(stat[11]) + int(stat[12])) / ticks,
    }


class Bench:
    def __init__(self, moto: MotoServer, tmp: Path) -> None:
        self.world = World(moto.url)
        self.tmp = tmp
        self.env = controller_env(
            moto.url,
            tmp / "home",
        )
        self.aws = executable("aws")
        self.controller = executable("dynamodb-autoscaler-control")
        self.endpoint = moto.url

    def seed_steady(self) -> None:
        """Service running, only a non-matching cluster: a tick that changes nothing."""
        self.world.create_service(CLUSTER, SERVICE, desired=1)
        self.world.start_cluster("some-other-job")

    def once(self) -> float:
        return timed([self.controller, "--once"], self.env)

    def baseline(self) -> float:
        """What the original bash loop does each tick: the two queries one after the other."""
        common = ["--endpoint-url", self.endpoint, "--output", "json"]
        emr = [self.aws, "emr", "list-clusters", "--active", "--region", REGION, *common]
        ecs = [self.aws, "ecs", "describe-services", "--cluster", CLUSTER]
        ecs += ["--services", SERVICE, "--region", REGION, *common]
        started = time.perf_counter()
        for command in (emr, ecs):
            subprocess.run(command, env=self.env, check=True, capture_output=True)
        return time.perf_counter() - started

    def own_usage(self) -> dict[str, float]:
        """One --once tick in the shim: the controller's own CPU and peak RSS."""
        report = self.tmp / "rusage.json"
        env = {**self.env, "BENCH_RUSAGE": str(report)}
        python = str(Path(self.controller).parent / "python")
        subprocess.run([python, "-c", SHIM, "--once"], env=env, check=True, capture_output=True)
        return dict(json.loads(report.read_text()))

    def calls_per_tick(self, prepare: Callable[[], None]) -> int:
        prepare()
        calls = self.tmp / "calls.jsonl"
        calls.unlink(missing_ok=True)
        env = {
            **self.env,
            "AWS_CLI": str(FAKE_AWS),
            "FAKE_AWS_CALLS": str(calls),
            "FAKE_AWS_REAL": self.aws,
        }
        subprocess.run([self.controller, "--once"], env=env, check=True, capture_output=True)
        return len(calls.read_text().splitlines())

    def per_source(self, moto: MotoServer, rounds: int) -> list[dict[str, Any]]:
        """Steady ticks (nothing to change) for every combination of sources: CLI calls and
        --once wall time. Each source has one item to query one by one: a matching Glue job
        with a finished run, a running virtual cluster, a started application with a
        finished run."""
        sources = Sources(moto.url)
        sources.start_glue_run(f"{SOURCE_SETTINGS['Glue'][1]}orders")  # finishes at once
        sources.virtual_cluster()
        # moto answers list-job-runs of an application with no run at all "does not exist".
        sources.start_serverless_run(sources.started_application(), "unrelated")  # finished
        base = {k: v for k, v in self.env.items() if k != "EMR_PREFIX"}
        found = []
        for size in range(1, len(SOURCE_SETTINGS) + 1):
            for combination in itertools.combinations(SOURCE_SETTINGS, size):
                env = {**base, **dict(SOURCE_SETTINGS[name] for name in combination)}
                calls = self.tmp / "calls.jsonl"
                calls.unlink(missing_ok=True)
                recorded = {"AWS_CLI": str(FAKE_AWS), "FAKE_AWS_CALLS": str(calls)}
                env_recorded = {**env, **recorded, "FAKE_AWS_REAL": self.aws}
                done = subprocess.run(
                    [self.controller, "--once"],
                    env=env_recorded,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if done.returncode:
                    raise SystemExit(f"{combination}: the tick failed:\n{done.stderr}")
                walls = [timed([self.controller, "--once"], env) for _ in range(rounds)]
                found.append(
                    {
                        "sources": "+".join(combination),
                        "calls": len(calls.read_text().splitlines()),
                        "wall_s": spread(walls),
                    }
                )
        return found

    def long_loop(self, ticks: int, interval: float) -> dict[str, Any]:
        """Run the loop for `ticks` ticks, sampling its own state all along.

        Threads, fds and children come and go with each CLI call, so a single sample says
        little; the minimum over a window is the resting state, and a leak shows as that
        minimum rising from the early window to the late one.
        """
        log = self.tmp / "loop.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                [self.controller, "--interval", str(interval)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        samples: list[tuple[int, dict[str, float]]] = []
        started = time.monotonic()
        try:
            done = 0
            while done < ticks:
                if process.poll() is not None:
                    raise SystemExit(f"the loop exited early:\n{log.read_text()}")
                done = log.read_text().count("action:")
                samples.append((done, proc_sample(process.pid)))
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
        window = max(5, ticks // 10)
        early = [s for n, s in samples if window <= n < 2 * window]  # after warm-up
        late = [s for n, s in samples if n >= ticks - window]
        first_tick = next(n for n, _ in samples if n >= window)

        def rest(chosen: list[dict[str, float]]) -> dict[str, float]:
            return {
                "rss_mib": max(s["rss_mib"] for s in chosen),
                "threads": min(s["threads"] for s in chosen),
                "fds": min(s["fds"] for s in chosen),
                "children": min(s["children"] for s in chosen),
            }

        # The interval is shorter than a tick, so the loop never sleeps: the time between two
        # tick lines is one tick's wall time, start-up excluded, as a long-lived controller runs.
        stamps = [
            datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
            for line in log.read_text().splitlines()
            if "action:" in line
        ]
        walls = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps[window:])]
        return {
            "ticks": samples[-1][0],
            "tick_wall_s": spread(walls),
            "interval_s": interval,
            "wall_s": time.monotonic() - started,
            "early": rest(early),
            "late": rest(late),
            "own_cpu_ms_per_tick": 1000
            * (late[-1]["cpu_s"] - early[0]["cpu_s"])
            / max(1, samples[-1][0] - first_tick),
            "exit_status": process.returncode,
        }


def run(rounds: int, ticks: int, interval: float, source_rounds: int = 3) -> dict[str, Any]:
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(moto, Path(tmp))
        bench.seed_steady()
        bench.once()  # warm caches (CLI data files, .pyc) so round 1 is not an outlier
        bench.baseline()
        tick_times, base_times, own = [], [], []
        for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
            tick_times.append(bench.once())
            base_times.append(bench.baseline())
            own.append(bench.own_usage())

        steady_calls = bench.calls_per_tick(lambda: None)
        cluster_id = bench.world.start_cluster(f"{PREFIX}bench")
        pause_calls = bench.calls_per_tick(lambda: None)
        bench.world.terminate_cluster(cluster_id)
        resume_calls = bench.calls_per_tick(lambda: None)

        loop = bench.long_loop(ticks, interval)
        by_source = bench.per_source(moto, source_rounds) if source_rounds else []

    tick, base = spread(tick_times), spread(base_times)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "aws_cli": subprocess.run(
                [executable("aws"), "--version"], capture_output=True, text=True, check=True
            ).stdout.strip()
            or "?",
        },
        "tick_wall_s": tick,
        "baseline_wall_s": base,
        "ratio": tick["median"] / base["median"],
        "loop_ratio": loop["tick_wall_s"]["median"] / base["median"],
        "cli_calls": {"steady": steady_calls, "pause": pause_calls, "resume": resume_calls},
        "once_own_cpu_ms": spread([1000 * o["cpu"] for o in own]),
        "once_own_peak_rss_mib": max(o["peak_rss_kib"] for o in own) / 1024,
        "once_children_peak_rss_mib": max(o["children_maxrss_kib"] for o in own) / 1024,
        "loop": loop,
        "sources": by_source,
    }


def table(result: dict[str, Any]) -> str:
    tick, base, loop = result["tick_wall_s"], result["baseline_wall_s"], result["loop"]
    early, late = loop["early"], loop["late"]
    calls = result["cli_calls"]
    rows = [
        ("date / machine", f"{result['date']}, {result['machine']['cores']} cores, "
         f"Python {result['machine']['python']}, {result['machine']['aws_cli'].split()[0]}"),
        ("--once tick, wall (median [min-max])",
         f"{tick['median']:.2f} s [{tick['min']:.2f}-{tick['max']:.2f}], n={tick['n']}"),
        ("baseline: 2 queries in sequence",
         f"{base['median']:.2f} s [{base['min']:.2f}-{base['max']:.2f}], n={base['n']}"),
        ("ratio --once tick / baseline", f"{result['ratio']:.2f}"),
        ("loop tick, wall (median [min-max])",
         f"{loop['tick_wall_s']['median']:.2f} s [{loop['tick_wall_s']['min']:.2f}-"
         f"{loop['tick_wall_s']['max']:.2f}], n={loop['tick_wall_s']['n']}"),
        ("ratio loop tick / baseline (target <= 0.6)", f"{result['loop_ratio']:.2f}"),
        ("CLI calls: steady / pause / resume",
         f"{calls['steady']} / {calls['pause']} / {calls['resume']}"),
        ("--once own CPU incl. start-up (median)",
         f"{result['once_own_cpu_ms']['median']:.0f} ms"),
        ("--once own peak RSS (target < 40 MiB)", f"{result['once_own_peak_rss_mib']:.1f} MiB"),
        ("one CLI child's peak RSS", f"{result['once_children_peak_rss_mib']:.1f} MiB"),
        (f"loop: own CPU per tick over {loop['ticks']} ticks (target < 50 ms)",
         f"{loop['own_cpu_ms_per_tick']:.1f} ms"),
        ("loop: peak RSS early -> late window",
         f"{early['rss_mib']:.1f} -> {late['rss_mib']:.1f} MiB"),
        ("loop: resting threads / fds / children, early -> late",
         f"{early['threads']:.0f}/{early['fds']:.0f}/{early['children']:.0f} -> "
         f"{late['threads']:.0f}/{late['fds']:.0f}/{late['children']:.0f}"),
    ]  # fmt: skip
    rows += [
        (f"steady --once tick, {s['sources']}: calls, wall (median)",
         f"{s['calls']}, {s['wall_s']['median']:.2f} s")
        for s in result.get("sources", [])
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved tick/baseline pairs")
    parser.add_argument("--ticks", type=int, default=200, help="ticks of the long loop")
    parser.add_argument("--interval", type=float, default=0.05, help="interval of the long loop")
    parser.add_argument(
        "--source-rounds",
        type=int,
        default=3,
        help="--once ticks per combination of sources (0: skip that report)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = run(args.rounds, args.ticks, args.interval, args.source_rounds)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
