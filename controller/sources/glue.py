"""Glue job runs: `aws glue list-jobs`, then `get-job-runs` for each job named GLUE_JOB_PREFIX...

The DynamoDB connector of a Glue job spends a share of the table's read capacity
(`dynamodb.throughput.read.percent`), as an EMR export does.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws import Each, JsonDict, Runner, UnexpectedOutput
from controller.sources.backup import (
    NAMES_ARGUMENT,
    Backup,
    Shape,
    Source,
    brief,
    list_then_query,
    listed,
    matching,
)

ACTIVE = ("STARTING", "RUNNING", "STOPPING")
KIND = "Glue job run"
SHAPE = Shape(
    kind=KIND,
    id=("Id",),
    name=("JobName",),
    state=("JobRunState",),
    started=("StartedOn",),
    # A run's arguments are in the list already: naming its tables costs no call.
    names=("Arguments",),
    names_key=NAMES_ARGUMENT,
    names_where=f"argument {NAMES_ARGUMENT}",
)
# Glue returns a job's runs newest first; an active run is among the newest unless this many
# runs of the same job started after it. One page, so one request per job.
RUNS_PER_JOB = 200


def parse_job_names(doc: JsonDict, prefix: str, command: str = "aws glue list-jobs") -> list[str]:
    names = []
    for index, name in enumerate(listed(doc, "JobNames", command)):
        if not isinstance(name, str):
            raise UnexpectedOutput(command, f"job name {index} is not a string: {brief(name)}")
        if name.startswith(prefix):
            names.append(name)
    return names


def parse_runs(
    doc: JsonDict, job: str, command: str = "aws glue get-job-runs"
) -> tuple[Backup, ...]:
    # Every run listed is a run of `job`: its name is the job's, whatever the entry says.
    runs = [
        {**run, "JobName": job} if isinstance(run, dict) else run
        for run in listed(doc, "JobRuns", command)
    ]
    return matching(runs, SHAPE, job, ACTIVE, command)


@dataclass(frozen=True)
class Glue(Source):
    setting = "GLUE_JOB_PREFIX"
    longest = 255  # Glue's limit for a job name
    kind = KIND
    name = "Glue"
    help = "a running Glue job run of a job named so"
    policy = "iam-policy-glue.json"
    fans_out = True

    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        region, prefix = self.region, self.prefix
        return list_then_query(
            run,
            each,
            self.max_fan_out,
            listing=["glue", "list-jobs", "--region", region],
            items=lambda doc, command: parse_job_names(doc, prefix, command),
            what=f"Glue jobs named {prefix!r}...",
            query=lambda job: [
                *("glue", "get-job-runs", "--job-name", job, "--region", region),
                *("--max-items", str(RUNS_PER_JOB), "--page-size", str(RUNS_PER_JOB)),
            ],
            backups=parse_runs,
        )
