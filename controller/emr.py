"""Active EMR clusters, as `aws emr list-clusters --active` reports them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from controller.aws import JsonDict, Runner, UnexpectedOutput
from controller.backup import Backup

KIND = "EMR cluster"


def parse_timestamp(value: Any) -> datetime | None:
    """CLI v1 prints epoch seconds as a number, v2 an ISO 8601 string; both become UTC."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise ValueError(f"not a timestamp: {value!r}")


def parse_clusters(doc: JsonDict, command: str = "aws emr list-clusters") -> tuple[Backup, ...]:
    items = doc.get("Clusters")
    if not isinstance(items, list):
        raise UnexpectedOutput(command, "no 'Clusters' list in the output")
    try:
        return tuple(
            Backup(
                kind=KIND,
                id=_text(item["Id"]),
                name=_text(item["Name"]),
                state=_text(item["Status"]["State"]),
                started=parse_timestamp(item["Status"].get("Timeline", {}).get("CreationDateTime")),
            )
            for item in items
        )
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise UnexpectedOutput(command, f"a cluster entry is malformed ({error!r})") from None


def _text(value: object) -> str:
    # str() would turn a null Name into "None", a name a prefix could match.
    if not isinstance(value, str):
        raise ValueError(f"not a string: {value!r}")
    return value


def list_active(run: Runner, region: str) -> tuple[Backup, ...]:
    # The CLI follows NextToken itself, so this is every active cluster, not one page.
    args = ["emr", "list-clusters", "--active", "--region", region]
    return parse_clusters(run(args), " ".join(["aws", *args]))


def matching(clusters: Iterable[Backup], prefix: str) -> tuple[Backup, ...]:
    """Clusters whose name starts with `prefix`: literal and case-sensitive, never a pattern."""
    return tuple(c for c in clusters if c.name.startswith(prefix))
