"""What every source of bulk readers turns its CLI output into: one running backup.

The rule takes these and nothing source-specific, so a new kind of bulk reader (a Glue job
run, a Spark job on EMR Serverless, ...) adds a module that yields Backups, not a branch in
the rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Backup:
    kind: str  # what it is, for people: "EMR cluster", "Glue job run", ...
    id: str
    name: str
    state: str
    # When it started, as AWS reports it (so a restart of the controller does not reset an
    # age); None when AWS did not say or said something unreadable.
    started: datetime | None = None

    def __str__(self) -> str:
        return f"{self.name} ({self.id}, {self.state})"
