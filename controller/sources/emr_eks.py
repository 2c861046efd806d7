"""EMR on EKS (`emr-containers`) job runs named EMR_EKS_JOB_PREFIX... in any running virtual
cluster: `list-virtual-clusters`, then `list-job-runs` for each running one."""

from __future__ import annotations

from dataclasses import dataclass

from controller.aws import JsonDict
from controller.sources.backup import Backup, JobRuns, emr_job_run

ACTIVE = ("PENDING", "SUBMITTED", "RUNNING")
KIND = "EMR on EKS job run"


@dataclass(frozen=True)
class EmrEks(JobRuns):
    setting = "EMR_EKS_JOB_PREFIX"
    longest = 64  # EMR on EKS's limit for a job run name
    kind = KIND
    name = "EMR on EKS"
    help = "a running EMR on EKS job run named so"
    policy = "iam-policy-emr-eks.json"
    shape = emr_job_run(KIND, tagged=True)
    listing = ("emr-containers", "list-virtual-clusters", "--states", "RUNNING")
    containers = "virtualClusters"
    running = "RUNNING"
    container = "virtual cluster"
    runs_in = ("emr-containers", "list-job-runs", "--states", *ACTIVE, "--virtual-cluster-id")
    active = ACTIVE


def parse_virtual_clusters(
    doc: JsonDict, command: str = "aws emr-containers list-virtual-clusters"
) -> list[str]:
    return EmrEks.parse_containers(doc, command)


def parse_job_runs(
    doc: JsonDict, prefix: str, command: str = "aws emr-containers list-job-runs"
) -> tuple[Backup, ...]:
    return EmrEks.parse_runs(doc, prefix, command)
