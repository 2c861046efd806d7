"""EMR Serverless job runs named EMR_SERVERLESS_JOB_PREFIX... in any started application:
`list-applications`, then `list-job-runs` for each started one."""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws import JsonDict
from controller.sources.backup import Backup, JobRuns, emr_job_run

ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")
KIND = "EMR Serverless job run"


@dataclass(frozen=True)
class EmrServerless(JobRuns):
    setting = "EMR_SERVERLESS_JOB_PREFIX"
    longest = 256  # EMR Serverless's limit for a job run name
    kind = KIND
    name = "EMR Serverless"
    help = "a running EMR Serverless job run named so"
    policy = "iam-policy-emr-serverless.json"
    shape = emr_job_run(KIND)
    listing = ("emr-serverless", "list-applications", "--states", "STARTED")
    containers = "applications"
    running = "STARTED"
    container = "application"
    runs_in = ("emr-serverless", "list-job-runs", "--states", *ACTIVE, "--application-id")
    active = ACTIVE


def parse_applications(
    doc: JsonDict, command: str = "aws emr-serverless list-applications"
) -> list[str]:
    return EmrServerless.parse_containers(doc, command)


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-serverless list-job-runs"
) -> tuple[Backup, ...]:
    return EmrServerless.parse_runs(doc, prefix, command)
