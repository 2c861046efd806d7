"""The autoscaler's ECS service (ECS mode): read its counts and records, set its desired count,
tag it; its part of the rule, its steps, and how it shows (`Ecs`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller import records
from controller.autoscalers.autoscaler import Autoscaler, Calls, Facts, unrecorded
from controller.aws import AwsError, JsonDict, Runner, UnexpectedOutput, shown_value
from controller.decide import Context, Decision, Phase, Step, Verb, Verdict
from controller.settings import Reader, Shared

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


# --- its steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordPausedCount(Step):
    """Tag the service with the desired count it had, under this pause's own key, before
    setting it to 0."""

    phase: ClassVar[Phase] = Phase.RECORD
    service_arn: str
    key: str
    count: int


@dataclass(frozen=True)
class SetDesiredCount(Step):
    count: int


@dataclass(frozen=True)
class ForgetPausedCount(Step):
    """Remove these records (and no other: another pause's may have come since)."""

    phase: ClassVar[Phase] = Phase.FORGET
    service_arn: str
    keys: tuple[str, ...]


# ASCII digits only: str.isdigit() also takes other scripts' digits (and characters int()
# refuses), and a record is data anyone with ecs:TagResource may have written.
_COUNT = re.compile(r"[0-9]{1,9}")
NAMES = ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE")
# IAM's limit for an ARN, well above any ECS cluster or service name or ARN.
MAX_NAME = 2048
MAX_TASKS = 5000  # ECS's quota of tasks per service
# The metric dimension that names the service: CLUSTER/SERVICE, exactly as configured.
DIMENSION = "AutoscalerService"


def recorded_count(tag: str | None, maximum: int = 10) -> int | None:
    """The count a paused-count tag holds, or None when it holds nothing usable: not plain
    ASCII digits, 0, or more than `maximum`."""
    if tag is None or not _COUNT.fullmatch(tag):
        return None
    count = int(tag)
    return count if 0 < count <= maximum else None


def _quoted(value: str, limit: int = 40) -> str:
    """A tag value as a log line shows it: escaped, and short even when it is not."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} chars)"


@dataclass(frozen=True)
class Ecs(Autoscaler[Service]):
    """A home-made autoscaler running as an ECS service: paused at desired count 0, resumed
    to the count it had."""

    name = "ecs"
    mode = "ECS mode (an autoscaler running as an ECS service)"
    settings = (
        ("AUTOSCALER_CLUSTER", "unset", "ECS cluster of the autoscaler (name or ARN)"),
        ("AUTOSCALER_REGION", "unset", "region of that cluster"),
        ("AUTOSCALER_SERVICE", "unset", "ECS service of the autoscaler (name or ARN)"),
        ("RESUME_COUNT", "1", "desired count to resume to without a usable record"),
        ("RESUME_COUNT_MAX", "10", "a recorded count above this is not trusted"),
    )
    switch = "AUTOSCALER_SERVICE"
    policy = "iam-policy.json"
    condition = "EcsMode"
    query = "ECS query"

    cluster: str
    region: str
    service: str
    resume_count: int = 1
    # The highest recorded count trusted: anyone with ecs:TagResource can write the record.
    resume_count_max: int = 10

    @classmethod
    def configure(cls, read: Reader, shared: Shared) -> Ecs | None:
        # The original image's mode: on unless another way of pausing is set (another kind,
        # or only the circuit breaker on HTTP_PORT tells an autoscaler to wait); half an ECS
        # configuration is always a mistake.
        if shared.alone and not any(name in read for name in NAMES):
            return None
        why = (
            ": the ECS mode needs AUTOSCALER_CLUSTER, AUTOSCALER_REGION and AUTOSCALER_SERVICE"
            if shared.alone
            else f" (needed unless {' or '.join(shared.others)} is set, or HTTP_PORT for a "
            "circuit breaker only)"
        )
        ecs = cls(
            cluster=read.literal("AUTOSCALER_CLUSTER", MAX_NAME, cli_argument=True, why=why),
            region=read.region("AUTOSCALER_REGION", why),
            service=read.literal("AUTOSCALER_SERVICE", MAX_NAME, cli_argument=True, why=why),
            resume_count=read.count("RESUME_COUNT", 1, MAX_TASKS),
            resume_count_max=read.count("RESUME_COUNT_MAX", 10, MAX_TASKS),
        )
        if shared.cloudwatch:
            read.dimension("AUTOSCALER_CLUSTER/AUTOSCALER_SERVICE", ecs.named)
        if ecs.resume_count > ecs.resume_count_max:
            # A record above RESUME_COUNT_MAX is refused for RESUME_COUNT: that must be trusted.
            read.problems.append(
                f"RESUME_COUNT ({ecs.resume_count}) is above RESUME_COUNT_MAX "
                f"({ecs.resume_count_max})"
            )
        return ecs

    @property
    def named(self) -> str:
        return f"{self.cluster}/{self.service}"

    @property
    def label(self) -> str:
        """The service's label on the paused gauge."""
        return f"ecs:{self.named}"

    def pausing(self) -> str:
        return f"{self.named} ({self.region})"

    def dimensions(self) -> dict[str, str]:
        return {DIMENSION: self.named}

    def known(self) -> list[str]:
        return [self.label]

    # --- a tick ------------------------------------------------------------------------------

    def read(self, run: Runner) -> Service:
        return describe(run, self.cluster, self.service, self.region)

    def records(self, view: Service) -> Mapping[str, Mapping[str, str | None]]:
        return {view.arn: {key: pause_of(key) for key in view.records}}

    def plan(self, view: Service, verdict: Verdict, context: Context) -> list[Decision]:
        if view.status != "ACTIVE":
            return [Decision(Verb.HOLD, f"service is {view.status}, not ACTIVE", fault=True)]
        if context.releasing:
            if not view.records:
                return []  # no record: not paused by the controller, nothing to release
            if view.desired == 0 and self._count(view) is None:
                # The loop would fall back to RESUME_COUNT; releasing by hand should not guess.
                reason = (
                    f"the paused-count tag of service {view.name} holds {view.paused_tag!r}, "
                    f"not a count up to RESUME_COUNT_MAX={self.resume_count_max}: set its "
                    f"desired count by hand, then remove the tags {', '.join(sorted(view.records))}"
                )
                return [Decision(Verb.HOLD, reason, fault=True)]
        if verdict.pause:
            decision = self._pause(view, context.pause_id)
        elif verdict.resume:
            decision = self._resume(view, context.settled)
        else:
            return []
        return [decision]

    def _count(self, view: Service) -> int | None:
        # Every record of one service holds the count it had before the pauses; should they
        # differ (a person edited one), the highest errs on the side of capacity.
        counts = {recorded_count(v, self.resume_count_max) for v in view.records.values()}
        return max((c for c in counts if c is not None), default=None)

    def _pause(self, view: Service, pause_id: str) -> Decision:
        if view.desired == 0:
            return self._decision(Verb.HOLD, "backup active, already paused")
        # Always a record of its own, even with one there: that one may be a record a
        # resume is about to remove, having read it (two controllers, docs/reliability.md).
        record = RecordPausedCount(view.arn, record_key(pause_id), view.desired)
        alarm = ""
        if view.desired > self.resume_count_max:
            # Said now, not only at the resume, so that the setting is fixed during the backup.
            alarm = (
                f"desired count {view.desired} is above RESUME_COUNT_MAX="
                f"{self.resume_count_max}: its record will not be trusted and the resume "
                f"will go to RESUME_COUNT={self.resume_count}; raise RESUME_COUNT_MAX to keep it"
            )
        change = f"desired {view.desired} -> 0"
        return self._decision(
            Verb.PAUSE, "backup active", change, (record, SetDesiredCount(0)), alarm
        )

    def _resume(self, view: Service, settled: frozenset[tuple[str, str]]) -> Decision:
        old = tuple(sorted(k for k in view.records if (view.arn, k) in settled))
        forget = (ForgetPausedCount(view.arn, old),) if old else ()
        if view.desired == 0:
            recorded = self._count(view)
            count = recorded or self.resume_count
            reason, alarm = "no backup active", ""
            if recorded:
                reason += ", restoring the count recorded at pause"
            elif view.records:
                shown = _quoted(view.paused_tag or "")
                reason += f", recorded count unusable ({shown})"
                alarm = (
                    f"the paused-count record on {view.arn} holds {shown}, not a count from 1 "
                    f"to RESUME_COUNT_MAX={self.resume_count_max} in ASCII digits: not "
                    f"trusted, resuming to RESUME_COUNT={self.resume_count}"
                )
            steps = (SetDesiredCount(count), *forget)
            return self._decision(Verb.RESUME, reason, f"desired 0 -> {count}", steps, alarm)
        if forget:
            # Running and a record seen long enough: the controller stopped between scaling
            # up and untagging, a resume left it to settle, or a person scaled it up by hand.
            change = f"remove the stale paused-count record ({view.paused_tag})"
            reason = "no backup active, already running"
            return self._decision(Verb.TIDY, reason, change, forget)
        if view.records:
            reason = "no backup active, already running; a recent record waits to settle"
            return self._decision(Verb.HOLD, reason)
        return self._decision(Verb.HOLD, "no backup active, already running")

    def _decision(
        self,
        verb: Verb,
        reason: str,
        change: str = "",
        steps: tuple[Step, ...] = (),
        alarm: str = "",
    ) -> Decision:
        return Decision(verb, reason, change, steps, alarm=alarm, kind=self.name)

    def apply(self, calls: Calls, steps: Sequence[Step]) -> list[AwsError | None]:
        for step in steps:
            match step:
                case RecordPausedCount(arn, key, count):
                    record_paused_count(calls.run, arn, self.region, key, count)
                case SetDesiredCount(count):
                    set_desired_count(calls.run, self.cluster, self.service, self.region, count)
                case ForgetPausedCount(arn, keys):
                    forget_paused_counts(calls.run, arn, self.region, keys)
                case _:
                    raise TypeError(f"not a step of the ECS service: {step!r}")
        return [None] * len(steps)

    def unrecorded(self, decision: Decision, step: Step, error: AwsError) -> str:
        count = step.count if isinstance(step, RecordPausedCount) else "?"
        fix = ""
        if "Long arn format" in error.message:
            fix = (
                "the service has a short ARN (created before ECS's long ARN format), which "
                "cannot be tagged: opt in (`aws ecs put-account-setting-default --name "
                "serviceLongArnFormat --value enabled`) and recreate the service"
            )
        return unrecorded(
            decision,
            error,
            needs="ecs:TagResource and ecs:UntagResource on the service",
            consequence=(
                f"pausing anyway; the resume will set the desired count to RESUME_COUNT="
                f"{self.resume_count}, not to the {count} it had"
            ),
            fix=fix,
        )

    def describe(self, view: Service | None, steps: Sequence[Step] = ()) -> Facts:
        field: dict[str, Any] = {"cluster": self.cluster, "name": self.service}
        held = {}
        if view is not None:
            field.update(
                desired=view.desired,
                running=view.running,
                pending=view.pending,
                status=view.status,
                paused_count_tag=view.paused_tag,
            )
            desired = view.desired
            for step in steps:
                if isinstance(step, SetDesiredCount):
                    desired = step.count
            held[self.label] = desired == 0
        text = f"service {self.named}: {view or 'unknown'}"
        return Facts(text, ("service", field), held)
