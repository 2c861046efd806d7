"""A kind of backup is one module and one line in controller/sources/__init__.py's ALL: a
made-up kind (tests/support/batch_kind.py) added there, and nowhere else, holds the pause in
a tick, is read from its own setting, named at start-up, listed in --help and counted in
/metrics; and the kinds that ship are read and listed from their own declarations."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller import config, report, sources
from controller.config import load
from controller.http.metrics import Metrics
from controller.loop import Controller
from controller.sources.backup import Source
from tests.support.batch_kind import BatchJobs
from tests.support.fake_runner import FakeAws
from tests.test_config import env, problems

EVERY_KIND = {
    "EMR_PREFIX": "backup-",
    "GLUE_JOB_PREFIX": "export-",
    "EMR_EKS_JOB_PREFIX": "spark-",
    "EMR_SERVERLESS_JOB_PREFIX": "sls-",
}


class Batch(FakeAws):
    """The ECS answers of FakeAws, and the running Batch jobs."""

    def __init__(self, jobs: Sequence[str] = ()) -> None:
        super().__init__(desired=3)
        self.jobs = list(jobs)

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        if args[:2] != ["batch", "list-jobs"]:
            return super().__call__(args, mutating=mutating)
        self.calls.append((list(args), mutating))
        jobs = [
            {"jobId": f"b-{i}", "jobName": n, "status": "RUNNING"} for i, n in enumerate(self.jobs)
        ]
        return {"jobSummaryList": jobs}


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one line a new kind takes: its class in the list of kinds."""
    monkeypatch.setattr(sources, "ALL", (*sources.ALL, BatchJobs))


def test_a_new_kind_alone_holds_the_pause_while_one_of_its_backups_runs(
    listed: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = load([], env(EMR_PREFIX=None, BATCH_JOB_PREFIX="export-"))
    aws = Batch(jobs=["export-orders", "other"])

    assert [source.setting for source in settings.sources] == ["BATCH_JOB_PREFIX"]
    assert report.wanted(settings) == "a Batch job named 'export-'..."
    with ThreadPoolExecutor(4) as pool, caplog.at_level(logging.INFO):
        controller = Controller(settings, aws, pool)
        assert controller.tick()
        assert aws.desired == 0
        aws.jobs = []
        assert controller.tick()
    assert aws.desired == 3
    lines = [r.getMessage() for r in caplog.records if "action:" in r.getMessage()]
    assert lines[0].startswith("backups: Batch job export-orders (b-0, RUNNING) |")


def test_a_new_kind_is_checked_listed_and_counted_like_the_others(listed: None) -> None:
    (problem,) = problems([], env(BATCH_JOB_PREFIX="x" * 129))
    assert problem.startswith("BATCH_JOB_PREFIX is longer than 128 characters")
    assert "BATCH_JOB_PREFIX" in config.names()
    assert "a running AWS Batch job named so (default: unset)" in config.help_text()
    settings = load([], env(EMR_PREFIX=None, BATCH_JOB_PREFIX="export-"))
    counts = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(Metrics(settings).exposition().decode())
        for sample in family.samples
        if sample.name.endswith("_backups")
    }
    assert counts == {"Batch job": 0}


def test_each_kind_is_read_from_its_setting_and_refused_past_its_longest_name() -> None:
    settings = load([], env(**EVERY_KIND))

    assert [kind.prefix for kind in settings.sources] == list(EVERY_KIND.values())
    for kind in sources.ALL:
        (problem,) = problems([], env(**{kind.setting: "x" * (kind.longest + 1)}))
        assert problem.startswith(f"{kind.setting} is longer than {kind.longest} characters")


def test_help_lists_each_kind_with_its_own_words() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "controller", "--help"], capture_output=True, text=True, check=True
    ).stdout
    listed = shown.split("  sources of backups", 1)[1].split("\n  ECS mode", 1)[0]

    for kind in sources.ALL:
        (line,) = [line for line in listed.splitlines() if f" {kind.setting} " in line]
        assert f"{kind.help} (default: unset)" in line
    assert "EMR_STATES" in listed, "a kind's own further settings are listed with it"


def test_the_start_up_line_names_every_kind_looked_for() -> None:
    settings = load([], env(**EVERY_KIND, EMR_STATES="RUNNING"))

    assert report.wanted(settings) == (
        "an EMR cluster named 'backup-'... in state RUNNING or a Glue job run named "
        "'export-'... or an EMR on EKS job run named 'spark-'... or an EMR Serverless job run "
        "named 'sls-'..."
    )


@pytest.mark.parametrize("kind", sources.ALL, ids=lambda kind: kind.setting)
def test_metrics_start_at_zero_for_each_kind_looked_for_and_only_those(
    kind: type[Source],
) -> None:
    settings = load([], env(**{"EMR_PREFIX": None, kind.setting: "x-"}))

    counts = {
        sample.labels["kind"]: sample.value
        for family in text_string_to_metric_families(Metrics(settings).exposition().decode())
        for sample in family.samples
        if sample.name.endswith("_backups")
    }

    assert counts == {kind.kind: 0}
