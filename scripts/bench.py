"""Measure what a tick costs: wall time against the sequential baseline, the controller's own
CPU and memory (without its CLI children), CLI calls per tick, and growth over a long loop.
Then what the controller adds to the CLI: start-up and one tick with a stand-in CLI that
answers at once, against a bare Python that imports sh and makes the same two calls, and the
runner's cost per call.

Then how a tick grows with the fleet: a pause and a resume of 5 and 10 tables (native mode),
and a steady tick over 5 and 10 matching Glue jobs, with the slope per table and per job;
optionally the same Glue tick at several MAX_CONCURRENT_CALLS. `--growth-only` runs only that
part.

The defaults are sized to finish within five minutes on two busy cores; the figures in
docs/performance.md come from larger runs, e.g. `--rounds 15 --ticks 200 --source-rounds 3
--tables 10,50,200 --jobs 10,50,100` (half an hour or more).

Everything runs against a local moto_server with the real aws CLI, as in production but for
the network. See docs/performance.md for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import collections
import compileall
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
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sh

from controller.aws import AwsCli
from tests.support.moto import (
    CLUSTER,
    PREFIX,
    REGION,
    SERVICE,
    MotoServer,
    World,
    controller_env,
    executable,
    free_port,
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

# A bare Python doing what the controller must at the least: import sh, make the two calls.
BARE = """
import sys
import sh
aws = sh.Command(sys.argv[1])
aws(*sys.argv[2].split())
aws(*sys.argv[3].split())
"""

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
        self.instant = tmp / "instant-aws"  # written by record_instant_cli

    def seed_steady(self) -> None:
        """Service running, only a non-matching cluster: a tick that changes nothing."""
        self.world.create_service(CLUSTER, SERVICE, desired=1)
        self.world.start_cluster("some-other-job")

    def once(self) -> float:
        return timed([self.controller, "--once"], self.env)

    def baseline(self) -> float:
        """What the original bash loop does each tick: the two queries one after the other."""
        started = time.perf_counter()
        for command in self.queries():
            subprocess.run(command, env=self.env, check=True, capture_output=True)
        return time.perf_counter() - started

    def together(self) -> float:
        """The two queries started together, with nothing around them: the floor of a tick on
        this machine (two CLIs and moto_server share its cores)."""
        started = time.perf_counter()
        running = [
            subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL)
            for command in self.queries()
        ]
        for process in running:
            process.wait()
        return time.perf_counter() - started

    def record_instant_cli(self) -> None:
        """A stand-in CLI that prints, at once, what the real one answered for the two queries."""
        answers = {}
        for name, command in zip(("emr", "ecs"), self.queries(), strict=True):
            answers[name] = subprocess.run(
                command, env=self.env, check=True, capture_output=True, text=True
            ).stdout
        self.instant.write_text(
            "#!/bin/sh\n"
            'case "$1" in\n'
            + "".join(f"{name}) cat <<'EOF'\n{out}\nEOF\n;;\n" for name, out in answers.items())
            + "esac\n"
        )
        self.instant.chmod(0o755)

    def queries(self) -> tuple[list[str], list[str]]:
        common = ["--endpoint-url", self.endpoint, "--output", "json"]
        emr = [self.aws, "emr", "list-clusters", "--active", "--region", REGION, *common]
        ecs = [self.aws, "ecs", "describe-services", "--cluster", CLUSTER]
        ecs += ["--services", SERVICE, "--region", REGION, *common]
        return emr, ecs

    def once_instant(self) -> float:
        """--once with the stand-in CLI: the controller's own start-up and tick, no AWS."""
        return timed([self.controller, "--once"], {**self.env, "AWS_CLI": str(self.instant)})

    def bare_instant(self) -> float:
        emr, ecs = self.queries()
        python = str(Path(self.controller).parent / "python")
        args = [" ".join(emr[1:]), " ".join(ecs[1:])]
        return timed([python, "-c", BARE, str(self.instant), *args], self.env)

    def healthcheck(self) -> float:
        heartbeat = self.tmp / "heartbeat"
        beat = {"last_tick": time.time(), "interval": 60.0, "call_timeout": 30.0}
        heartbeat.write_text(json.dumps(beat))
        env = {**self.env, "HEARTBEAT_FILE": str(heartbeat)}
        return timed([self.controller, "healthcheck"], env)

    def per_call(self, calls: int) -> dict[str, float]:
        """Median ms per call to the stand-in CLI: spawned directly, through sh in the ways
        considered, and through the runner (controller/aws.py) as each tick makes them."""
        emr, _ = self.queries()
        args = emr[1:]
        cli = sh.Command(str(self.instant))
        runner = AwsCli(
            str(self.instant), env=self.env, timeout=30, attempts=1, stop=threading.Event()
        )
        direct = [str(self.instant), *args]
        options: dict[str, Callable[[], object]] = {
            "subprocess": lambda: subprocess.run(direct, capture_output=True, check=True),
            "sh": lambda: cli(*args),
            # What the runner did before: sh's own timeout, which polls every 0.1 s.
            "sh_timeout": lambda: cli(*args, _timeout=30),
            "runner": lambda: runner(args),
        }
        spent: dict[str, list[float]] = {name: [] for name in options}
        for _ in range(calls):  # interleaved, as elsewhere
            for name, call in options.items():
                started = time.perf_counter()
                call()
                spent[name].append(1000 * (time.perf_counter() - started))
        return {name: statistics.median(values) for name, values in spent.items()}

    def own_usage(self, **extra: str) -> dict[str, float]:
        """One --once tick in the shim: the controller's own CPU and peak RSS."""
        report = self.tmp / "rusage.json"
        env = {**self.env, **extra, "BENCH_RUSAGE": str(report)}
        python = str(Path(self.controller).parent / "python")
        subprocess.run([python, "-c", SHIM, "--once"], env=env, check=True, capture_output=True)
        return dict(json.loads(report.read_text()))

    def calls_per_tick(self, prepare: Callable[[], None], **extra: str) -> int:
        prepare()
        calls = self.tmp / "calls.jsonl"
        calls.unlink(missing_ok=True)
        env = {
            **self.env,
            **extra,
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

    def long_loop(self, ticks: int, interval: float, http_port: int = 0) -> dict[str, Any]:
        """Run the loop for `ticks` ticks, sampling its own state all along.

        Threads, fds and children come and go with each CLI call, so a single sample says
        little; the minimum over a window is the resting state, and a leak shows as that
        minimum rising from the early window to the late one. The interval is longer than a
        tick, so that the loop does rest between ticks and the samples can see it.

        With `http_port` the loop serves HTTP and /metrics is scraped once per tick, twice as
        often as deploy/prometheus-scrape.yml would with the default 60 s interval.
        """
        log = self.tmp / "loop.log"
        extra = {"HTTP_PORT": str(http_port), "HTTP_ADDRESS": "127.0.0.1"} if http_port else {}
        scrapes = 0
        with log.open("w") as out:
            process = subprocess.Popen(
                [self.controller, "--interval", str(interval)],
                # Debug lines name each CLI call as it starts: the first of a tick starts it.
                env={**self.env, "DEBUG_OUTPUT": "1", **extra},
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
                if http_port and done > scrapes:
                    url = f"http://127.0.0.1:{http_port}/metrics"
                    with urllib.request.urlopen(url, timeout=10) as answer:
                        metrics = answer.read().decode()
                    scrapes += 1
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

        # A tick's wall time: from its first CLI call's start to its tick line, as a
        # long-lived controller runs it (start-up excluded).
        walls, begun = [], None
        for line in log.read_text().splitlines():
            if "running aws " in line and begun is None:
                begun = datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
            elif "action:" in line and begun is not None:
                ended = datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
                walls.append((ended - begun).total_seconds())
                begun = None
        walls = walls[window:]
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
            **({"scrapes": scrapes, "metrics": _calls(metrics)} if http_port else {}),
        }


# --- growth: tables and Glue jobs ----------------------------------------------------------
GROWTH_TABLES = "bench-"
GROWTH_JOBS = "bench-export-"
# A pause or resume left unfinished by one tick is finished by the next ones; more than this
# many is a failure of the bench.
MAX_GROWTH_TICKS = 6


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x: what one more table (or job) adds."""
    if len(points) < 2:
        return float("nan")
    mean_x = statistics.fmean(x for x, _ in points)
    mean_y = statistics.fmean(y for _, y in points)
    spread_x = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread_x


class Growth:
    """--once ticks of the controller in the rusage shim, their CLI calls counted from its own
    debug lines (one `running aws ...` per call, retries not counted): whatever the controller
    does, not a count written down here."""

    def __init__(self, moto: MotoServer, bench: Bench) -> None:
        self.moto = moto
        self.bench = bench

    def tick(self, failing: bool = False, **settings: str | None) -> dict[str, Any]:
        """One --once tick; with `failing`, a failed one is reported rather than fatal."""
        env = {**self.bench.env, "DEBUG_OUTPUT": "1"}
        for name, value in settings.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        report = self.bench.tmp / "rusage.json"
        env["BENCH_RUSAGE"] = str(report)
        python = str(Path(self.bench.controller).parent / "python")
        started = time.perf_counter()
        done = subprocess.run(
            [python, "-c", SHIM, "--once"], env=env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - started
        if done.returncode and not failing:
            raise SystemExit(f"a growth tick failed ({settings}):\n{done.stderr[-3000:]}")
        usage = json.loads(report.read_text())
        operations = collections.Counter(
            " ".join(line.split(" running aws ", 1)[1].split()[:2])
            for line in done.stderr.splitlines()
            if " running aws " in line
        )
        return {
            "wall_s": wall,
            "calls": done.stderr.count(" running aws "),
            "operations": dict(sorted(operations.items())),
            "cli_cpu_s": usage["children_cpu"],
            "own_peak_rss_mib": usage["peak_rss_kib"] / 1024,
            "cli_peak_rss_mib": usage["children_maxrss_kib"] / 1024,
            "progress_lines": done.stderr.count(" in progress: "),
            "ok": done.returncode == 0,
            # Changes the tick gave up on or could not make (" FAILED: " in its tick line).
            "failed_changes": sum(
                line.count(" FAILED: ") for line in done.stderr.splitlines() if " action: " in line
            ),
        }

    def until(self, done: Callable[[], bool], **settings: str | None) -> dict[str, Any]:
        """Ticks until `done()`, as the loop would make them (at most MAX_GROWTH_TICKS): the
        first tick's figures, and the sums over all of them. A change that cannot start within
        its pause window gives up, and the next tick makes it."""
        ticks = []
        while len(ticks) < MAX_GROWTH_TICKS:
            ticks.append(self.tick(failing=True, **settings))
            if done():
                break
        else:
            raise SystemExit(f"not done after {MAX_GROWTH_TICKS} ticks ({settings})")
        first = dict(ticks[0])
        first["ticks"] = len(ticks)
        first["all_ticks"] = {
            what: sum(t[what] for t in ticks)
            for what in ("wall_s", "calls", "cli_cpu_s", "failed_changes")
        }
        return first

    def tables(self, count: int) -> dict[str, Any]:
        """Native mode over `count` tables (2 scalable targets each): a pause, then a resume."""
        self.moto.reset()
        world = self.bench.world
        for number in range(count):
            world.autoscale_table(f"{GROWTH_TABLES}{number:03}")
        native = {name: None for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION")}
        native |= {"AUTOSCALER_SERVICE": None, "DYNAMODB_TABLE_PREFIX": GROWTH_TABLES}
        cluster = world.start_cluster(f"{PREFIX}growth")
        pause = self.until(lambda: all(world.suspended().values()), **native)
        world.terminate_cluster(cluster)
        resume = self.until(lambda: not any(world.suspended().values()), **native)
        return {"tables": count, "targets": 2 * count, "pause": pause, "resume": resume}

    def jobs(self, count: int, calls: int | None = None) -> dict[str, Any]:
        """A steady tick (ECS mode, nothing to change) over `count` matching Glue jobs."""
        self.moto.reset()
        self.bench.world.create_service(CLUSTER, SERVICE, desired=1)
        glue = Sources(self.moto.url)
        for number in range(count):
            glue.glue_job(f"{GROWTH_JOBS}{number:03}")
        concurrent = {"MAX_CONCURRENT_CALLS": str(calls)} if calls else {}
        steady = self.tick(EMR_PREFIX=None, GLUE_JOB_PREFIX=GROWTH_JOBS, **concurrent)
        return {"jobs": count, "max_concurrent_calls": calls, "steady": steady}


NIGHT_TABLES = "night-"


def night(moto: MotoServer, bench: Bench, size: tuple[int, int, int], scope: str) -> dict[str, Any]:
    """An exporter-shaped night in native mode: `tables` under the prefix, one cluster whose
    steps (`Export Table:T`) export `exported` of them one after another, each step lasting
    `ticks_per_step` ticks; the cluster ends with its last step. Each --once tick stands for a
    60 s POLL_INTERVAL: the tables suspended after it count 60 table-seconds each."""
    tables, exported, ticks_per_step = size
    moto.reset()
    world = bench.world
    names = [f"{NIGHT_TABLES}{number:03}" for number in range(tables)]
    for name in names:
        world.autoscale_table(name)
    steps = [f"Export Table:{name}" for name in names[:exported]]
    cluster = world.start_cluster(f"{PREFIX}exporter", steps=steps)
    native = {name: None for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION")}
    native |= {"AUTOSCALER_SERVICE": None, "DYNAMODB_TABLE_PREFIX": NIGHT_TABLES}
    native |= {"PAUSE_SCOPE": scope}
    grow = Growth(moto, bench)
    ticks, suspended = [], []
    pending = list(steps)
    while True:
        ticks.append(grow.tick(failing=True, **native))
        # A table is suspended while any of its targets is.
        suspended.append(len({r for (r, _), flags in world.suspended().items() if flags}))
        if not pending and not suspended[-1]:
            break
        if pending and len(ticks) % ticks_per_step == 0:
            world.end_step(cluster, pending.pop(0))
            if not pending:
                world.terminate_cluster(cluster)
        if len(ticks) > ticks_per_step * (exported + 2) + MAX_GROWTH_TICKS:
            raise SystemExit(f"the night did not end ({scope}): {suspended}")
    calls = sorted(t["calls"] for t in ticks)
    return {
        "scope": scope,
        "tables": tables,
        "exported": exported,
        "ticks": len(ticks),
        "table_seconds": 60 * sum(suspended),
        "most_suspended": max(suspended),
        "calls": sum(calls),
        "calls_per_steady_tick": calls[len(calls) // 2],
        "wall_s": sum(t["wall_s"] for t in ticks),
    }


def night_table(found: list[dict[str, Any]]) -> str:
    rows = [
        (
            f"PAUSE_SCOPE={n['scope']}: {n['tables']} tables, {n['exported']} exported",
            f"{n['table_seconds']} table-seconds suspended (at most {n['most_suspended']} "
            f"tables at once), {n['ticks']} ticks, {n['calls']} calls, median "
            f"{n['calls_per_steady_tick']} a tick, {n['wall_s']:.0f} s",
        )
        for n in found
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def growth(
    moto: MotoServer, bench: Bench, tables: list[int], jobs: list[int], concurrency: list[int]
) -> dict[str, Any]:
    grow = Growth(moto, bench)
    by_tables = [grow.tables(count) for count in tables]
    by_jobs = [grow.jobs(count) for count in jobs]
    sweep_size = sorted(jobs)[len(jobs) // 2] if jobs else 50
    sweep = [grow.jobs(sweep_size, calls) for calls in concurrency]
    per_table = {
        f"{verb}_{what}": slope([(r["tables"], r[verb][what]) for r in by_tables])
        for verb in ("pause", "resume")
        for what in ("wall_s", "calls", "cli_cpu_s")
    }
    per_job = {
        what: slope([(r["jobs"], r["steady"][what]) for r in by_jobs])
        for what in ("wall_s", "calls", "cli_cpu_s")
    }
    return {
        "tables": by_tables,
        "per_table": per_table,
        "jobs": by_jobs,
        "per_job": per_job,
        "concurrency": sweep,
        "default_concurrency": _default_concurrency(),
    }


def _default_concurrency() -> str:
    from controller.runtime import host  # noqa: PLC0415 (the bench's own start-up)

    limits = host.read()
    return f"{host.concurrent_calls(limits)} ({limits})"


# The sizes of the sizing estimate: Fargate's smallest CPU sizes and some fleets.
SIZING_CPUS = (0.25, 0.5, 1.0, 2.0, 4.0)
SIZING_TABLES = (10, 50, 100, 200, 500)


def sizing(found: dict[str, Any]) -> list[tuple[str, str]]:
    """What a pause and a resume of N tables would take on V CPUs: the CLI's CPU seconds per
    table measured here (the slope), spread over the CPUs. A CLI call is almost all CPU, so
    this is the floor where the CPUs are the controller's alone; against AWS each call also
    waits on the network, which one call per CPU does not hide."""
    if len(found["tables"]) < 2:
        return []
    per = found["per_table"]
    rows = []
    for cpus in SIZING_CPUS:
        pause, resume = per["pause_cli_cpu_s"] / cpus, per["resume_cli_cpu_s"] / cpus
        cells = [f"{n}: {pause * n:.0f}/{resume * n:.0f} s" for n in SIZING_TABLES]
        rows.append((f"estimate on {cpus:g} CPUs: tables: pause/resume", ", ".join(cells)))
    return rows


def growth_table(result: dict[str, Any]) -> str:
    rows = [("date / machine", f"{result['date']}, {result['machine']['cores']} cores "
             f"(load {result['machine']['load_average']:.1f} at start), "
             f"{result['machine']['aws_cli'].split()[0]}, "
             f"MAX_CONCURRENT_CALLS {result['growth']['default_concurrency']}")]  # fmt: skip
    found = result["growth"]
    for r in found["tables"]:
        for verb in ("pause", "resume"):
            t = r[verb]
            rows.append((
                f"{verb} {r['tables']} tables ({r['targets']} targets): wall, calls, CLI CPU",
                f"{t['wall_s']:.1f} s, {t['calls']} calls, {t['cli_cpu_s']:.1f} s "
                f"(own peak {t['own_peak_rss_mib']:.0f} MiB, a CLI {t['cli_peak_rss_mib']:.0f} "
                f"MiB, {t['progress_lines']} progress lines)",
            ))  # fmt: skip
            if t.get("ticks", 1) > 1:
                every = t["all_ticks"]
                rows.append((
                    f"  {verb} done in {t['ticks']} ticks: first tick gave up on",
                    f"{t['failed_changes']} tables; all ticks: {every['wall_s']:.1f} s, "
                    f"{every['calls']} calls, {every['cli_cpu_s']:.1f} s CLI CPU",
                ))  # fmt: skip
            rows.append(("  calls by operation", ", ".join(
                f"{op} {n}" for op, n in t.get("operations", {}).items())))  # fmt: skip
    if found["tables"]:
        per = found["per_table"]
        for verb in ("pause", "resume"):
            rows.append((
                f"{verb}: per table (slope)",
                f"{per[f'{verb}_wall_s']:.2f} s, {per[f'{verb}_calls']:.2f} calls, "
                f"{per[f'{verb}_cli_cpu_s']:.2f} s CLI CPU",
            ))  # fmt: skip
    for r in found["jobs"]:
        t = r["steady"]
        rows.append((
            f"steady tick, {r['jobs']} Glue jobs: wall, calls, CLI CPU",
            f"{t['wall_s']:.1f} s, {t['calls']} calls, {t['cli_cpu_s']:.1f} s",
        ))  # fmt: skip
    if found["jobs"]:
        per = found["per_job"]
        rows.append((
            "steady tick: per Glue job (slope)",
            f"{per['wall_s']:.2f} s, {per['calls']:.2f} calls, {per['cli_cpu_s']:.2f} s CLI CPU",
        ))  # fmt: skip
    rows += sizing(found)
    for r in found["concurrency"]:
        t = r["steady"]
        rows.append((
            f"steady tick, {r['jobs']} Glue jobs, MAX_CONCURRENT_CALLS={r['max_concurrent_calls']}",
            f"{t['wall_s']:.1f} s, {t['cli_cpu_s']:.1f} s CLI CPU",
        ))  # fmt: skip
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


def _calls(metrics: str) -> dict[str, float]:
    """From a /metrics text: ok ticks, and the CLI calls of each operation (all outcomes)."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    found: dict[str, float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name.endswith("_ticks_total") and sample.labels["outcome"] == "ok":
                found["ticks"] = sample.value
            elif sample.name.endswith("_aws_cli_calls_total"):
                operation = sample.labels["operation"]
                found[operation] = found.get(operation, 0.0) + sample.value
    return found


def machine(aws_cli: str | None = None) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "aws_cli": subprocess.run(
            [aws_cli or executable("aws"), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        or "?",
        # Other work on the machine slows every figure: the 1-minute load when asked.
        "load_average": os.getloadavg()[0],
    }


def run_growth(
    tables: list[int], jobs: list[int], concurrency: list[int], aws_cli: str | None = None
) -> dict[str, Any]:
    """Only the growth figures (--growth-only), with the controller running `aws_cli`."""
    compileall.compile_dir(ROOT / "controller", quiet=1)
    host = machine(aws_cli)  # the load as the run starts
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(moto, Path(tmp))
        if aws_cli:
            bench.env["AWS_CLI"] = aws_cli
        found = growth(moto, bench, tables, jobs, concurrency)
    return {"date": time.strftime("%Y-%m-%d"), "machine": host, "growth": found}


def run_night(tables: int, exported: int, ticks_per_step: int) -> list[dict[str, Any]]:
    compileall.compile_dir(ROOT / "controller", quiet=1)
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(moto, Path(tmp))
        return [
            night(moto, bench, (tables, exported, ticks_per_step), scope)
            for scope in ("prefix", "named")
        ]


def run(
    rounds: int,
    ticks: int,
    interval: float,
    source_rounds: int = 3,
    scale: tuple[list[int], list[int], list[int]] = ([], [], []),
) -> dict[str, Any]:
    # Bytecode for the package, as pip writes it when it installs into the image: without it
    # (PYTHONDONTWRITEBYTECODE, a fresh checkout) every start would compile the sources anew.
    compileall.compile_dir(ROOT / "controller", quiet=1)
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        bench = Bench(moto, Path(tmp))
        bench.seed_steady()
        bench.record_instant_cli()
        instant_rounds = 3 * rounds  # each takes a tenth of a second: more rounds, less noise
        bench.once_instant(), bench.bare_instant()  # warm-up, as below
        once_instant, bare_instant, healthchecks = [], [], []
        for _ in range(instant_rounds):
            once_instant.append(bench.once_instant())
            bare_instant.append(bench.bare_instant())
            healthchecks.append(bench.healthcheck())
        per_call = bench.per_call(10 * rounds)
        bench.once()  # warm caches (CLI data files, .pyc) so round 1 is not an outlier
        bench.baseline()
        tick_times, base_times, together_times, own = [], [], [], []
        for _ in range(rounds):  # interleaved, so drift in machine load hits both alike
            tick_times.append(bench.once())
            base_times.append(bench.baseline())
            together_times.append(bench.together())
            own.append(bench.own_usage())

        steady_calls = bench.calls_per_tick(lambda: None)
        cluster_id = bench.world.start_cluster(f"{PREFIX}bench")
        pause_calls = bench.calls_per_tick(lambda: None)
        bench.world.terminate_cluster(cluster_id)
        resume_calls = bench.calls_per_tick(lambda: None)

        loop = bench.long_loop(ticks, interval)
        # The same loop serving HTTP and scraped all along: the server's cost to a tick.
        steady_calls_http = bench.calls_per_tick(lambda: None, HTTP_PORT=str(free_port()))
        http_usage = bench.own_usage(HTTP_PORT=str(free_port()), HTTP_ADDRESS="127.0.0.1")
        http_loop = bench.long_loop(ticks, interval, http_port=free_port())
        by_source = bench.per_source(moto, source_rounds) if source_rounds else []
        # Last: it resets moto.
        grown = growth(moto, bench, *scale) if any(scale) else None

    tick, base = spread(tick_times), spread(base_times)
    instant, bare = spread(once_instant), spread(bare_instant)
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "tick_wall_s": tick,
        "baseline_wall_s": base,
        "ratio": tick["median"] / base["median"],
        "loop_ratio": loop["tick_wall_s"]["median"] / base["median"],
        "together_wall_s": spread(together_times),
        "floor_ratio": statistics.median(together_times) / base["median"],
        "cli_calls": {"steady": steady_calls, "pause": pause_calls, "resume": resume_calls},
        "instant_once_wall_s": instant,
        "instant_bare_wall_s": bare,
        "instant_ratio": instant["median"] / bare["median"],
        "healthcheck_wall_s": spread(healthchecks),
        "per_call_ms": per_call,
        "runner_overhead_ms": per_call["runner"] - per_call["subprocess"],
        "once_own_cpu_ms": spread([1000 * o["cpu"] for o in own]),
        "once_own_peak_rss_mib": max(o["peak_rss_kib"] for o in own) / 1024,
        "once_children_peak_rss_mib": max(o["children_maxrss_kib"] for o in own) / 1024,
        "loop": loop,
        "http": {
            "steady_cli_calls": steady_calls_http,
            "once_own_peak_rss_mib": http_usage["peak_rss_kib"] / 1024,
            "once_own_cpu_ms": 1000 * http_usage["cpu"],
            "loop": http_loop,
        },
        "sources": by_source,
        **({"growth": grown} if grown else {}),
    }


def table(result: dict[str, Any]) -> str:
    tick, base, loop = result["tick_wall_s"], result["baseline_wall_s"], result["loop"]
    instant, bare = result["instant_once_wall_s"], result["instant_bare_wall_s"]
    early, late = loop["early"], loop["late"]
    calls = result["cli_calls"]
    rows = [
        ("date / machine", f"{result['date']}, {result['machine']['cores']} cores, "
         f"Python {result['machine']['python']}, {result['machine']['aws_cli'].split()[0]}"),
        ("--once tick, wall (median [min-max])",
         f"{tick['median']:.2f} s [{tick['min']:.2f}-{tick['max']:.2f}], n={tick['n']}"),
        ("baseline: 2 queries in sequence",
         f"{base['median']:.2f} s [{base['min']:.2f}-{base['max']:.2f}], n={base['n']}"),
        ("ratio --once tick / baseline (target <= 0.7)", f"{result['ratio']:.2f}"),
        ("loop tick, wall (median [min-max])",
         f"{loop['tick_wall_s']['median']:.2f} s [{loop['tick_wall_s']['min']:.2f}-"
         f"{loop['tick_wall_s']['max']:.2f}], n={loop['tick_wall_s']['n']}"),
        ("ratio loop tick / baseline (target <= 0.55)", f"{result['loop_ratio']:.2f}"),
        ("floor: the 2 queries started together / baseline", f"{result['floor_ratio']:.2f}"),
        ("instant CLI: --once, wall (median [min-max])",
         f"{instant['median'] * 1000:.0f} ms [{instant['min'] * 1000:.0f}-"
         f"{instant['max'] * 1000:.0f}], n={instant['n']}"),
        ("instant CLI: bare Python, sh + the 2 calls",
         f"{bare['median'] * 1000:.0f} ms [{bare['min'] * 1000:.0f}-"
         f"{bare['max'] * 1000:.0f}], n={bare['n']}"),
        ("ratio instant --once / bare (target <= 1.35)", f"{result['instant_ratio']:.2f}"),
        ("healthcheck, wall (median)", f"{result['healthcheck_wall_s']['median'] * 1000:.0f} ms"),
        ("per call, instant CLI: subprocess / sh / sh _timeout / runner",
         " / ".join(f"{result['per_call_ms'][k]:.1f}"
                    for k in ("subprocess", "sh", "sh_timeout", "runner")) + " ms"),
        ("runner overhead per call (target < 10 ms)",
         f"{result['runner_overhead_ms']:.1f} ms"),
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
    http = result["http"]
    hloop = http["loop"]
    metrics = hloop["metrics"]
    reads = metrics.get("emr list-clusters", 0) + metrics.get("ecs describe-services", 0)
    rows += [
        (
            "HTTP_PORT: steady tick CLI calls (fake CLI / /metrics)",
            f"{http['steady_cli_calls']} / {reads / max(1, metrics.get('ticks', 0)):.2f} "
            f"per tick over {metrics.get('ticks', 0):.0f} ticks",
        ),
        (
            "HTTP_PORT: loop tick wall, median, without -> with",
            f"{loop['tick_wall_s']['median']:.3f} -> {hloop['tick_wall_s']['median']:.3f} s "
            f"(stdev {loop['tick_wall_s']['stdev']:.3f} / {hloop['tick_wall_s']['stdev']:.3f})",
        ),
        (
            f"HTTP_PORT: loop own CPU per tick, without -> with ({hloop['scrapes']} scrapes)",
            f"{loop['own_cpu_ms_per_tick']:.1f} -> {hloop['own_cpu_ms_per_tick']:.1f} ms",
        ),
        (
            "HTTP_PORT: --once own peak RSS, without -> with",
            f"{result['once_own_peak_rss_mib']:.1f} -> {http['once_own_peak_rss_mib']:.1f} MiB",
        ),
        (
            "HTTP_PORT: loop peak RSS late window, without -> with",
            f"{late['rss_mib']:.1f} -> {hloop['late']['rss_mib']:.1f} MiB",
        ),
    ]
    rows += [
        (f"steady --once tick, {s['sources']}: calls, wall (median)",
         f"{s['calls']}, {s['wall_s']['median']:.2f} s")
        for s in result.get("sources", [])
    ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    shown = "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
    return f"{shown}\n\n{growth_table(result)}" if "growth" in result else shown


def sizes(text: str) -> list[int]:
    """ "10,50,200" -> [10, 50, 200]; "" -> [] (skip that part)."""
    return [int(size) for size in text.split(",") if size.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved tick/baseline pairs")
    parser.add_argument("--ticks", type=int, default=20, help="ticks of the long loop")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="interval of the long loop (above a tick)"
    )
    parser.add_argument(
        "--source-rounds",
        type=int,
        # Off by default: its 15 combinations alone take two minutes.
        default=0,
        help="--once ticks per combination of sources (default 0: skip that report)",
    )
    parser.add_argument(
        "--tables",
        type=sizes,
        default="5,10",
        help="table counts for the pause/resume growth, comma-separated ('' to skip)",
    )
    parser.add_argument(
        "--jobs",
        type=sizes,
        default="5,10",
        help="matching Glue job counts for the fan-out growth, comma-separated ('' to skip)",
    )
    parser.add_argument(
        "--concurrency",
        type=sizes,
        default="",
        help="MAX_CONCURRENT_CALLS values to time the middle Glue size at (default: none)",
    )
    parser.add_argument(
        "--growth-only", action="store_true", help="only the growth with tables and jobs"
    )
    parser.add_argument(
        "--aws-cli",
        help="with --growth-only: the AWS CLI the controller runs (default: v1 from .venv)",
    )
    parser.add_argument(
        "--night",
        type=sizes,
        default="",
        help="only an exporter's night in both pause scopes: TABLES,EXPORTED,TICKS_PER_STEP "
        "(e.g. 200,10,3)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scale = (args.tables, args.jobs, args.concurrency)
    if args.night:
        found = run_night(*args.night)
        print(json.dumps(found, indent=2) if args.json else night_table(found))
        return 0
    if args.growth_only:
        result = run_growth(*scale, aws_cli=args.aws_cli)
        print(json.dumps(result, indent=2) if args.json else growth_table(result))
        return 0
    result = run(args.rounds, args.ticks, args.interval, args.source_rounds, scale)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
