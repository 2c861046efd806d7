"""Every log line the docs quote is one the controller prints for the situation they describe.

Each example below is quoted from its page (the test fails when the page no longer holds it),
and the situation is played through the controller's own code: its loop, rule, actor, report
and log format, against a stand-in AWS (`Aws`). Where a line shows an AWS error, the call goes
through the real CLI runner (`AwsCli`) to tests/support/fake_aws.py, which fails as the CLI
would, so that the command line and the error's classification are the runner's own.

In a quote, `...` stands for any text, a timestamp for any timestamp, and a retry's wait for
any wait (it is random). Every timestamped line in a code block of these pages must be one of
the examples, so that a new one cannot go untested.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from controller.autoscalers.dynamodb import RECORD_PREFIX, Dynamodb
from controller.autoscalers.ecs import PAUSED_COUNT_TAG, Ecs
from controller.aws import AwsCli
from controller.config import Config
from controller.loop import Controller, until_stopped, workers
from controller.release import release
from controller.runtime import logs
from controller.runtime.health import check
from controller.runtime.heartbeat import Heartbeat
from controller.sources.emr import Emr
from controller.sources.glue import Glue
from tests.support.image import ROOT

FAKE_AWS = ROOT / "tests" / "support" / "fake_aws.py"
# The CLI double's plans and call logs, and a heartbeat file; removed when the tests end.
_SCRATCH = tempfile.TemporaryDirectory(prefix="log-examples-")
ACCOUNT = "123456789012"
REGION = "us-east-1"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/autoscaling/dynamodb-autoscaler"
# The settings the pages' examples run with: the README's.
ECS = Config(
    emr_region=REGION,
    sources=(Emr("dynamodb-backup-", REGION),),
    autoscalers=(Ecs("autoscaling", REGION, "dynamodb-autoscaler"),),
)
NATIVE = replace(ECS, autoscalers=(Dynamodb("orders-", REGION),))
BACKUP = ("dynamodb-backup-2026-11-23", "j-JX1ZZ6JKKGQ5F", "WAITING")
# When the backup cluster was created, and when the examples' ticks happen (its age).
CREATED = datetime(2026, 11, 23, 16, 12, 8, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 23, 16, 43, 37, 245000, tzinfo=timezone.utc)
DENIED = (
    "An error occurred (AccessDeniedException) when calling the {} operation: User: "
    f"arn:aws:sts::{ACCOUNT}:assumed-role/dynamodb-autoscaler-control/i-0123 is not authorized "
    "to perform: {}"
)
NO_CREDENTIALS = (
    '\nUnable to locate credentials. You can configure credentials by running "aws configure".'
)


# --- a stand-in AWS ---------------------------------------------------------------------------


@dataclass
class Aws:
    """Answers like the CLI would, from a few facts. An operation in `fail` goes through the
    real CLI runner to the CLI double, which writes that stderr (and, after `times` failures,
    prints `then`: JSON, or any text)."""

    clusters: list[tuple[str, str, str]] = field(default_factory=list)
    desired: int | None = 3  # None: the service is missing
    status: str = "ACTIVE"
    service_tags: dict[str, str] = field(default_factory=dict)
    # (resource id, scalable dimension) -> the suspended flags that are on
    targets: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    table_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    fail: dict[str, tuple[str, int, dict[str, Any] | str | None]] = field(default_factory=dict)
    home: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(dir=_SCRATCH.name)))
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        op = " ".join(args[:2])
        if op in self.fail:
            return self.through_the_cli(op, args, mutating)
        answer = getattr(self, op.replace(" ", "_").replace("-", "_"))
        return dict(answer(list(args)))

    def through_the_cli(self, op: str, args: Sequence[str], mutating: bool) -> dict[str, Any]:
        plan = self.home / "plan.json"
        with self.lock:  # one plan for every failing operation, written once
            if not plan.exists():
                steps = {}
                for failing, (stderr, times, then) in self.fail.items():
                    steps[failing] = {"fail": times, "stderr": stderr, "exit": 254}
                    if then is not None:
                        steps[failing]["stdout"] = (
                            then if isinstance(then, str) else json.dumps(then)
                        )
                plan.write_text(json.dumps(steps))
        env = {
            "PATH": os.environ["PATH"],
            "FAKE_AWS_PLAN": str(plan),
            "FAKE_AWS_CALLS": str(self.home / "calls.jsonl"),
        }
        cli = AwsCli(str(FAKE_AWS), env=env, timeout=30, attempts=4, stop=self.stop)
        return cli(args, mutating=mutating)

    # --- EMR ---
    def emr_list_clusters(self, args: list[str]) -> dict[str, Any]:
        created = CREATED.timestamp()
        return {
            "Clusters": [
                {
                    "Id": ident,
                    "Name": name,
                    "Status": {"State": state, "Timeline": {"CreationDateTime": created}},
                }
                for name, ident, state in self.clusters
            ]
        }

    # --- ECS ---
    def service(self) -> dict[str, Any]:
        return {
            "serviceArn": SERVICE_ARN,
            "serviceName": "dynamodb-autoscaler",
            "status": self.status,
            "desiredCount": self.desired,
            "runningCount": self.desired,
            "pendingCount": 0,
            "tags": [{"key": k, "value": v} for k, v in self.service_tags.items()],
        }

    def ecs_describe_services(self, args: list[str]) -> dict[str, Any]:
        if self.desired is None:
            return {"services": [], "failures": [{"arn": SERVICE_ARN, "reason": "MISSING"}]}
        return {"services": [self.service()], "failures": []}

    def ecs_update_service(self, args: list[str]) -> dict[str, Any]:
        self.desired = int(args[args.index("--desired-count") + 1])
        return {"service": self.service()}

    def ecs_tag_resource(self, args: list[str]) -> dict[str, Any]:
        for tag in json.loads(args[args.index("--tags") + 1]):
            self.service_tags[tag["key"]] = tag["value"]
        return {}

    def ecs_untag_resource(self, args: list[str]) -> dict[str, Any]:
        for key in args[args.index("--tag-keys") + 1 :]:
            self.service_tags.pop(key, None)
        return {}

    # --- DynamoDB's own auto scaling, and the records on the tables ---
    def application_autoscaling_describe_scalable_targets(self, args: list[str]) -> dict[str, Any]:
        flags = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended")
        flags += ("ScheduledScalingSuspended",)
        return {
            "ScalableTargets": [
                {
                    "ServiceNamespace": "dynamodb",
                    "ResourceId": resource,
                    "ScalableDimension": dimension,
                    "ScalableTargetARN": f"arn:aws:application-autoscaling:{REGION}:{ACCOUNT}:"
                    f"scalable-target/{resource.replace('/', '')}{dimension[-20:]}",
                    "SuspendedState": {flag: flag in on for flag in flags},
                }
                for (resource, dimension), on in sorted(self.targets.items())
            ]
        }

    def application_autoscaling_register_scalable_target(self, args: list[str]) -> dict[str, Any]:
        key = (args[args.index("--resource-id") + 1], args[args.index("--scalable-dimension") + 1])
        state = args[args.index("--suspended-state") + 1]
        self.targets[key] = {
            flag for flag, on in (item.split("=") for item in state.split(",")) if on == "true"
        }
        return {}

    def resourcegroupstaggingapi_get_resources(self, args: list[str]) -> dict[str, Any]:
        arns = args[args.index("--resource-arn-list") + 1 :]
        return {
            "ResourceTagMappingList": [
                {
                    "ResourceARN": arn,
                    "Tags": [{"Key": k, "Value": v} for k, v in self.table_tags[arn].items()],
                }
                for arn in arns
                if self.table_tags.get(arn)
            ]
        }

    def tables(self, arns: Sequence[str], tags: dict[str, str] | None, keys: Sequence[str]) -> None:
        for arn in arns:
            held = self.table_tags.setdefault(arn, {})
            held.update(tags or {})
            for key in keys:
                held.pop(key, None)

    def dynamodb_tag_resource(self, args: list[str]) -> dict[str, Any]:
        tags = json.loads(args[args.index("--tags") + 1])
        arn = args[args.index("--resource-arn") + 1]
        self.tables([arn], {t["Key"]: t["Value"] for t in tags}, ())
        return {}

    def dynamodb_untag_resource(self, args: list[str]) -> dict[str, Any]:
        keys = args[args.index("--tag-keys") + 1 :]
        self.tables([args[args.index("--resource-arn") + 1]], None, keys)
        return {}

    def resourcegroupstaggingapi_tag_resources(self, args: list[str]) -> dict[str, Any]:
        arns = args[args.index("--resource-arn-list") + 1 : args.index("--tags")]
        self.tables(arns, json.loads(args[args.index("--tags") + 1]), ())
        return {"FailedResourcesMap": {}}

    def resourcegroupstaggingapi_untag_resources(self, args: list[str]) -> dict[str, Any]:
        arns = args[args.index("--resource-arn-list") + 1 : args.index("--tag-keys")]
        self.tables(arns, None, args[args.index("--tag-keys") + 1 :])
        return {"FailedResourcesMap": {}}


def table_arn(table: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"


def autoscaled(aws: Aws, table: str, indexes: Sequence[str] = ()) -> None:
    """Read and write targets for the table and each index, nothing suspended."""
    for io_ in ("Read", "Write"):
        aws.targets[(f"table/{table}", f"dynamodb:table:{io_}CapacityUnits")] = set()
        for index in indexes:
            aws.targets[(f"table/{table}/index/{index}", f"dynamodb:index:{io_}CapacityUnits")] = (
                set()
            )


# --- what the controller prints ----------------------------------------------------------------


@contextmanager
def printed(json_lines: bool = False) -> Iterator[list[str]]:
    """The lines the controller logs meanwhile, formatted as `logs.setup` formats them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter() if json_lines else logs.TextFormatter())
    logger = logging.getLogger("controller")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[str] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines += out.getvalue().splitlines()


def ticks(
    config: Config,
    aws: Aws,
    *steps: Callable[[Aws], None],
    at: Sequence[float] = (),
    json_lines: bool = False,
) -> list[str]:
    """One tick, then one more after each step; the tick n happens at `at[n]` seconds."""
    clock = iter([*at, *[1e6] * (len(steps) + 1)])
    now = [0.0]
    with (
        printed(json_lines) as lines,
        ThreadPoolExecutor(workers(config, 2)) as pool,
    ):
        controller = Controller(config, aws, pool, clock=lambda: now[0], wall=lambda: NOW)
        for step in (lambda _: None, *steps):
            step(aws)
            now[0] = next(clock)
            controller.tick()
    return lines


def backup_ends(aws: Aws) -> None:
    aws.clusters.clear()


def backup_starts(aws: Aws) -> None:
    aws.clusters.append(BACKUP)


# --- the situations the pages describe ----------------------------------------------------------


@functools.cache
def around_a_backup() -> list[str]:
    """RESUME_DELAY=300: steady, a backup starts, ends, and the resume waits out the delay."""
    aws = Aws(desired=3)
    config = replace(ECS, resume_delay=300)
    return ticks(config, aws, backup_starts, backup_ends, lambda _: None, at=(0, 3, 63, 304))


@functools.cache
def pause_as_json() -> list[str]:
    return ticks(ECS, Aws(clusters=[BACKUP], desired=3), json_lines=True)


@functools.cache
def already_paused() -> list[str]:
    aws = Aws(clusters=[BACKUP], desired=0, service_tags={f"{PAUSED_COUNT_TAG}:6930c2a14f0e": "3"})
    return ticks(ECS, aws)


@functools.cache
def emr_unreadable() -> list[str]:
    """No credentials: every query fails, and is not retried."""
    aws = Aws(desired=0)
    aws.fail["emr list-clusters"] = (NO_CREDENTIALS, -1, None)
    aws.fail["ecs describe-services"] = (NO_CREDENTIALS, -1, None)
    return ticks(ECS, aws)


@functools.cache
def glue_unreadable() -> list[str]:
    aws = Aws(desired=0, service_tags={PAUSED_COUNT_TAG: "3"})
    aws.fail["glue list-jobs"] = (DENIED.format("ListJobs", "glue:ListJobs"), -1, None)
    return ticks(replace(ECS, sources=(*ECS.sources, Glue("dynamodb-export-", REGION))), aws)


@functools.cache
def dry_run_resume() -> list[str]:
    aws = Aws(desired=0, service_tags={PAUSED_COUNT_TAG: "3"})
    return ticks(replace(ECS, dry_run=True), aws)


@functools.cache
def set_to_zero_by_hand() -> list[str]:
    return ticks(ECS, Aws(desired=0))


@functools.cache
def unusable_record() -> list[str]:
    return ticks(ECS, Aws(desired=0, service_tags={PAUSED_COUNT_TAG: "three"}))


@functools.cache
def record_settling() -> list[str]:
    """A backup ends: the resume, and a record that waits to settle at the next tick."""
    aws = Aws(clusters=[BACKUP], desired=3)
    return ticks(ECS, aws, backup_ends, lambda _: None)


@functools.cache
def service_draining() -> list[str]:
    return ticks(ECS, Aws(clusters=[BACKUP], status="DRAINING"))


@functools.cache
def service_missing() -> list[str]:
    return ticks(ECS, Aws(clusters=[BACKUP], desired=None))


@functools.cache
def cluster_not_found() -> list[str]:
    aws = Aws()
    error = "An error occurred (ClusterNotFoundException) when calling the DescribeServices "
    aws.fail["ecs describe-services"] = (error + "operation: Cluster not found.", -1, None)
    return ticks(replace(ECS, autoscalers=(Ecs("nope", REGION, "svc"),)), aws)


@functools.cache
def update_denied() -> list[str]:
    aws = Aws(clusters=[BACKUP], desired=3)
    denied = DENIED.format("UpdateService", f"ecs:UpdateService on resource: {SERVICE_ARN}")
    aws.fail["ecs update-service"] = (denied, -1, None)
    return ticks(ECS, aws)


@functools.cache
def tag_denied() -> list[str]:
    aws = Aws(clusters=[BACKUP], desired=3)
    denied = DENIED.format("TagResource", f"ecs:TagResource on resource: {SERVICE_ARN}")
    aws.fail["ecs tag-resource"] = (denied, -1, None)
    return ticks(ECS, aws)


@functools.cache
def short_arn() -> list[str]:
    aws = Aws(clusters=[BACKUP], desired=3)
    error = "An error occurred (InvalidParameterException) when calling the TagResource "
    message = "operation: Long arn format must be used for tagging operations"
    aws.fail["ecs tag-resource"] = (error + message, -1, None)
    return ticks(ECS, aws)


@functools.cache
def throttled() -> list[str]:
    aws = Aws(desired=3)
    error = "An error occurred (ThrottlingException) when calling the ListClusters operation "
    throttling = error + "(reached max retries: 2): Rate exceeded"
    aws.fail["emr list-clusters"] = (throttling, 1, {"Clusters": []})
    return ticks(ECS, aws)


@functools.cache
def forged_tag() -> list[str]:
    forged = "7\n2026-01-01T00:00:00.000Z INFO    FORGED resume done"
    return ticks(ECS, Aws(clusters=[BACKUP], desired=0, service_tags={PAUSED_COUNT_TAG: forged}))


@functools.cache
def update_unreadable() -> list[str]:
    """AWS accepts the update, but its answer cannot be read."""
    aws = Aws(clusters=[BACKUP], desired=3)
    aws.fail["ecs update-service"] = ("", 0, "{not JSON")
    return ticks(ECS, aws)


@functools.cache
def a_bug() -> list[str]:
    """A tick that crashes (here the runner raises what no AWS answer can)."""

    def crash(args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        raise ZeroDivisionError("a bug")

    with printed() as lines, ThreadPoolExecutor(workers(ECS, 2)) as pool:
        until_stopped(Controller(ECS, crash, pool), interval=60, once=True, stop=threading.Event())
    return lines


@dataclass
class Jobs(Aws):
    """Aws with Glue jobs, none of them running."""

    jobs: list[str] = field(default_factory=list)

    def glue_list_jobs(self, args: list[str]) -> dict[str, Any]:
        return {"JobNames": self.jobs}


@functools.cache
def too_many_jobs() -> list[str]:
    """One Glue job per table, for more tables than MAX_FAN_OUT."""
    aws = Jobs(desired=0, jobs=[f"orders-export-{n:03}" for n in range(231)])
    return ticks(replace(ECS, sources=(Glue("orders-export-", REGION),)), aws)


@dataclass
class SlowTables(Aws):
    """Aws whose changes of scaling wait for `go`, but those of the first `quick` tables."""

    quick: int = 0
    go: threading.Event = field(default_factory=threading.Event)

    def application_autoscaling_register_scalable_target(self, args: list[str]) -> dict[str, Any]:
        table = args[args.index("--resource-id") + 1].split("/")[1]
        if int(table.removeprefix("orders-")) >= self.quick:
            assert self.go.wait(30), "the test never let the changes finish"
        return super().application_autoscaling_register_scalable_target(args)


@functools.cache
def long_pause() -> list[str]:
    """A pause of 200 tables: 37 done when 10 s have passed, then the rest."""
    aws = SlowTables(clusters=[BACKUP], quick=37)
    for number in range(200):
        autoscaled(aws, f"orders-{number:03}")
    now = [0.0]

    def waiting(
        futures: set[Future[Any]], timeout: float
    ) -> tuple[set[Future[Any]], set[Future[Any]]]:
        if aws.go.is_set():
            done, pending = wait(futures)
            return done, pending
        while sum(future.done() for future in futures) < aws.quick:
            wait([f for f in futures if not f.done()], return_when=FIRST_COMPLETED)
        now[0] += timeout
        aws.go.set()  # after this wait: the next one sees the rest finish
        return {f for f in futures if f.done()}, {f for f in futures if not f.done()}

    with printed() as lines, ThreadPoolExecutor(workers(NATIVE, 2)) as pool:
        controller = Controller(
            NATIVE, aws, pool, clock=lambda: now[0], wall=lambda: NOW, waiting=waiting
        )
        controller.tick()
    return lines


@functools.cache
def long_tick() -> list[str]:
    """The loop, with a first tick that took 75 s by its clock; the second ends the loop."""
    aws = Aws(desired=3)
    stop = threading.Event()
    times = iter([0.0, 75.4, 75.4, 76.0])
    with printed() as lines, ThreadPoolExecutor(workers(ECS, 2)) as pool:
        controller = Controller(ECS, aws, pool, stop, wall=lambda: NOW)
        ticks_left = [2]
        tick = controller.tick

        def counted() -> bool:
            ticks_left[0] -= 1
            if not ticks_left[0]:
                stop.set()
            return tick()

        controller.tick = counted  # type: ignore[method-assign]
        until_stopped(controller, interval=60, once=False, stop=stop, clock=lambda: next(times))
    return lines


def orders(aws: Aws) -> None:
    """orders-eu with an index, orders-us with its write target suspended by a person."""
    autoscaled(aws, "orders-eu", ["by-date"])
    autoscaled(aws, "orders-us")
    aws.targets[("table/orders-us", "dynamodb:table:WriteCapacityUnits")] = {
        "DynamicScalingInSuspended",
        "DynamicScalingOutSuspended",
        "ScheduledScalingSuspended",
    }


@functools.cache
def native_pause() -> list[str]:
    aws = Aws(clusters=[BACKUP])
    orders(aws)
    return ticks(NATIVE, aws)


@functools.cache
def native_record_unreadable() -> list[str]:
    aws = Aws()
    orders(aws)
    aws.targets[("table/orders-eu", "dynamodb:table:ReadCapacityUnits")] = {
        "DynamicScalingInSuspended"
    }
    denied = DENIED.format("GetResources", "tag:GetResources")
    aws.fail["resourcegroupstaggingapi get-resources"] = (denied, -1, None)
    return ticks(NATIVE, aws)


def released(config: Config, aws: Aws) -> list[str]:
    with printed() as lines:
        release(config, aws, threading.Event())
    return lines


def paused_tables(aws: Aws) -> None:
    """orders-eu's two table targets suspended by a pause, with its records."""
    autoscaled(aws, "orders-eu")
    flags = "DynamicScalingInSuspended DynamicScalingOutSuspended ScheduledScalingSuspended"
    for target, where in (("Read", "read"), ("Write", "write")):
        aws.targets[("table/orders-eu", f"dynamodb:table:{target}CapacityUnits")] = set(
            flags.split()
        )
        aws.table_tags.setdefault(table_arn("orders-eu"), {})[
            f"{RECORD_PREFIX}6930c2a14f0e:table:{where}"
        ] = flags


@functools.cache
def release_both() -> list[str]:
    aws = Aws(clusters=[BACKUP], desired=0, service_tags={f"{PAUSED_COUNT_TAG}:6930c2a14f0e": "3"})
    paused_tables(aws)
    return released(replace(ECS, autoscalers=(*ECS.autoscalers, Dynamodb("orders-", REGION))), aws)


@functools.cache
def release_unusable() -> list[str]:
    aws = Aws(desired=0, service_tags={f"{PAUSED_COUNT_TAG}:6930c2a14f0e": "two"})
    return released(ECS, aws)


@functools.cache
def release_dry_run() -> list[str]:
    aws = Aws(desired=0, service_tags={f"{PAUSED_COUNT_TAG}:6930c2a14f0e": "3"})
    return released(replace(ECS, dry_run=True), aws)


@functools.cache
def release_again() -> list[str]:
    return released(ECS, Aws(desired=3))


@functools.cache
def unhealthy() -> list[str]:
    """What `healthcheck` says: before any tick, and 250 s after the last one."""
    path = Path(tempfile.mkdtemp(dir=_SCRATCH.name)) / "heartbeat"
    before = check(path, 1000.0).reason
    Heartbeat(path, 60.0, 30.0, clock=lambda: 1000.0)()
    return [before, check(path, 1250.0).reason]


# --- the examples -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Example:
    page: str
    quote: str
    situation: Callable[[], list[str]]

    def __str__(self) -> str:
        return f"{self.page}: {self.quote[:60]}"


README = "README.md"
HOW = "docs/how-it-works.md"
TROUBLE = "docs/troubleshooting.md"
RELIABILITY = "docs/reliability.md"
SOURCES = "docs/sources.md"
PAUSE_LINE = (
    "2026-11-23T16:43:37.245Z NOTICE  backups: EMR cluster dynamodb-backup-2026-11-23 "
    "(j-JX1ZZ6JKKGQ5F, WAITING) | service autoscaling/dynamodb-autoscaler: desired=3 running=3 "
    "pending=0 status=ACTIVE | action: pause: desired 3 -> 0 (backup active)"
)
SERVICE_AT_0 = (
    "service autoscaling/dynamodb-autoscaler: desired=0 running=0 pending=0 status=ACTIVE "
    "paused-count-tag=3"
)
EXAMPLES = [
    Example(README, PAUSE_LINE, around_a_backup),
    Example(README, "unknown sources: Glue (query failed)", glue_unreadable),
    Example(README, "| ok=false", glue_unreadable),
    Example(
        HOW,
        "2026-11-23T16:43:34.534Z INFO    backups: none active | service autoscaling/"
        "dynamodb-autoscaler: desired=3 running=3 pending=0 status=ACTIVE | action: no change "
        "(no backup active, already running)",
        around_a_backup,
    ),
    Example(HOW, PAUSE_LINE, around_a_backup),
    Example(
        HOW,
        f"2026-11-23T16:44:37.912Z INFO    backups: none active | {SERVICE_AT_0} | action: no "
        "change (resume pending: no backup for 60s of 300s)",
        around_a_backup,
    ),
    Example(
        HOW,
        f"2026-11-23T16:48:39.077Z NOTICE  backups: none active | {SERVICE_AT_0} | action: resume: "
        "desired 0 -> 3 (no backup active, restoring the count recorded at pause)",
        around_a_backup,
    ),
    Example(
        HOW,
        "paused-count-tag=7\\n2026-01-01T00:00:00.000Z INFO    FORGED resume done",
        forged_tag,
    ),
    Example(
        HOW,
        "tables orders-*: 6 scalable targets, 1 suspended",
        native_pause,
    ),
    Example(HOW, "pause: table orders-eu, 4 of 4 scalable targets", native_pause),
    Example(
        HOW,
        "2026-11-23T16:39:59.129Z ERROR   ECS query failed: `aws ecs describe-services --cluster "
        "nope --services svc --include TAGS --region us-east-1 --output json` failed: "
        "ClusterNotFoundException: Cluster not found.",
        cluster_not_found,
    ),
    Example(
        HOW, "backups: none seen | unknown sources: Glue (query failed) | ...", glue_unreadable
    ),
    Example(HOW, "pause: desired 3 -> 0 FAILED: ...", update_denied),
    Example(HOW, "no change (resume pending: no backup for 60s of 300s)", around_a_backup),
    Example(
        HOW,
        "2026-12-02T14:05:21.310Z NOTICE  pause in progress: 37 of 200 done, 10s so far",
        long_pause,
    ),
    Example(
        HOW,
        "2026-12-02T14:06:15.802Z WARNING the tick took 75s, longer than POLL_INTERVAL (60s): the "
        "next one starts at once. Give the controller more CPUs or MAX_CONCURRENT_CALLS, or raise "
        "POLL_INTERVAL (docs/performance.md#sizing)",
        long_tick,
    ),
    Example(
        SOURCES,
        "Glue query failed: `aws glue list-jobs --region us-east-1` failed: TooManyToQuery: 231 "
        "Glue jobs named 'orders-export-'..., more than MAX_FAN_OUT (200) to query one by one "
        "each tick: raise MAX_FAN_OUT to 231 or more to query them all (docs/sources.md says "
        "what each costs)",
        too_many_jobs,
    ),
    Example(HOW, "EMR query failed: ...", emr_unreadable),
    Example(HOW, "Glue query failed: ...", glue_unreadable),
    Example(HOW, "ECS query failed: ...", service_missing),
    Example(
        TROUBLE,
        "backups: EMR cluster dynamodb-backup-2026-11-23 (j-..., WAITING) | ... | action: no "
        "change (backup active, already paused)",
        already_paused,
    ),
    Example(TROUBLE, "no change (resume pending: no backup for 60s of 300s)", around_a_backup),
    Example(
        TROUBLE,
        "backups: none seen | unknown sources: EMR (query failed) | ... | action: no change (EMR "
        "state unknown, changing nothing) | ok=false",
        emr_unreadable,
    ),
    Example(TROUBLE, "EMR query failed: ...", emr_unreadable),
    Example(
        TROUBLE,
        "resume: desired 0 -> 3 (no backup active, ...; dry run, not applied)",
        dry_run_resume,
    ),
    Example(
        TROUBLE,
        "no change (the record of table orders-eu could not be read, changing nothing there)",
        native_record_unreadable,
    ),
    Example(TROUBLE, "reading the records on the tables failed: ...", native_record_unreadable),
    Example(TROUBLE, "no change (service is DRAINING, not ACTIVE)", service_draining),
    Example(
        TROUBLE,
        "ECS query failed: ... ServiceNotFound: service 'dynamodb-autoscaler' on cluster "
        "'autoscaling': MISSING",
        service_missing,
    ),
    Example(TROUBLE, "resume: desired 0 -> 1 (no backup active)", set_to_zero_by_hand),
    Example(TROUBLE, "recorded count unusable ('three')", unusable_record),
    Example(TROUBLE, "a recent record waits to settle", record_settling),
    Example(
        TROUBLE,
        "2026-11-25T19:13:54.082Z ERROR   EMR query failed: `aws emr list-clusters --active "
        "--region us-east-1 --output json` failed: NoCredentials: Unable to locate credentials. "
        'You can configure credentials by running "aws configure".',
        emr_unreadable,
    ),
    Example(
        TROUBLE,
        "2026-11-25T19:13:54.094Z ERROR   ECS query failed: `aws ecs describe-services --cluster "
        "autoscaling --services dynamodb-autoscaler --include TAGS --region us-east-1 --output "
        "json` failed: NoCredentials: Unable to locate credentials. You can configure "
        'credentials by running "aws configure".',
        emr_unreadable,
    ),
    Example(
        TROUBLE,
        "2026-11-25T19:13:54.094Z ERROR   backups: none seen | unknown sources: EMR (query "
        "failed) | service autoscaling/dynamodb-autoscaler: unknown | action: no change (EMR "
        "state unknown, changing nothing) | ok=false",
        emr_unreadable,
    ),
    Example(
        TROUBLE,
        "pause: desired 3 -> 0 FAILED: `aws ecs update-service ...` failed: "
        "AccessDeniedException: ...",
        update_denied,
    ),
    Example(TROUBLE, "could not record before pause ...", tag_denied),
    Example(
        TROUBLE,
        "InvalidParameterException: Long arn format must be used for tagging operations",
        short_arn,
    ),
    Example(
        TROUBLE,
        "attempt 1 of 4 failed, retrying in 1.3s: ... failed: ThrottlingException: Rate exceeded",
        throttled,
    ),
    Example(TROUBLE, "no successful tick yet: no heartbeat file at ...", unhealthy),
    Example(
        TROUBLE,
        "stale: last successful tick at ..., 250s ago; limit 210s (3 x 60s interval + 30s call "
        "timeout)",
        unhealthy,
    ),
    Example(RELIABILITY, "tick failed: unexpected error (a bug; please report it)", a_bug),
    Example(
        RELIABILITY,
        "`aws ecs update-service ...` succeeded but its answer could not be read (...); the step "
        "is done",
        update_unreadable,
    ),
    Example(RELIABILITY, "no change (... a recent record waits to settle)", record_settling),
    Example(RELIABILITY, "... NOTICE  release: resume: desired 0 -> 3", release_both),
    Example(
        RELIABILITY,
        "... NOTICE  release: resume: table orders-eu, 2 of 2 scalable targets",
        release_both,
    ),
    Example(
        RELIABILITY,
        "... ERROR   release: cannot release: the paused-count tag of service "
        "dynamodb-autoscaler holds 'two', not a count up to RESUME_COUNT_MAX=10: set its desired "
        "count by hand, then remove the tags "
        "dynamodb-autoscaler-control:paused-desired-count:6930c2a14f0e",
        release_unusable,
    ),
    Example(RELIABILITY, "release: nothing to release, no records of a pause found", release_again),
    Example(RELIABILITY, "release (dry run, not applied): would ...", release_dry_run),
]

_STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def pattern(quote: str) -> re.Pattern[str]:
    """The quote as a pattern: `...` any text, a timestamp any timestamp, a retry's wait any."""
    parts = []
    for part in re.split(rf"(\.\.\.|{_STAMP}|retrying in \d+\.\ds)", quote):
        if part == "...":
            parts.append(".*?")
        elif re.fullmatch(_STAMP, part):
            parts.append(_STAMP)
        elif part.startswith("retrying in "):
            parts.append(r"retrying in \d+\.\ds")
        else:
            parts.append(re.escape(part))
    return re.compile("".join(parts))


def words(text: str) -> str:
    """Text with each run of white space as one space, as Markdown reads it."""
    return " ".join(text.split())


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_the_page_quotes_it(example: Example) -> None:
    assert words(example.quote) in words((ROOT / example.page).read_text())


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_the_controller_prints_it(example: Example) -> None:
    lines = example.situation()
    whole = re.match(rf"({_STAMP}|\.\.\.) ", example.quote)
    found = pattern(example.quote)

    matched = [line for line in lines if (found.fullmatch if whole else found.search)(line)]

    assert matched, "\n".join([f"not printed: {example.quote}", "printed:", *lines])


def test_the_json_line_is_what_the_controller_prints() -> None:
    page = (ROOT / HOW).read_text()
    (block,) = re.findall(r"```json\n(.*?)\n```", page, re.S)
    quoted = json.loads(block)
    (printed_line,) = [json.loads(line) for line in pause_as_json() if '"action"' in line]

    assert set(quoted) == set(printed_line)
    assert re.fullmatch(_STAMP, printed_line["time"])
    assert pattern(quoted["message"]).fullmatch(printed_line["message"])
    others = {k: v for k, v in quoted.items() if k not in ("time", "message")}
    assert others == {k: printed_line[k] for k in others}


_LINE = re.compile(rf"^(?:{_STAMP}|\.\.\.) +(?:DEBUG|INFO|NOTICE|WARNING|ERROR) ", re.M)


@pytest.mark.parametrize("page", [README, HOW, TROUBLE, RELIABILITY])
def test_every_log_line_in_a_code_block_is_an_example(page: str) -> None:
    text = (ROOT / page).read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)
    quoted = [line for block in blocks for line in block.splitlines() if _LINE.match(line)]
    examples = {e.quote for e in EXAMPLES if e.page == page}

    assert quoted, f"no log lines found in {page}'s code blocks: is the pattern still right?"
    assert [line for line in quoted if line not in examples] == []
