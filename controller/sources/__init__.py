"""The kinds of backup, one line each: adding a kind is its module and a line in ALL.

Config reads each kind's setting, --help lists it, the start-up line and the metrics name it
and the loop queries it, all from ALL; each module declares what they need in its SOURCE
(controller/sources/backup.py's Source). CONTRIBUTING.md shows a whole example.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.sources import emr, emr_eks, emr_serverless, glue
from controller.sources.backup import Source

if TYPE_CHECKING:
    from controller.config import Config

# In the order they are queried, logged and listed in --help.
ALL: tuple[Source, ...] = (
    emr.SOURCE,
    glue.SOURCE,
    emr_eks.SOURCE,
    emr_serverless.SOURCE,
)


def configured(config: Config) -> list[Source]:
    """The kinds whose setting is set, in the order of ALL."""
    return [source for source in ALL if source.prefix(config)]


def fans_out(config: Config) -> bool:
    """Whether a configured source makes one call per item (job, virtual cluster, application)."""
    return any(source.fans_out for source in configured(config))
