"""The sources of bulk readers a configuration looks at, each with the words for its query."""

from __future__ import annotations

from dataclasses import dataclass

from controller.config import Config
from controller.sources import emr, emr_eks, emr_serverless, glue
from controller.sources.backup import Find


@dataclass(frozen=True)
class Source:
    name: str  # for people: "<name> query failed", "<name> state unknown"
    find: Find


def configured(config: Config) -> list[Source]:
    """One Source per trigger that is set, in a fixed order."""
    c = config
    wanted = [
        (c.emr_prefix, Source("EMR", emr.find)),
        (c.glue_job_prefix, Source("Glue", glue.find)),
        (c.emr_eks_job_prefix, Source("EMR on EKS", emr_eks.find)),
        (c.emr_serverless_job_prefix, Source("EMR Serverless", emr_serverless.find)),
    ]
    return [source for prefix, source in wanted if prefix]


def fans_out(config: Config) -> bool:
    """Whether a source makes one call per item (job, virtual cluster, application)."""
    return bool(
        config.glue_job_prefix or config.emr_eks_job_prefix or config.emr_serverless_job_prefix
    )
