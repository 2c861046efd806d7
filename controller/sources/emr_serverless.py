"""EMR Serverless job runs named EMR_SERVERLESS_JOB_PREFIX... in any started application:
`list-applications`, then `list-job-runs` for each started one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.aws import JsonDict, Runner
from controller.sources import backup
from controller.sources.backup import Backup, Each

if TYPE_CHECKING:
    from controller.config import Config

ACTIVE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED")
KIND = "EMR Serverless job run"
# The two calls: the started applications, then the active runs in one of them.
LISTING = ["emr-serverless", "list-applications", "--states", "STARTED"]
RUNS_IN = ["emr-serverless", "list-job-runs", "--states", *ACTIVE, "--application-id"]
SHAPE = backup.emr_job_run(KIND)


def parse_applications(
    doc: JsonDict, command: str = "aws emr-serverless list-applications"
) -> list[str]:
    items = backup.listed(doc, "applications", command)
    return backup.ids(items, "id", "STARTED", command, "application")


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-serverless list-job-runs"
) -> tuple[Backup, ...]:
    return backup.matching(backup.listed(doc, "jobRuns", command), SHAPE, prefix, ACTIVE, command)


def find(run: Runner, config: Config, each: Each) -> tuple[Backup, ...]:
    region, prefix = config.emr_region, config.emr_serverless_job_prefix
    return backup.list_then_query(
        run,
        each,
        config.max_fan_out,
        listing=[*LISTING, "--region", region],
        items=parse_applications,
        what="started applications",
        query=lambda application: [*RUNS_IN, application, "--region", region],
        backups=lambda doc, _, command: parse_job_runs(doc, prefix, command),
    )


SOURCE = backup.Source(
    setting="EMR_SERVERLESS_JOB_PREFIX",
    longest=256,  # EMR Serverless's limit for a job run name
    kind=KIND,
    name="EMR Serverless",
    help="a running EMR Serverless job run named so",
    policy="iam-policy-emr-serverless.json",
    find=find,
    fans_out=True,
)
