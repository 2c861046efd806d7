"""DynamoDB's own auto scaling: the Application Auto Scaling targets of the matching tables,
their suspended state, and the table tags where the controller records what it suspended.

Why table tags: tags on scalable targets would be the natural place, but they cannot be
tested against moto (its application-autoscaling tag-resource fails), so the record lives on
the DynamoDB table the target belongs to, one tag per pause and target the controller suspended:

    dynamodb-autoscaler-control:suspended:<pause id>:table:read = DynamicScalingInSuspended ...
    dynamodb-autoscaler-control:suspended:<pause id>:index/by-date:write = ...

The value lists the flags the controller turned on (and so will turn off again); a flag that
was already on before the pause is not in it and stays on. Each pause writes keys of its own
(the pause id, controller/records.py), so that a resume removes only the records it read and a pause
by a second controller in the same window keeps its own (docs/reliability.md). Keys without a
pause id (`...:suspended:table:read`) are what version 1.0 wrote: read, resumed from and
removed, never written.

The records are read (get-resources, 100 tables a call), written and removed (tag-resources,
untag-resources, 20 tables a call) through the Resource Groups Tagging API: a pause or resume
of many tables costs one call per scalable target and a handful more (controller/act.py).

Its steps, and what the rest of the controller shows of it, are at the end (AUTOSCALER).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller import records
from controller.autoscalers.autoscaler import AnyStep, Autoscaler
from controller.aws import (
    RETRYABLE_CODES,
    AwsError,
    JsonDict,
    Runner,
    UnexpectedOutput,
    shown_value,
)

if TYPE_CHECKING:
    from controller.config import Config
    from controller.decide import Observed

FLAGS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
ALL = frozenset(FLAGS)
RECORD_PREFIX = "dynamodb-autoscaler-control:suspended:"
# DynamoDB's limit on a tag key; index names can be longer than what fits after the prefix.
_MAX_KEY = 128
_ID_LENGTH = records.LENGTH + 1  # the id and its colon

# A table's records: tag key -> the flags that record says the controller turned on.
Record = Mapping[str, frozenset[str]]


def _part(where: str, io: str, room: int) -> str:
    part = f"{where}:{io}"
    if len(RECORD_PREFIX) + room + len(part) > _MAX_KEY:
        digest = hashlib.sha256(where.encode()).hexdigest()[:16]
        part = f"index#{digest}:{io}"
    return part


@dataclass(frozen=True)
class Target:
    resource_id: str  # table/NAME or table/NAME/index/INDEX
    dimension: str  # dynamodb:table:ReadCapacityUnits, dynamodb:index:WriteCapacityUnits, ...
    suspended: frozenset[str]  # which FLAGS are on now
    table_arn: str

    @property
    def table(self) -> str:
        return self.resource_id.split("/")[1]

    def _where(self) -> tuple[str, str]:
        parts = self.resource_id.split("/", 2)
        where = parts[2] if len(parts) > 2 else "table"
        return where, "read" if self.dimension.endswith("ReadCapacityUnits") else "write"

    def record_key(self, pause_id: str) -> str:
        """The tag key of this target's record in the pause `pause_id`."""
        return f"{RECORD_PREFIX}{pause_id}:{_part(*self._where(), _ID_LENGTH)}"

    @property
    def legacy_key(self) -> str:
        """The key version 1.0 recorded this target under."""
        return f"{RECORD_PREFIX}{_part(*self._where(), 0)}"

    def named_by(self, key: str) -> bool:
        """Whether the record tag `key` (of either version) is about this target."""
        pause_id, part = split_key(key)
        if pause_id is None:
            return key == self.legacy_key
        return part == _part(*self._where(), _ID_LENGTH)

    def __str__(self) -> str:
        return f"{self.resource_id} {self.dimension.rsplit(':', 1)[-1]}"


def split_key(key: str) -> tuple[str | None, str]:
    """(pause id, the rest) of a record key; no id for a key written by version 1.0."""
    return records.split(key[len(RECORD_PREFIX) :])


def table_of(resource_id: str) -> str | None:
    """The table name of a dynamodb ResourceId, or None for anything that is not a table's."""
    parts = resource_id.split("/")
    if parts[0] != "table" or len(parts) not in (2, 4) or (len(parts) == 4 and parts[2] != "index"):
        return None
    return parts[1]


def _table_arn(target_arn: str, table: str) -> str:
    # arn:PARTITION:application-autoscaling:REGION:ACCOUNT:scalable-target/ID gives everything
    # a table ARN needs, so no extra call (sts get-caller-identity) is needed to build one.
    parts = target_arn.split(":")
    if len(parts) < 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {target_arn!r}")
    return f"arn:{parts[1]}:dynamodb:{parts[3]}:{parts[4]}:table/{table}"


def parse_targets(doc: JsonDict, prefix: str, command: str) -> tuple[Target, ...]:
    """The targets of tables whose name starts with `prefix` (literally), sorted.

    Total: any JSON gives the targets or UnexpectedOutput. An entry of another table is
    skipped whatever else it holds; an entry that could be one of ours must be well formed.
    """
    items = doc.get("ScalableTargets")
    if not isinstance(items, list):
        raise UnexpectedOutput(command, "no 'ScalableTargets' list in the output")
    found = []
    try:
        for item in items:
            if not isinstance(item, dict):
                raise ValueError(f"an entry is {shown_value(item)}, not an object")
            resource = _text(item, "ResourceId")
            table = table_of(resource)
            if table is None or not table.startswith(prefix):
                continue
            found.append(
                Target(
                    resource_id=resource,
                    dimension=_text(item, "ScalableDimension"),
                    suspended=_flags(item.get("SuspendedState")),
                    table_arn=_table_arn(_text(item, "ScalableTargetARN"), table),
                )
            )
    except ValueError as error:
        raise UnexpectedOutput(command, f"a scalable target is malformed: {error}") from None
    return tuple(sorted(found, key=lambda t: (t.resource_id, t.dimension)))


def _flags(state: object) -> frozenset[str]:
    # moto omits SuspendedState for a target registered without one; AWS shows all three
    # flags false. Both mean: nothing suspended. A flag that is not a boolean is not guessed.
    if state is None:
        return frozenset()
    if not isinstance(state, dict):
        raise ValueError(f"SuspendedState is {shown_value(state)}, not an object")
    for flag in FLAGS:
        if not isinstance(state.get(flag, False), bool):
            raise ValueError(f"{flag} is {shown_value(state[flag])}, not true or false")
    return frozenset(flag for flag in FLAGS if state.get(flag) is True)


def _text(doc: JsonDict, key: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is {shown_value(value)}, not a string")
    return value


def describe(run: Runner, prefix: str, region: str) -> tuple[Target, ...]:
    # The CLI follows NextToken itself; AAS cannot filter by a name prefix, so we do.
    args = ["application-autoscaling", "describe-scalable-targets"]
    args += ["--service-namespace", "dynamodb", "--region", region]
    return parse_targets(run(args), prefix, " ".join(["aws", *args]))


def record_of(tags: object, command: str) -> dict[str, frozenset[str]]:
    """The controller's record tags among `tags` ([{Key, Value}]); other tags are ignored,
    whatever they hold."""
    if not isinstance(tags, list):
        raise UnexpectedOutput(command, "no 'Tags' list in the output")
    record = {}
    try:
        for tag in tags:
            if not isinstance(tag, dict):
                raise ValueError(f"a tag is {shown_value(tag)}, not an object")
            key = _text(tag, "Key")
            if key.startswith(RECORD_PREFIX):
                value = tag.get("Value", "")
                if not isinstance(value, str):
                    raise ValueError(f"tag {key} has {shown_value(value)}, not a string")
                record[key] = frozenset(value.split()) & ALL
    except ValueError as error:
        raise UnexpectedOutput(command, f"a tag is malformed: {error}") from None
    return record


def parse_records(
    doc: JsonDict, tables: Collection[str], command: str
) -> dict[str, dict[str, frozenset[str]]]:
    """The record tags of each table in `tables` (by ARN), as the Resource Groups Tagging API's
    get-resources prints them. A table it does not list has no tags at all: no records.
    Entries of other resources are skipped whatever they hold."""
    items = doc.get("ResourceTagMappingList")
    if not isinstance(items, list):
        raise UnexpectedOutput(command, "no 'ResourceTagMappingList' list in the output")
    records: dict[str, dict[str, frozenset[str]]] = {arn: {} for arn in tables}
    for index, item in enumerate(items):
        arn = item.get("ResourceARN") if isinstance(item, dict) else None
        if not isinstance(arn, str):
            raise UnexpectedOutput(
                command, f"entry {index} has no ResourceARN: {shown_value(item)}"
            )
        if arn in records and isinstance(item, dict):
            records[arn] = record_of(item.get("Tags"), command)
    return records


# The most ARNs one get-resources call takes.
ARNS_PER_READ = 100


def read_records(
    run: Runner, region: str, tables: Collection[str]
) -> dict[str, dict[str, frozenset[str]]]:
    """The records of the tables (by ARN) through the Resource Groups Tagging API: one call per
    100 tables, instead of one list-tags-of-resource per table."""
    arns = sorted(tables)
    records: dict[str, dict[str, frozenset[str]]] = {}
    for start in range(0, len(arns), ARNS_PER_READ):
        chunk = arns[start : start + ARNS_PER_READ]
        args = ["resourcegroupstaggingapi", "get-resources", "--region", region]
        args += ["--resource-arn-list", *chunk]
        records.update(parse_records(run(args), chunk, " ".join(["aws", *args[:4]])))
    return records


# The most resources one tag-resources or untag-resources call takes.
ARNS_PER_CHANGE = 20
TAG = "aws resourcegroupstaggingapi tag-resources"
UNTAG = "aws resourcegroupstaggingapi untag-resources"
# A table's refusal within a call that time may clear, besides the runner's retryable codes:
# the Tagging API's own fault (AWS says to retry it), and DynamoDB's limits on tagging (five
# TagResource calls a second per account, where one call here asks for twenty).
_PASSING = frozenset(
    {"InternalServiceException", "LimitExceededException", "ConcurrentModificationException"}
)


def tag_tables(
    run: Runner, region: str, arns: Sequence[str], record: Record
) -> dict[str, AwsError]:
    """Write the same record on each of the tables (at most ARNS_PER_CHANGE) in one call: the
    tables that refused it, with why."""
    _within_one_call(arns)
    tags = {key: " ".join(sorted(flags)) for key, flags in sorted(record.items())}
    args = ["resourcegroupstaggingapi", "tag-resources", "--region", region]
    args += ["--resource-arn-list", *arns, "--tags", json.dumps(tags)]
    return parse_refusals(run(args, mutating=True), arns, TAG)


def untag_tables(
    run: Runner, region: str, arns: Sequence[str], keys: Iterable[str]
) -> dict[str, AwsError]:
    """Remove the same record keys from each of the tables (at most ARNS_PER_CHANGE) in one
    call: the tables that refused, with why."""
    _within_one_call(arns)
    args = ["resourcegroupstaggingapi", "untag-resources", "--region", region]
    args += ["--resource-arn-list", *arns, "--tag-keys", *keys]
    return parse_refusals(run(args, mutating=True), arns, UNTAG)


def _within_one_call(arns: Sequence[str]) -> None:
    if not 0 < len(arns) <= ARNS_PER_CHANGE:
        raise ValueError(f"{len(arns)} tables for one call; it takes 1 to {ARNS_PER_CHANGE}")


def parse_refusals(doc: JsonDict, arns: Collection[str], command: str) -> dict[str, AwsError]:
    """The tables among `arns` that a tag-resources or untag-resources call refused, from its
    FailedResourcesMap (by ARN), each as the error of a call for that table alone.

    Total: any JSON gives the refusals or UnexpectedOutput. No map at all is no refusal (AWS
    may leave an empty one out). An entry for one of the tables is a refusal whatever else it
    holds: a reason that cannot be read does not make the table tagged. Entries for other
    resources are skipped.
    """
    failed = doc.get("FailedResourcesMap")
    if failed is None:
        return {}
    if not isinstance(failed, dict):
        raise UnexpectedOutput(
            command, f"FailedResourcesMap is {shown_value(failed)}, not an object"
        )
    return {
        arn: _refusal(failed[arn], f"{command} --resource-arn-list {arn}")
        for arn in arns
        if arn in failed
    }


def _refusal(info: object, command: str) -> AwsError:
    fields = info if isinstance(info, dict) else {}
    code = fields.get("ErrorCode")
    code = code if isinstance(code, str) and code.strip() else "UnknownError"
    message = fields.get("ErrorMessage")
    message = " ".join(message.split()) if isinstance(message, str) else "(no message)"
    status = fields.get("StatusCode")
    status = status if isinstance(status, int) and not isinstance(status, bool) else 0
    # As the runner judges a whole call (aws.classify): throttling and the service's faults pass.
    retryable = code in RETRYABLE_CODES or code in _PASSING or status == 429 or status >= 500
    return AwsError(command, code, message, retryable)


def set_suspended(run: Runner, target: Target, region: str, suspended: frozenset[str]) -> None:
    # Updating an existing target: AWS leaves out-of-call settings (Min/MaxCapacity) as they
    # are, but moto replaces the whole SuspendedState, so all three flags always go along.
    state = ",".join(f"{flag}={str(flag in suspended).lower()}" for flag in FLAGS)
    args = ["application-autoscaling", "register-scalable-target"]
    args += ["--service-namespace", "dynamodb", "--resource-id", target.resource_id]
    args += ["--scalable-dimension", target.dimension, "--suspended-state", state]
    run([*args, "--region", region], mutating=True)


# --- its steps, as the rule plans them (controller/decide.py) --------------------------------


@dataclass(frozen=True)
class RecordSuspended:
    """Tag the table with the flags about to be turned on, under this pause's own keys, before
    turning them on."""

    table_arn: str
    record: Record


@dataclass(frozen=True)
class SetSuspended:
    target: Target
    suspended: frozenset[str]


@dataclass(frozen=True)
class ForgetSuspended:
    table_arn: str
    keys: tuple[str, ...]


Step = RecordSuspended | SetSuspended | ForgetSuspended


def apply(run: Runner, config: Config, step: AnyStep) -> bool:
    """The scaling steps; the records' steps are written in batches by controller/act.py."""
    if not isinstance(step, SetSuspended):
        return False
    set_suspended(run, step.target, config.dynamodb_region, step.suspended)
    return True


# --- what the rest of the controller shows of it ---------------------------------------------

# The metric dimension that names the tables: the prefix, exactly as configured.
DIMENSION = "DynamodbTablePrefix"


def after(
    targets: Sequence[Target], steps: Sequence[AnyStep]
) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    """(table, suspended flags) of each scalable target once `steps` were carried out."""
    state = {(t.resource_id, t.dimension): (t.table, t.suspended) for t in targets}
    for step in steps:
        if isinstance(step, SetSuspended):
            t = step.target
            state[(t.resource_id, t.dimension)] = (t.table, step.suspended)
    return state


def _state(targets: Sequence[Target] | None) -> str:
    if targets is None:
        return "unknown"
    suspended = sum(1 for t in targets if t.suspended)
    return f"{len(targets)} scalable targets, {suspended} suspended"


def _field(config: Config, seen: Observed) -> tuple[str, dict[str, Any]]:
    tables: dict[str, Any] = {
        "prefix": config.dynamodb_table_prefix,
        "region": config.dynamodb_region,
    }
    if seen.targets is not None:
        tables["targets"] = len(seen.targets)
        tables["suspended"] = sum(1 for t in seen.targets if t.suspended)
    return "tables", tables


def _held(config: Config, seen: Observed, steps: Sequence[AnyStep]) -> dict[str, bool]:
    # A table is held paused when every scalable target of it has every flag on.
    state = after(seen.targets or (), steps).values()
    return {
        f"dynamodb:{table}": all(flags == ALL for name, flags in state if name == table)
        for table in {table for table, _ in state}
    }


def _measured(config: Config, seen: Observed, steps: Sequence[AnyStep]) -> dict[str, float]:
    if seen.targets is None:
        return {}
    suspended = sum(1 for _, flags in after(seen.targets, steps).values() if flags)
    return {"SuspendedTargets": suspended}


AUTOSCALER = Autoscaler(
    name="dynamodb",
    mode="native mode (DynamoDB's own auto scaling)",
    settings=(
        ("DYNAMODB_TABLE_PREFIX", "unset", "tables whose name starts with this"),
        ("DYNAMODB_REGION", "EMR_REGION", "region of those tables"),
    ),
    policy="iam-policy-native-autoscaling.json",
    condition="NativeMode",
    on=lambda config: config.native_mode,
    pausing=lambda config: (
        f"the auto scaling of tables {config.dynamodb_table_prefix!r}... ({config.dynamodb_region})"
    ),
    dimensions=lambda config: {DIMENSION: config.dynamodb_table_prefix},
    part=lambda seen: seen.targets,
    shown=lambda config, seen: f"tables {config.dynamodb_table_prefix}*: {_state(seen.targets)}",
    field=_field,
    held=_held,
    # The tables are known only once read: their gauges start with the first tick.
    known=lambda config: [],
    apply=apply,
    measured=_measured,
    # Scalable targets with any scaling suspended after the tick's changes.
    units=(("SuspendedTargets", "Count"),),
    fans_out=True,
)
