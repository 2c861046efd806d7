"""EMR Serverless job runs named EMR_SERVERLESS_JOB_PREFIX... in any started application:
`list-applications`, then `list-job-runs` for each started one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.aws import JsonDict, Runner
from controller.sources.backup import Backup, Each, Shape, Source, bounded, ids, listed, matching

if TYPE_CHECKING:
    from controller.config import Config

ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")
KIND = "EMR Serverless job run"
SHAPE = Shape(
    kind=KIND,
    id=("id",),
    name=("name",),
    state=("state",),
    started=("createdAt",),
    unnamed=True,
)


def parse_applications(
    doc: JsonDict, command: str = "aws emr-serverless list-applications"
) -> list[str]:
    items = listed(doc, "applications", command)
    return ids(items, "id", "STARTED", command, "application")


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-serverless list-job-runs"
) -> tuple[Backup, ...]:
    return matching(listed(doc, "jobRuns", command), SHAPE, prefix, ACTIVE, command)


def find(run: Runner, config: Config, each: Each) -> tuple[Backup, ...]:
    region = config.emr_region
    listing = ["emr-serverless", "list-applications", "--states", "STARTED", "--region", region]
    shown = " ".join(["aws", *listing])
    applications = bounded(parse_applications(run(listing), shown), "started applications", shown)

    def runs_in(application: str) -> tuple[Backup, ...]:
        args = ["emr-serverless", "list-job-runs", "--application-id", application]
        args += ["--states", *ACTIVE, "--region", region]
        return parse_job_runs(run(args), config.emr_serverless_job_prefix, " ".join(["aws", *args]))

    return tuple(backup for runs in each(runs_in, applications) for backup in runs)


SOURCE = Source(
    setting="EMR_SERVERLESS_JOB_PREFIX",
    longest=256,  # EMR Serverless's limit for a job run name
    kind=KIND,
    name="EMR Serverless",
    help="a running EMR Serverless job run named so",
    find=find,
    fans_out=True,
)
