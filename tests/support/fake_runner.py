"""A stand-in for the CLI runner for unit tests of a tick: it answers EMR and ECS calls like
the CLI would, from a few facts, and records every call. Shared by the loop's, the HTTP
server's and the CloudWatch metrics' tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from controller.autoscalers.ecs import Ecs
from controller.config import Config
from controller.sources.emr import Emr

CONFIG = Config(
    emr_region="us-east-1",
    sources=(Emr("backup-", "us-east-1"),),
    autoscalers=(Ecs("c1", "eu-west-1", "svc"),),
    interval=0.01,
)


PAUSED_TAG = "dynamodb-autoscaler-control:paused-desired-count"


def service_doc(desired: int, tags: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/c1/svc",
        "serviceName": "svc",
        "status": "ACTIVE",
        "desiredCount": desired,
        "runningCount": desired,
        "pendingCount": 0,
    }


class FakeAws:
    """Answers like the CLI would, from a few facts; records every call."""

    def __init__(self, clusters: Sequence[str] | Exception = (), desired: int = 1) -> None:
        self.clusters = clusters
        self.desired = desired
        self.tags: dict[str, str] = {}
        self.calls: list[tuple[list[str], bool]] = []
        self.update_error: Exception | None = None

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        self.calls.append((list(args), mutating))
        if args[:2] == ["emr", "list-clusters"]:
            if isinstance(self.clusters, Exception):
                raise self.clusters
            return {
                "Clusters": [
                    {"Id": f"j-{i}", "Name": name, "Status": {"State": "RUNNING"}}
                    for i, name in enumerate(self.clusters)
                ]
            }
        if args[:2] == ["ecs", "describe-services"]:
            return {"services": [service_doc(self.desired, self.tags)], "failures": []}
        if args[:2] == ["ecs", "update-service"]:
            if self.update_error:
                raise self.update_error
            self.desired = int(args[args.index("--desired-count") + 1])
            return {"service": service_doc(self.desired, self.tags)}
        if args[:2] == ["ecs", "tag-resource"]:
            for tag in json.loads(args[args.index("--tags") + 1]):
                self.tags[tag["key"]] = tag["value"]
            return {}
        if args[:2] == ["ecs", "untag-resource"]:
            for key in args[args.index("--tag-keys") + 1 :]:
                self.tags.pop(key, None)
            return {}
        raise AssertionError(f"unexpected call {args}")

    def updates(self) -> list[tuple[list[str], bool]]:
        """Every call that changes something."""
        return [
            call for call in self.calls if call[0][1] != "describe-services" and call[0][0] == "ecs"
        ]
