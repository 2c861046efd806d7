"""The autoscaler's ECS service (ECS mode): read its counts and records, set its desired count,
tag it; its steps, and what the rest of the controller shows of it (AUTOSCALER)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controller import records
from controller.autoscalers.autoscaler import AnyStep, Autoscaler
from controller.aws import AwsError, JsonDict, Runner, UnexpectedOutput, shown_value

if TYPE_CHECKING:
    from controller.config import Config
    from controller.decide import Observed

# The desired count the service had when the controller paused it lives on the service itself,
# so it survives a restart of the controller and shows in the console. Each pause writes a key
# of its own (this prefix, a colon and the pause's id): tags are last-writer-wins and a resume
# removes only the keys it read, so a second controller's pause is never undone by a first
# controller's late untag (docs/reliability.md). The bare key is what version 1.0 wrote: still
# read, resumed from and removed, never written.
PAUSED_COUNT_TAG = "dynamodb-autoscaler-control:paused-desired-count"


def record_key(pause_id: str) -> str:
    return f"{PAUSED_COUNT_TAG}:{pause_id}"


def is_record(key: str) -> bool:
    return key == PAUSED_COUNT_TAG or key.startswith(f"{PAUSED_COUNT_TAG}:")


def pause_of(key: str) -> str | None:
    """The pause id in a record key; None for the bare key of version 1.0 (or a hand-made one)."""
    rest = key[len(PAUSED_COUNT_TAG) + 1 :]
    return rest if records.PAUSE_ID.fullmatch(rest) else None


@dataclass(frozen=True)
class Service:
    arn: str
    name: str
    status: str
    desired: int
    running: int
    pending: int
    # The controller's records on the service, tag key -> value as found (any text: a person
    # may have edited one). Several at once are normal for a moment: two controllers paused
    # together, or a pause began while an older record waited to be removed.
    records: Mapping[str, str] = field(default_factory=dict)

    @property
    def paused_tag(self) -> str | None:
        """The recorded value, for people: one record's value, or all of them when they differ."""
        values = sorted(set(self.records.values()))
        return None if not values else values[0] if len(values) == 1 else ",".join(values)

    def __str__(self) -> str:
        shown = (
            f"desired={self.desired} running={self.running} pending={self.pending} "
            f"status={self.status}"
        )
        if not self.records:
            return shown
        more = f" ({len(self.records)} records)" if len(self.records) > 1 else ""
        return f"{shown} paused-count-tag={self.paused_tag}{more}"


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
            records=_records(doc.get("tags")),
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


def _records(tags: object) -> dict[str, str]:
    # No "tags" at all is what ECS prints for a service without tags; anything else that is
    # not a list of {key, value} strings could hide a record, so it is refused.
    if tags is None:
        return {}
    if not isinstance(tags, list):
        raise ValueError(f"tags is {shown_value(tags)}, not a list")
    found = {}
    for tag in tags:
        if not isinstance(tag, dict) or not isinstance(tag.get("key"), str):
            raise ValueError(f"a tag is {shown_value(tag)}, not a {{key, value}} object")
        key = tag["key"]
        if is_record(key):
            value = tag.get("value")
            if not isinstance(value, str):
                raise ValueError(f"tag {key} has {shown_value(value)}, not a string")
            found[key] = value
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


def record_paused_count(run: Runner, arn: str, region: str, key: str, count: int) -> None:
    args = ["ecs", "tag-resource", "--resource-arn", arn, "--region", region]
    args += ["--tags", json.dumps([{"key": key, "value": str(count)}])]
    run(args, mutating=True)


def forget_paused_counts(run: Runner, arn: str, region: str, keys: Iterable[str]) -> None:
    args = ["ecs", "untag-resource", "--resource-arn", arn, "--region", region]
    run([*args, "--tag-keys", *keys], mutating=True)


# --- its steps, as the rule plans them (controller/decide.py) --------------------------------


@dataclass(frozen=True)
class RecordPausedCount:
    """Tag the service with the desired count it had, under this pause's own key, before
    setting it to 0."""

    service_arn: str
    key: str
    count: int


@dataclass(frozen=True)
class SetDesiredCount:
    count: int


@dataclass(frozen=True)
class ForgetPausedCount:
    """Remove these records (and no other: another pause's may have come since)."""

    service_arn: str
    keys: tuple[str, ...]


Step = RecordPausedCount | SetDesiredCount | ForgetPausedCount


def apply(run: Runner, config: Config, step: AnyStep) -> bool:
    c = config
    match step:
        case RecordPausedCount(arn, key, count):
            record_paused_count(run, arn, c.autoscaler_region, key, count)
        case SetDesiredCount(count):
            set_desired_count(
                run, c.autoscaler_cluster, c.autoscaler_service, c.autoscaler_region, count
            )
        case ForgetPausedCount(arn, keys):
            forget_paused_counts(run, arn, c.autoscaler_region, keys)
        case _:
            return False
    return True


# --- what the rest of the controller shows of it ---------------------------------------------

# The metric dimension that names the service: CLUSTER/SERVICE, exactly as configured.
DIMENSION = "AutoscalerService"


def _named(config: Config) -> str:
    return f"{config.autoscaler_cluster}/{config.autoscaler_service}"


def _label(config: Config) -> str:
    """The service's label on the paused gauge."""
    return f"ecs:{_named(config)}"


def _field(config: Config, seen: Observed) -> tuple[str, dict[str, Any]]:
    service: dict[str, Any] = {
        "cluster": config.autoscaler_cluster,
        "name": config.autoscaler_service,
    }
    if seen.service is not None:
        service.update(
            desired=seen.service.desired,
            running=seen.service.running,
            pending=seen.service.pending,
            status=seen.service.status,
            paused_count_tag=seen.service.paused_tag,
        )
    return "service", service


def _held(config: Config, seen: Observed, steps: Sequence[AnyStep]) -> dict[str, bool]:
    if seen.service is None:
        return {}
    desired = seen.service.desired
    for step in steps:
        if isinstance(step, SetDesiredCount):
            desired = step.count
    return {_label(config): desired == 0}


AUTOSCALER = Autoscaler(
    name="ecs",
    mode="ECS mode (an autoscaler running as an ECS service)",
    settings=(
        ("AUTOSCALER_CLUSTER", "unset", "ECS cluster of the autoscaler (name or ARN)"),
        ("AUTOSCALER_REGION", "unset", "region of that cluster"),
        ("AUTOSCALER_SERVICE", "unset", "ECS service of the autoscaler (name or ARN)"),
        ("RESUME_COUNT", "1", "desired count to resume to without a usable record"),
        ("RESUME_COUNT_MAX", "10", "a recorded count above this is not trusted"),
    ),
    policy="iam-policy.json",
    condition="EcsMode",
    on=lambda config: config.ecs_mode,
    pausing=lambda config: f"{_named(config)} ({config.autoscaler_region})",
    dimensions=lambda config: {DIMENSION: _named(config)},
    part=lambda seen: seen.service,
    shown=lambda config, seen: f"service {_named(config)}: {seen.service or 'unknown'}",
    field=_field,
    held=_held,
    known=lambda config: [_label(config)],
    apply=apply,
)
