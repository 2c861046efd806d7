"""EMR on EKS (`emr-containers`) job runs named EMR_EKS_JOB_PREFIX... in any running virtual
cluster: `list-virtual-clusters`, then `list-job-runs` for each running one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.aws import JsonDict, Runner
from controller.sources.backup import Backup, Each, Shape, Source, bounded, ids, listed, matching

if TYPE_CHECKING:
    from controller.config import Config

ACTIVE = ("PENDING", "SUBMITTED", "RUNNING")
KIND = "EMR on EKS job run"
SHAPE = Shape(
    kind=KIND,
    id=("id",),
    name=("name",),
    state=("state",),
    started=("createdAt",),
    unnamed=True,
)


def parse_virtual_clusters(
    doc: JsonDict, command: str = "aws emr-containers list-virtual-clusters"
) -> list[str]:
    items = listed(doc, "virtualClusters", command)
    return ids(items, "id", "RUNNING", command, "virtual cluster")


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-containers list-job-runs"
) -> tuple[Backup, ...]:
    return matching(listed(doc, "jobRuns", command), SHAPE, prefix, ACTIVE, command)


def find(run: Runner, config: Config, each: Each) -> tuple[Backup, ...]:
    region = config.emr_region
    listing = ["emr-containers", "list-virtual-clusters", "--states", "RUNNING"]
    listing += ["--region", region]
    shown = " ".join(["aws", *listing])
    clusters = bounded(
        parse_virtual_clusters(run(listing), shown), "running virtual clusters", shown
    )

    def runs_in(cluster: str) -> tuple[Backup, ...]:
        args = ["emr-containers", "list-job-runs", "--virtual-cluster-id", cluster]
        args += ["--states", *ACTIVE, "--region", region]
        return parse_job_runs(run(args), config.emr_eks_job_prefix, " ".join(["aws", *args]))

    return tuple(backup for runs in each(runs_in, clusters) for backup in runs)


SOURCE = Source(
    setting="EMR_EKS_JOB_PREFIX",
    longest=64,  # EMR on EKS's limit for a job run name
    kind=KIND,
    name="EMR on EKS",
    help="a running EMR on EKS job run named so",
    find=find,
    fans_out=True,
)
