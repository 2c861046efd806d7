"""The autoscaler's ECS service: read its counts and tags, set its desired count, tag it."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from controller.aws import AwsError, JsonDict, Runner, UnexpectedOutput, shown_value

log = logging.getLogger(__name__)

# The desired count the service had when the controller paused it. It lives on the service
# itself, so it survives a restart of the controller and shows in the console.
PAUSED_COUNT_TAG = "dynamodb-autoscaler-control:paused-desired-count"


@dataclass(frozen=True)
class Service:
    arn: str
    name: str
    status: str
    desired: int
    running: int
    pending: int
    # The value of PAUSED_COUNT_TAG as found (any text: a person may have edited it), or None.
    paused_tag: str | None = None

    def __str__(self) -> str:
        shown = (
            f"desired={self.desired} running={self.running} pending={self.pending} "
            f"status={self.status}"
        )
        return shown if self.paused_tag is None else f"{shown} paused-count-tag={self.paused_tag}"


class ServiceMissing(AwsError):
    """describe-services answered, but without the service (ECS reports it as a failure)."""

    def __init__(self, command: str, cluster: str, service: str, reason: str) -> None:
        super().__init__(
            command,
            "ServiceNotFound",
            f"service {service!r} on cluster {cluster!r}: {reason}",
            retryable=False,
        )


def parse_service(doc: object, command: str = "aws ecs") -> Service:
    """A service entry of describe-services or update-service; UnexpectedOutput for any
    JSON that is not one (wrong types, missing keys, a malformed tag list)."""
    if not isinstance(doc, dict):
        raise UnexpectedOutput(command, f"the service entry is {shown_value(doc)}, not an object")
    try:
        return Service(
            arn=_text(doc, "serviceArn"),
            name=_text(doc, "serviceName"),
            status=_text(doc, "status"),
            desired=_count(doc, "desiredCount"),
            running=_count(doc, "runningCount"),
            pending=_count(doc, "pendingCount"),
            paused_tag=_tag(doc.get("tags"), PAUSED_COUNT_TAG),
        )
    except ValueError as error:
        raise UnexpectedOutput(command, f"the service entry is malformed: {error}") from None


def _text(doc: JsonDict, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is {shown_value(value)}, not a string")
    return value


def _count(doc: JsonDict, key: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} is {shown_value(value)}, not a task count")
    return value


def _tag(tags: object, key: str) -> str | None:
    # No "tags" at all is what ECS prints for a service without tags; anything else that is
    # not a list of {key, value} strings could hide the record, so it is refused.
    if tags is None:
        return None
    if not isinstance(tags, list):
        raise ValueError(f"tags is {shown_value(tags)}, not a list")
    found = None
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise ValueError(f"a tag is {shown_value(tag)}, not a {{key, value}} object")
        if tag["key"] == key:
            value = tag.get("value")
            if not isinstance(value, str):
                raise ValueError(f"tag {key} has {shown_value(value)}, not a string")
            found = value
    return found


def describe(run: Runner, cluster: str, service: str, region: str) -> Service:
    # --include TAGS brings the paused-count record in the same call: a steady tick costs
    # no more calls than before.
    args = ["ecs", "describe-services", "--cluster", cluster, "--services", service]
    args += ["--include", "TAGS", "--region", region]
    command = " ".join(["aws", *args])
    doc = run(args)
    services = doc.get("services")
    if not isinstance(services, list):
        raise UnexpectedOutput(command, "no 'services' list in the output")
    if not services:
        failures = doc.get("failures")
        first = failures[0] if isinstance(failures, list) and failures else None
        reason = first.get("reason") if isinstance(first, dict) else None
        shown = reason if isinstance(reason, str) and reason else "not returned"
        raise ServiceMissing(command, cluster, service, shown)
    return parse_service(services[0], command)


def set_desired_count(run: Runner, cluster: str, service: str, region: str, count: int) -> Service:
    args = ["ecs", "update-service", "--cluster", cluster, "--service", service]
    args += ["--desired-count", str(count), "--region", region]
    command = " ".join(["aws", *args])
    doc = run(args, mutating=True)
    updated = doc.get("service")
    if not isinstance(updated, dict):
        raise UnexpectedOutput(command, "no 'service' object in the output")
    return parse_service(updated, command)


def record_paused_count(run: Runner, arn: str, region: str, count: int) -> None:
    args = ["ecs", "tag-resource", "--resource-arn", arn, "--region", region]
    args += ["--tags", json.dumps([{"key": PAUSED_COUNT_TAG, "value": str(count)}])]
    run(args, mutating=True)


def forget_paused_count(run: Runner, arn: str, region: str) -> None:
    args = ["ecs", "untag-resource", "--resource-arn", arn, "--region", region]
    args += ["--tag-keys", PAUSED_COUNT_TAG]
    run(args, mutating=True)


def forget_paused_count_if_running(
    run: Runner, cluster: str, service: str, region: str, arn: str
) -> bool:
    """Remove the paused-count record, unless the service is at 0 again when read right before.

    Two controllers can run side by side (a rolling deploy): while one resumes (scale up,
    then untag), the other may pause again in between, keeping the tag as its record. Removing
    that tag would lose the count for good. Reading again narrows the window to the time of
    one untag call; see docs/reliability.md. Returns whether the tag was removed.
    """
    try:
        current = describe(run, cluster, service, region)
    except UnexpectedOutput as error:
        # A query, not a change: an unreadable answer means not knowing, so nothing is removed.
        raise AwsError(error.command, error.code, error.message, retryable=False) from None
    if current.desired == 0:
        log.warning(
            "kept the paused-count tag (%s): the service is paused again (desired 0), "
            "by another controller or a person, so the tag is that pause's record",
            current.paused_tag,
        )
        return False
    forget_paused_count(run, arn, region)
    return True
