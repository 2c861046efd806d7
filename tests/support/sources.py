"""Seed the local AWS with the backups besides EMR clusters: Glue job runs, EMR on EKS and EMR
Serverless job runs (moto's quirks for each are in the docstrings below)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from tests.support.moto import ACCOUNT, REGION, TEST_KEY, session

ROLE = f"arn:aws:iam::{ACCOUNT}:role/bulk-reader"


class Sources:
    def __init__(
        self,
        endpoint: str,
        region: str = REGION,
        credentials: tuple[str, str] = TEST_KEY,
    ) -> None:
        clients = session(region, credentials)
        self.endpoint = endpoint
        self.glue = clients.client("glue", endpoint_url=endpoint)
        self.eks = clients.client("emr-containers", endpoint_url=endpoint)
        self.serverless = clients.client("emr-serverless", endpoint_url=endpoint)

    # --- Glue ---------------------------------------------------------------------------
    def glue_transition(self, transition: dict[str, Any]) -> None:
        """moto's state manager: how Glue job runs move on from STARTING."""
        body = json.dumps({"model_name": "glue::job_run", "transition": transition}).encode()
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/state-manager/set-transition", data=body, method="POST"
        )
        urllib.request.urlopen(request, timeout=10).close()

    def hold_glue_runs(self) -> None:
        """Runs stay STARTING for this many reads: far more than a test makes."""
        self.glue_transition({"progression": "manual", "times": 1000})

    def release_glue_runs(self) -> None:
        """Existing and new runs finish (SUCCEEDED) at their next read."""
        self.glue_transition({"progression": "immediate"})

    def glue_job(self, job: str) -> None:
        self.glue.create_job(
            Name=job, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://x/job.py"}
        )

    def start_glue_run(self, job: str, arguments: dict[str, str] | None = None) -> str:
        self.glue_job(job)
        return str(self.glue.start_job_run(JobName=job, Arguments=arguments or {})["JobRunId"])

    def glue_run_state(self, job: str, run_id: str) -> str:
        return str(self.glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]["JobRunState"])

    # --- EMR on EKS ---------------------------------------------------------------------
    def virtual_cluster(self, name: str = "analytics") -> str:
        provider = {"type": "EKS", "id": "eks-1", "info": {"eksInfo": {"namespace": "spark"}}}
        created = self.eks.create_virtual_cluster(name=name, containerProvider=provider)
        return str(created["id"])

    def start_eks_run(self, cluster: str, name: str | None) -> str:
        """A job run, RUNNING at once in moto; `name` None starts one without a name."""
        named = {"name": name} if name is not None else {}
        started = self.eks.start_job_run(
            virtualClusterId=cluster,
            executionRoleArn=ROLE,
            releaseLabel="emr-6.10.0-latest",
            jobDriver={"sparkSubmitJobDriver": {"entryPoint": "s3://x/job.py"}},
            **named,
        )
        return str(started["id"])

    def cancel_eks_run(self, cluster: str, run_id: str) -> None:
        self.eks.cancel_job_run(virtualClusterId=cluster, id=run_id)

    # --- EMR Serverless -----------------------------------------------------------------
    def started_application(self, name: str = "spark") -> str:
        created = self.serverless.create_application(
            name=name, releaseLabel="emr-6.10.0", type="SPARK"
        )
        self.serverless.start_application(applicationId=created["applicationId"])
        return str(created["applicationId"])

    def start_serverless_run(self, application: str, name: str) -> str:
        """A job run, which moto creates already SUCCESS: it can never hold a pause here."""
        started = self.serverless.start_job_run(
            applicationId=application,
            name=name,
            executionRoleArn=ROLE,
            jobDriver={"sparkSubmit": {"entryPoint": "s3://x/job.py"}},
        )
        return str(started["jobRunId"])
