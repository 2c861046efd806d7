"""Ticks with several sources of backups, through a fake runner: which calls a tick makes, what
pauses, what a failing source does, and MAX_BACKUP_AGE as the log and JSON fields show it."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from controller import report
from controller.autoscalers.dynamodb import Dynamodb
from controller.autoscalers.ecs import Ecs
from controller.aws import AwsError
from controller.config import Config
from controller.decide import oldest_age
from controller.loop import Controller, until_stopped, workers
from controller.sources.backup import Backup
from controller.sources.emr import Emr
from controller.sources.emr_eks import EmrEks
from controller.sources.emr_serverless import EmrServerless
from controller.sources.glue import Glue
from tests.support.rule import observed

NOW = datetime(2026, 11, 25, 19, 0, tzinfo=timezone.utc)
REGION = "us-east-1"
ALL = Config(
    emr_region=REGION,
    sources=(
        Emr("backup-", REGION),
        Glue("export-", REGION),
        EmrEks("spark-", REGION),
        EmrServerless("sls-", REGION),
    ),
    autoscalers=(Ecs("c1", "eu-west-1", "svc"),),
)
DENIED = AwsError("aws glue list-jobs", "AccessDeniedException", "not allowed", False)


def epoch(seconds_ago: float) -> float:
    return (NOW - timedelta(seconds=seconds_ago)).timestamp()


class FakeAws:
    """Answers like the CLI would for every source; records each call (thread-safe)."""

    def __init__(self, desired: int = 1) -> None:
        self.desired = desired
        self.clusters: list[tuple[str, str, float | str]] = []  # name, state, created
        self.glue: dict[str, list[tuple[str, str]]] = {}  # job -> [(run id, state)]
        self.eks: dict[str, list[dict[str, Any]]] = {"vc-1": []}
        self.serverless: dict[str, list[dict[str, Any]]] = {"app-1": []}
        self.fail: dict[str, Exception] = {}
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        with self.lock:
            self.calls.append(list(args))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.02)  # long enough for concurrent calls to overlap
            return self.answer(list(args))
        finally:
            with self.lock:
                self.in_flight -= 1

    def answer(self, args: list[str]) -> dict[str, Any]:  # noqa: PLR0911 (one per operation)
        op = " ".join(args[:2])
        if op in self.fail:
            raise self.fail[op]

        def arg(name: str) -> str:
            return args[args.index(name) + 1]

        match op:
            case "emr list-clusters":
                return {
                    "Clusters": [
                        {
                            "Id": f"j-{i}",
                            "Name": name,
                            "Status": {"State": state, "Timeline": {"CreationDateTime": created}},
                        }
                        for i, (name, state, created) in enumerate(self.clusters)
                    ]
                }
            case "glue list-jobs":
                return {"JobNames": sorted(self.glue)}
            case "glue get-job-runs":
                runs = self.glue[arg("--job-name")]
                return {
                    "JobRuns": [
                        {"Id": i, "JobRunState": s, "StartedOn": epoch(60)} for i, s in runs
                    ]
                }
            case "emr-containers list-virtual-clusters":
                return {"virtualClusters": [{"id": v, "state": "RUNNING"} for v in self.eks]}
            case "emr-containers list-job-runs":
                return {"jobRuns": self.eks[arg("--virtual-cluster-id")]}
            case "emr-serverless list-applications":
                return {"applications": [{"id": a, "state": "STARTED"} for a in self.serverless]}
            case "emr-serverless list-job-runs":
                return {"jobRuns": self.serverless[arg("--application-id")]}
            case "ecs describe-services":
                return {"services": [self.service()], "failures": []}
            case "ecs update-service":
                self.desired = int(arg("--desired-count"))
                return {"service": self.service()}
            case "ecs tag-resource" | "ecs untag-resource":
                return {}
        raise AssertionError(f"unexpected call {args}")

    def service(self) -> dict[str, Any]:
        return {
            "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/c1/svc",
            "serviceName": "svc",
            "status": "ACTIVE",
            "desiredCount": self.desired,
            "runningCount": self.desired,
            "pendingCount": 0,
            "tags": [],
        }

    def ops(self) -> list[str]:
        return sorted(" ".join(call[:2]) for call in self.calls)


def controller(config: Config, aws: FakeAws, pool: Any) -> Controller:
    return Controller(config, aws, pool, wall=lambda: NOW)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(workers(ALL, 4), thread_name_prefix="query") as executor:
        yield executor


KINDS: dict[str, Any] = {
    "emr_prefix": Emr,
    "glue_job_prefix": Glue,
    "emr_eks_job_prefix": EmrEks,
    "emr_serverless_job_prefix": EmrServerless,
}


def only(max_fan_out: int = 200, **prefixes: str) -> Config:
    """ALL with only the named prefixes set, each source bounded by `max_fan_out`."""
    found = tuple(
        kind(prefixes[name], REGION, max_fan_out)
        for name, kind in KINDS.items()
        if name in prefixes
    )
    return dataclasses.replace(ALL, sources=found, max_fan_out=max_fan_out)


EVERY = {name: source.prefix for name, source in zip(KINDS, ALL.sources, strict=True)}


def test_each_source_alone_pauses_and_makes_only_its_own_queries(pool: Any) -> None:
    cases = {
        "glue": (only(glue_job_prefix="export-"), ["glue get-job-runs", "glue list-jobs"]),
        "eks": (
            only(emr_eks_job_prefix="spark-"),
            ["emr-containers list-job-runs", "emr-containers list-virtual-clusters"],
        ),
        "serverless": (
            only(emr_serverless_job_prefix="sls-"),
            ["emr-serverless list-applications", "emr-serverless list-job-runs"],
        ),
    }
    for name, (config, queries) in cases.items():
        aws = FakeAws(desired=2)
        aws.glue = {"export-orders": [("jr_1", "RUNNING")], "other": [("jr_2", "RUNNING")]}
        aws.eks["vc-1"] = [{"id": "r-1", "name": "spark-orders", "state": "RUNNING"}]
        aws.serverless["app-1"] = [{"id": "r-2", "name": "sls-orders", "state": "PENDING"}]

        assert controller(config, aws, pool).tick(), name

        assert aws.desired == 0, name
        assert [op for op in aws.ops() if not op.startswith("ecs")] == queries, name


def test_steady_tick_queries_every_source_once_and_concurrently(pool: Any) -> None:
    aws = FakeAws()
    aws.glue = {"export-a": [("jr_1", "SUCCEEDED")], "export-b": [], "unrelated": []}
    aws.eks = {"vc-1": [], "vc-2": []}

    assert controller(ALL, aws, pool).tick()

    assert aws.ops() == [
        "ecs describe-services",
        "emr list-clusters",
        "emr-containers list-job-runs",
        "emr-containers list-job-runs",
        "emr-containers list-virtual-clusters",
        "emr-serverless list-applications",
        "emr-serverless list-job-runs",
        "glue get-job-runs",
        "glue get-job-runs",
        "glue list-jobs",
    ]
    assert "unrelated" not in json.dumps(aws.calls), "only the matching jobs are asked about"
    assert aws.most_in_flight >= 5, "the five first queries run at the same time"
    assert aws.desired == 1


def test_emr_only_tick_is_still_two_calls(pool: Any) -> None:
    aws = FakeAws()
    aws.clusters = [("other", "WAITING", epoch(10))]

    assert controller(only(emr_prefix="backup-"), aws, pool).tick()

    assert aws.ops() == ["ecs describe-services", "emr list-clusters"]


def test_one_failing_source_with_nothing_seen_elsewhere_changes_nothing(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = FakeAws(desired=0)  # paused; nothing active that the others can see
    aws.fail["glue list-jobs"] = DENIED

    assert not controller(ALL, aws, pool).tick()

    assert aws.desired == 0, "resuming blind could fight a Glue run for capacity"
    assert "Glue query failed" in caplog.text
    assert "backups: none seen | unknown sources: Glue (query failed) |" in caplog.text
    assert "no change (Glue state unknown, changing nothing)" in caplog.text


def tick_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "action:" in r.getMessage()]


def test_a_backup_seen_pauses_while_another_source_is_unknown_and_the_tick_still_fails(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = FakeAws(desired=2)
    aws.clusters = [("backup-1", "RUNNING", epoch(100))]
    aws.fail["glue list-jobs"] = DENIED
    heartbeats: list[None] = []
    rig = controller(ALL, aws, pool)

    status = until_stopped(
        rig, interval=0, once=True, stop=threading.Event(), on_success=heartbeats.append
    )

    assert aws.desired == 0, "a backup seen is paused for, whatever Glue would say"
    assert status == 1, "a source not read is a failed tick, even when it paused"
    assert heartbeats == [], "no heartbeat: the health check must see the blind source"
    (line,) = tick_lines(caplog)
    assert line.levelno == logging.ERROR
    assert line.getMessage().startswith(
        "backups: EMR cluster backup-1 (j-0, RUNNING) | unknown sources: Glue (query failed) |"
    )
    assert line.getMessage().endswith("| action: pause: desired 2 -> 0 (backup active) | ok=false")
    assert "Glue query failed: " in caplog.text

    # The EMR backup ends; Glue is still denied: a Glue run could be reading, so no resume.
    aws.clusters = []
    caplog.clear()
    assert not rig.tick()
    assert aws.desired == 0
    (line,) = tick_lines(caplog)
    assert "backups: none seen | unknown sources: Glue (query failed) |" in line.getMessage()
    assert "action: no change (Glue state unknown, changing nothing) | ok=false" in (
        line.getMessage()
    )

    # Glue can be read again, and sees nothing: now the resume (to RESUME_COUNT: this fake
    # keeps no tags).
    del aws.fail["glue list-jobs"]
    assert rig.tick()
    assert aws.desired == 1


@pytest.mark.parametrize("emr", ["seen", "none", "unknown"])
@pytest.mark.parametrize("glue", ["seen", "none", "unknown"])
@pytest.mark.parametrize("desired", [0, 2])
def test_every_combination_of_two_sources_answers(
    pool: Any, emr: str, glue: str, desired: int
) -> None:
    aws = FakeAws(desired=desired)
    config = only(emr_prefix="backup-", glue_job_prefix="export-")
    if emr == "seen":
        aws.clusters = [("backup-1", "RUNNING", epoch(100))]
    if glue == "seen":
        aws.glue = {"export-orders": [("jr_1", "RUNNING")]}
    if emr == "unknown":
        aws.fail["emr list-clusters"] = AwsError(
            "aws emr list-clusters", "AccessDeniedException", "not allowed", False
        )
    if glue == "unknown":
        aws.fail["glue list-jobs"] = DENIED
    answers = {emr, glue}

    ok = controller(config, aws, pool).tick()

    assert ok is ("unknown" not in answers)
    if "seen" in answers:
        assert aws.desired == 0, "a backup seen is paused for"
    elif "unknown" in answers:
        assert aws.desired == desired, "nothing seen, a source unknown: nothing changes"
    else:
        # Resumed (to RESUME_COUNT: this fake keeps no tags), or left running.
        assert aws.desired == (desired or 1), "every source read and none holds"


def test_a_failing_per_item_call_is_that_sources_failure(pool: Any) -> None:
    aws = FakeAws(desired=0)
    aws.fail["emr-containers list-job-runs"] = AwsError("aws emr-containers", "X", "y", True)

    assert not controller(ALL, aws, pool).tick()

    assert aws.desired == 0
    assert controller(ALL, aws, pool).observe().unknown == ("EMR on EKS",)


def test_too_many_items_to_query_is_unknown_not_a_partial_answer(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = only(30, **EVERY)
    aws = FakeAws(desired=0)
    aws.glue = {f"export-{i:02}": [] for i in range(31)}

    assert not controller(config, aws, pool).tick()

    assert aws.desired == 0
    assert "glue get-job-runs" not in aws.ops()
    assert (
        "Glue query failed: `aws glue list-jobs --region us-east-1` failed: TooManyToQuery: "
        "31 Glue jobs named 'export-'..., more than MAX_FAN_OUT (30) to query one by one each "
        "tick: raise MAX_FAN_OUT to 31 or more" in caplog.text
    )


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        (only(2, emr_eks_job_prefix="spark-"), "running virtual clusters"),
        (only(2, emr_serverless_job_prefix="sls-"), "started applications"),
    ],
)
def test_the_bound_counts_virtual_clusters_and_applications_too(
    pool: Any, caplog: pytest.LogCaptureFixture, config: Config, kind: str
) -> None:
    aws = FakeAws(desired=0)
    aws.eks = {f"vc-{i}": [] for i in range(3)}
    aws.serverless = {f"app-{i}": [] for i in range(3)}

    assert not controller(config, aws, pool).tick()

    assert f"3 {kind}, more than MAX_FAN_OUT (2)" in caplog.text
    assert not [op for op in aws.ops() if op.endswith("list-job-runs")]


def test_as_many_items_as_the_bound_are_all_queried(pool: Any) -> None:
    config = only(30, glue_job_prefix="export-")
    aws = FakeAws(desired=2)
    aws.glue = {f"export-{i:02}": [] for i in range(30)}
    aws.glue["export-17"] = [("jr_17", "RUNNING")]

    assert controller(config, aws, pool).tick()

    assert aws.desired == 0
    assert aws.ops().count("glue get-job-runs") == 30


def test_several_sources_at_once_all_hold_the_pause_and_are_named(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = FakeAws(desired=3)
    aws.clusters = [("backup-1", "RUNNING", epoch(100))]
    aws.glue = {"export-orders": [("jr_1", "STARTING")]}
    aws.eks["vc-1"] = [{"id": "r-1", "name": "spark-1", "state": "SUBMITTED"}]

    with caplog.at_level(logging.INFO):
        assert controller(ALL, aws, pool).tick()

    assert aws.desired == 0
    assert (
        "backups: EMR cluster backup-1 (j-0, RUNNING), Glue job run export-orders (jr_1, "
        "STARTING), EMR on EKS job run spark-1 (r-1, SUBMITTED) |" in caplog.text
    )


def stuck_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("stuck backup")]


def test_a_backup_older_than_max_backup_age_no_longer_holds_the_pause(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(ALL, max_backup_age=7200)
    aws = FakeAws(desired=0)
    aws.clusters = [("backup-idle", "WAITING", epoch(7300))]

    with caplog.at_level(logging.INFO):
        assert controller(config, aws, pool).tick(), "a stuck backup is not a failed tick"

    assert aws.desired == 1, "resumed: the only matching cluster is too old"
    (error,) = stuck_lines(caplog)
    assert error.levelno == logging.ERROR
    assert error.getMessage().startswith(
        "stuck backup: EMR cluster backup-idle (j-0, WAITING) has been active for 7300s, "
        "longer than MAX_BACKUP_AGE (7200s)"
    )
    assert error.fields["stuck_backup"]["age_s"] == 7300  # type: ignore[attr-defined]
    assert (
        "backups: none active | too old to hold the pause (MAX_BACKUP_AGE 7200s): "
        "EMR cluster backup-idle (j-0, WAITING, active 7300s)" in caplog.text
    )


def test_a_younger_matching_backup_still_pauses_next_to_a_stuck_one(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(ALL, max_backup_age=7200)
    aws = FakeAws(desired=2)
    aws.clusters = [("backup-idle", "WAITING", epoch(9000)), ("backup-new", "RUNNING", epoch(60))]

    with caplog.at_level(logging.INFO):
        assert controller(config, aws, pool).tick()

    assert aws.desired == 0
    assert len(stuck_lines(caplog)) == 1
    assert "backups: EMR cluster backup-new (j-1, RUNNING, active 60s)" in caplog.text


def test_an_unknown_age_still_holds_and_the_tick_line_says_so(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(ALL, max_backup_age=60)
    aws = FakeAws(desired=2)
    aws.clusters = [("backup-1", "RUNNING", "not a time")]

    with caplog.at_level(logging.INFO):
        assert controller(config, aws, pool).tick()

    assert aws.desired == 0
    assert "(j-0, RUNNING, age unknown, MAX_BACKUP_AGE cannot apply)" in caplog.text
    assert stuck_lines(caplog) == []


def test_max_backup_age_applies_to_every_source_by_its_start_time(pool: Any) -> None:
    config = dataclasses.replace(ALL, max_backup_age=30)  # FakeAws's Glue runs began 60s ago
    aws = FakeAws(desired=1)
    aws.glue = {"export-orders": [("jr_1", "RUNNING")]}

    seen = controller(config, aws, pool).observe()

    assert seen.backups == ()
    assert [(b.kind, b.id) for b in seen.stuck] == [("Glue job run", "jr_1")]


def test_stuck_backups_are_reported_even_when_another_source_is_unknown(pool: Any) -> None:
    config = dataclasses.replace(ALL, max_backup_age=60)
    aws = FakeAws()
    aws.clusters = [("backup-1", "WAITING", epoch(120))]
    aws.fail["emr-serverless list-applications"] = DENIED

    seen = controller(config, aws, pool).observe()

    assert seen.backups == ()
    assert seen.unknown == ("EMR Serverless",)
    assert [b.name for b in seen.stuck] == ["backup-1"]
    assert next(m for m, _ in report.stuck(config, seen)).startswith("stuck backup: EMR cluster")


def test_json_fields_name_what_holds_the_pause_and_its_age() -> None:
    config = dataclasses.replace(ALL, max_backup_age=3600)
    aws = FakeAws()
    aws.clusters = [("backup-1", "RUNNING", epoch(90)), ("backup-0", "WAITING", epoch(4000))]
    with ThreadPoolExecutor(workers(config, 4)) as executor:
        seen = controller(config, aws, executor).observe()

    fields = report.fields(config, seen, [], True)

    assert fields["backups"] == [
        {
            "kind": "EMR cluster",
            "name": "backup-1",
            "id": "j-0",
            "state": "RUNNING",
            "started": (NOW - timedelta(seconds=90)).isoformat(),
            "age_s": 90,
        }
    ]
    assert [b["name"] for b in fields["stuck_backups"]] == ["backup-0"]
    assert fields["unknown_sources"] == []


def test_unknown_sources_are_named_in_the_json_fields_next_to_what_was_seen() -> None:
    backup = Backup("EMR cluster", "j-1", "backup-1", "RUNNING")
    seen = observed((backup,), unknown=("Glue", "EMR Serverless"))

    fields = report.fields(ALL, seen, [], False)

    assert [b["id"] for b in fields["backups"]] == ["j-1"], "seen, and holding the pause"
    assert fields["unknown_sources"] == ["Glue", "EMR Serverless"]
    assert report.summary(ALL, seen).startswith(
        "backups: EMR cluster backup-1 (j-1, RUNNING) | "
        "unknown sources: Glue, EMR Serverless (queries failed) |"
    )


def test_pool_has_a_thread_per_query_and_one_per_concurrent_call() -> None:
    assert workers(only(emr_prefix="b"), 4) == 2 + 2  # EMR and ECS, then the service's change
    # EMR, Glue, EKS, Serverless and ECS; then the calls per job, cluster, application.
    assert workers(ALL, 4) == 5 + 4
    assert (
        workers(dataclasses.replace(ALL, autoscalers=(*ALL.autoscalers, Dynamodb("t", REGION))), 4)
        == 6 + 4
    )
    assert workers(ALL, 1) > 3, "more threads than sources that wait on their own calls"


class OneAtATime(FakeAws):
    """The CLI as the runner bounds it with MAX_CONCURRENT_CALLS=1: one process at a time."""

    def __init__(self, desired: int = 1) -> None:
        super().__init__(desired)
        self.slot = threading.Semaphore(1)

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        with self.slot:
            return super().__call__(args, mutating=mutating)


def test_one_call_at_a_time_still_completes_a_tick_of_every_fan_out_source() -> None:
    aws = OneAtATime(desired=2)
    aws.glue = {f"export-{i}": [] for i in range(5)}
    aws.eks = {f"vc-{i}": [] for i in range(5)}
    aws.serverless = {f"app-{i}": [] for i in range(4)}
    aws.serverless["app-3"] = [{"id": "r-1", "name": "sls-orders", "state": "RUNNING"}]

    with ThreadPoolExecutor(workers(ALL, 1)) as executor:
        assert controller(ALL, aws, executor).tick()

    assert aws.desired == 0
    assert aws.most_in_flight == 1
    assert len(aws.calls) == 4 + 5 + 5 + 4 + 3  # the listings, each item, ECS read, tag, update


def test_oldest_age_counts_stuck_and_holding_backups_with_a_known_start() -> None:
    def backup(name: str, seconds: float | None) -> Backup:
        started = None if seconds is None else NOW - timedelta(seconds=seconds)
        return Backup("EMR cluster", f"j-{name}", name, "WAITING", started)

    seen = observed((backup("a", 30), backup("b", None)), stuck=(backup("c", 900),), at=NOW)

    assert oldest_age(seen) == 900
    assert oldest_age(observed((backup("b", None),), at=NOW)) is None
    assert oldest_age(observed((), unknown=("EMR",), at=NOW)) is None
