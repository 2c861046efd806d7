"""A made-up kind of backup, written as a module of controller/sources/ would be: AWS Batch
jobs named BATCH_JOB_PREFIX... that are running. The tests add it to the list of kinds and
nowhere else (tests/test_sources_registry.py)."""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws import Each, Runner
from controller.sources.backup import Backup, Shape, Source, listed, matching

KIND = "Batch job"
SHAPE = Shape(KIND, ("jobId",), ("jobName",), ("status",), ("startedAt",))


@dataclass(frozen=True)
class BatchJobs(Source):
    setting = "BATCH_JOB_PREFIX"
    longest = 128
    kind = KIND
    name = "Batch"
    help = "a running AWS Batch job named so"
    policy = "iam-policy-batch.json"

    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        args = ["batch", "list-jobs", "--job-status", "RUNNING", "--region", self.region]
        command = " ".join(["aws", *args])
        return matching(
            listed(run(args), "jobSummaryList", command), SHAPE, self.prefix, {"RUNNING"}, command
        )
