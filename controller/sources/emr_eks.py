"""EMR on EKS (`emr-containers`) job runs named EMR_EKS_JOB_PREFIX... in any running virtual
cluster: `list-virtual-clusters`, then `list-job-runs` for each running one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.aws import JsonDict, Runner
from controller.sources import backup
from controller.sources.backup import Backup, Each

if TYPE_CHECKING:
    from controller.config import Config

ACTIVE = ("PENDING", "SUBMITTED", "RUNNING")
KIND = "EMR on EKS job run"
# The two calls: the running virtual clusters, then the active runs in one of them.
LISTING = ["emr-containers", "list-virtual-clusters", "--states", "RUNNING"]
RUNS_IN = ["emr-containers", "list-job-runs", "--states", *ACTIVE, "--virtual-cluster-id"]
SHAPE = backup.emr_job_run(KIND)


def parse_virtual_clusters(
    doc: JsonDict, command: str = "aws emr-containers list-virtual-clusters"
) -> list[str]:
    items = backup.listed(doc, "virtualClusters", command)
    return backup.ids(items, "id", "RUNNING", command, "virtual cluster")


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-containers list-job-runs"
) -> tuple[Backup, ...]:
    return backup.matching(backup.listed(doc, "jobRuns", command), SHAPE, prefix, ACTIVE, command)


def find(run: Runner, config: Config, each: Each) -> tuple[Backup, ...]:
    region, prefix = config.emr_region, config.emr_eks_job_prefix
    return backup.list_then_query(
        run,
        each,
        config.max_fan_out,
        listing=[*LISTING, "--region", region],
        items=parse_virtual_clusters,
        what="running virtual clusters",
        query=lambda cluster: [*RUNS_IN, cluster, "--region", region],
        backups=lambda doc, _, command: parse_job_runs(doc, prefix, command),
    )


SOURCE = backup.Source(
    setting="EMR_EKS_JOB_PREFIX",
    longest=64,  # EMR on EKS's limit for a job run name
    kind=KIND,
    name="EMR on EKS",
    help="a running EMR on EKS job run named so",
    policy="iam-policy-emr-eks.json",
    find=find,
    fans_out=True,
)
