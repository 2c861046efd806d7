"""The kinds of backup, one line each: adding a kind is its module and a line in ALL.

Configuration reads each kind's settings, --help lists them, the start-up line and the metrics
name it and the loop queries it, all through ALL and the interface in
controller/sources/backup.py (`Source`).
"""

from __future__ import annotations

from controller.sources import emr, emr_eks, emr_serverless, glue
from controller.sources.backup import Source

# In the order they are queried, logged and listed in --help.
ALL: tuple[type[Source], ...] = (
    emr.Emr,
    glue.Glue,
    emr_eks.EmrEks,
    emr_serverless.EmrServerless,
)
