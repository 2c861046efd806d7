"""The real rule with the real kinds, for the rule's unit tests and the records' model check:
an observation built from an ECS service and/or DynamoDB's targets and records, and `decide`
over the two kinds with the ECS settings a test chooses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from controller import decide as rule
from controller.autoscalers.dynamodb import Dynamodb, Record, Tables, Target
from controller.autoscalers.ecs import Ecs, Service
from controller.decide import Observed, Plan
from controller.sources.backup import Backup


@dataclass(frozen=True)
class Policy:
    resume_count: int = 1
    resume_delay: float = 0.0
    resume_count_max: int = 10


def kinds(policy: Policy = Policy(), scope: str = "prefix") -> tuple[Ecs, Dynamodb]:
    ecs = Ecs("c", "us-east-1", "svc", policy.resume_count, policy.resume_count_max)
    return ecs, Dynamodb("orders", "us-east-1", scope)


def observed(
    backups: Sequence[Backup],
    *,
    service: Service | None = None,
    targets: Sequence[Target] | None = None,
    records: Mapping[str, Record] | None = None,
    settled: frozenset[tuple[str, str]] = frozenset(),
    pause_id: str = "000000000000",
    now: float = 0.0,
    last_backup: float = 0.0,
    stuck: Sequence[Backup] = (),
    unknown: Sequence[str] = (),
    at: datetime | None = None,
) -> Observed:
    views: dict[str, object] = {"ecs": service}
    views["dynamodb"] = None if targets is None else Tables(tuple(targets), dict(records or {}))
    return Observed(
        backups,
        views=views,
        settled=settled,
        pause_id=pause_id,
        now=now,
        last_backup=last_backup,
        stuck=stuck,
        unknown=unknown,
        at=at,
    )


def decide(seen: Observed, policy: Policy = Policy(), scope: str = "prefix") -> Plan:
    return rule.decide(seen, kinds(policy, scope), policy.resume_delay)
