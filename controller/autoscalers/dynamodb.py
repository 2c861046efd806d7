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
of many tables costs one call per scalable target and a handful more.

Its part of the rule, its steps and how it shows are at the end (`Dynamodb`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller import records
from controller.autoscalers.autoscaler import Autoscaler, Calls, Facts, accepted, unrecorded
from controller.aws import (
    RETRYABLE_CODES,
    AwsError,
    JsonDict,
    Runner,
    UnexpectedOutput,
    shown_value,
)
from controller.decide import Context, Decision, Phase, Step, Verb, Verdict
from controller.settings import Reader, Shared
from controller.sources.backup import Backup, Names

log = logging.getLogger(__name__)

FLAGS = ("DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended")
ALL = frozenset(FLAGS)
RECORD_PREFIX = "dynamodb-autoscaler-control:suspended:"
# PAUSE_SCOPE: every table under the prefix while any backup runs, or those each one names.
SCOPES = ("prefix", "named")
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


# --- its steps ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordSuspended(Step):
    """Tag the table with the flags about to be turned on, under this pause's own keys, before
    turning them on."""

    phase: ClassVar[Phase] = Phase.RECORD
    table_arn: str
    record: Record


@dataclass(frozen=True)
class SetSuspended(Step):
    target: Target
    suspended: frozenset[str]


@dataclass(frozen=True)
class ForgetSuspended(Step):
    phase: ClassVar[Phase] = Phase.FORGET
    table_arn: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Tables:
    """What native mode reads each tick: the tables' scalable targets and their records."""

    targets: tuple[Target, ...]
    # The controller's records, by table ARN, for the tables whose records were read.
    records: Mapping[str, Record] = field(default_factory=dict)


# The tables' records are read at least this often, so that records left by a controller
# that died are found.
RECORDS_READ_EVERY = 10
MAX_TABLE_NAME = 255  # DynamoDB's limit: a longer prefix could never match a table
# The metric dimension that names the tables: the prefix, exactly as configured.
DIMENSION = "DynamodbTablePrefix"
TableCall = Callable[[Sequence[str]], dict[str, AwsError]]


@dataclass
class _Cadence:
    """When the tables' records need reading: they cost a call per 100 tables, and most
    ticks find none."""

    # Whether records were there when last read: read again until gone. True at first: a
    # restart reads them.
    left: bool = True
    # Set by this controller's own pause: read until seen (the Resource Groups Tagging API
    # may show a new tag a moment late).
    expected: bool = False
    unread: int = 0  # ticks since the last read
    # What was suspended at the last read: a change may be another controller's pause.
    suspended: frozenset[tuple[str, str, frozenset[str]]] = frozenset()


@dataclass(frozen=True)
class Dynamodb(Autoscaler[Tables]):
    """DynamoDB's own auto scaling: the scalable targets of the tables under a prefix, whose
    scale-in, scale-out and scheduled scaling are suspended, then resumed."""

    name = "dynamodb"
    mode = "native mode (DynamoDB's own auto scaling)"
    settings = (
        ("DYNAMODB_TABLE_PREFIX", "unset", "tables whose name starts with this"),
        ("DYNAMODB_REGION", "EMR_REGION", "region of those tables"),
        ("PAUSE_SCOPE", "prefix", "named: pause only the tables each backup names"),
    )
    switch = "DYNAMODB_TABLE_PREFIX"
    policy = "iam-policy-native-autoscaling.json"
    condition = "NativeMode"
    query = "Application Auto Scaling query"
    fans_out = True
    # Scalable targets with any scaling suspended after the tick's changes.
    units = (("SuspendedTargets", "Count"),)

    prefix: str
    region: str
    scope: str = "prefix"  # PAUSE_SCOPE
    _cadence: _Cadence = field(init=False, default_factory=_Cadence, compare=False, repr=False)
    # (backup id, why) of each backup said to hold every table: said once, not each tick.
    _warned: set[tuple[str, str]] = field(
        init=False, default_factory=set, compare=False, repr=False
    )
    # The backups that held each table at the last plan, by name: for the log, the metrics and
    # the circuit breaker's answer for one table.
    _holding: dict[str, tuple[str, ...]] = field(
        init=False, default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def configure(cls, read: Reader, shared: Shared) -> Dynamodb | None:
        alone = [read.only_with(name, cls.switch) for name in ("DYNAMODB_REGION", "PAUSE_SCOPE")]
        if not all(alone) or cls.switch not in read:
            return None
        prefix = read.literal(cls.switch, MAX_TABLE_NAME, cli_argument=False)
        region = read.region("DYNAMODB_REGION") if "DYNAMODB_REGION" in read else shared.region
        if shared.cloudwatch:
            read.dimension(cls.switch, prefix)
        return cls(prefix, region, read.choice("PAUSE_SCOPE", SCOPES))

    @property
    def names_tables(self) -> bool:
        return self.scope == "named"

    def pausing(self) -> str:
        return f"the auto scaling of tables {self.prefix!r}... ({self.region})"

    def dimensions(self) -> dict[str, str]:
        return {DIMENSION: self.prefix}

    # --- a tick ------------------------------------------------------------------------------

    def read(self, run: Runner) -> Tables:
        targets = describe(run, self.prefix, self.region)
        return Tables(targets, self._records(run, targets))

    def _records(self, run: Runner, targets: Sequence[Target]) -> Mapping[str, Record]:
        """The tables' records, by table ARN: read while records were left at the last read or
        what is suspended changed since; empty when a read is not needed, left out when it
        failed."""
        cadence = self._cadence
        cadence.unread += 1
        suspended = frozenset(
            (t.resource_id, t.dimension, t.suspended) for t in targets if t.suspended
        )
        wanted = cadence.left or cadence.expected or cadence.unread >= RECORDS_READ_EVERY
        if not wanted and suspended == cadence.suspended:
            # No record at the last read, and nothing suspended since (what is, someone else
            # suspended): nothing to resume or remove.
            return {t.table_arn: {} for t in targets}
        try:
            found = read_records(run, self.region, {t.table_arn for t in targets})
        except AwsError as error:
            log.error("reading the records on the tables failed: %s", error)
            return {}
        cadence.left = any(found.values())
        cadence.expected &= not cadence.left
        cadence.unread = 0
        cadence.suspended = suspended
        return found

    def records(self, view: Tables) -> Mapping[str, Mapping[str, str | None]]:
        return {
            arn: {key: split_key(key)[0] for key in record} for arn, record in view.records.items()
        }

    def plan(self, view: Tables, verdict: Verdict, context: Context) -> list[Decision]:
        if not verdict.pause and not verdict.resume:
            return []
        by_table: dict[str, list[Target]] = defaultdict(list)
        for target in view.targets:
            by_table[target.table].append(target)
        held = self.held(verdict.backups, by_table)
        decisions = []
        for table, own in sorted(by_table.items()):
            if held.get(table):
                decision = self._pause(table, own, context.pause_id, held[table])
            elif verdict.unknown:
                decision = None  # no backup names it, but one may run unseen: held as it is
            elif context.releasing and own[0].table_arn not in view.records:
                decision = None  # its record could not be read: already said, left alone
            else:
                decision = self._resume(table, own, view.records, context.settled)
            if decision:
                decisions.append(decision)
        if decisions or context.releasing:
            return decisions
        suspended = sum(1 for t in view.targets if t.suspended)
        state = f"{len(view.targets)} scalable targets, {suspended} suspended"
        when = "backup active" if verdict.pause else "no backup active"
        return [Decision(Verb.HOLD, f"{when}, {state}")]

    def held(
        self, backups: Sequence[Backup], tables: Collection[str]
    ) -> dict[str, tuple[Backup, ...]]:
        """The backups that hold each table: every backup holds every table, unless the scope
        is named; then each holds those it names, or all of them when it names nothing
        readable (said once for each backup and reason)."""
        if not self.names_tables:
            return {table: tuple(backups) for table in tables} if backups else {}
        held: dict[str, list[Backup]] = defaultdict(list)
        warned = set()
        for backup in backups:
            names = backup.names or Names(why=f"a {backup.kind} does not say which tables")
            found, why = names.among(tables)
            if found is None:
                warned.add((backup.id, why))
                if (backup.id, why) not in self._warned:
                    log.warning("%s holds every table under %r: %s", backup, self.prefix, why)
            for table in tables if found is None else found:
                held[table].append(backup)
        self._warned.clear()
        self._warned.update(warned)
        self._holding.clear()
        self._holding.update((t, tuple(b.name for b in by)) for t, by in sorted(held.items()))
        return {table: tuple(by) for table, by in held.items()}

    def _pause(
        self, table: str, targets: Sequence[Target], pause_id: str, by: Sequence[Backup]
    ) -> Decision | None:
        # A target someone else fully suspended needs nothing and gets no record, so that
        # resuming leaves it suspended; for a partly suspended one only the missing flags count.
        todo = [t for t in targets if t.suspended != ALL]
        if not todo:
            return None
        record = {t.record_key(pause_id): ALL - t.suspended for t in todo}
        steps: tuple[Step, ...] = (
            RecordSuspended(todo[0].table_arn, record),
            *(SetSuspended(t, ALL) for t in todo),
        )
        change = f"table {table}, {len(todo)} of {len(targets)} scalable targets"
        reason = (
            f"read by {', '.join(b.name for b in by)}" if self.names_tables else "backup active"
        )
        return Decision(Verb.PAUSE, reason, change, steps, kind=self.name)

    def _resume(
        self,
        table: str,
        targets: Sequence[Target],
        found: Mapping[str, Record],
        settled: frozenset[tuple[str, str]],
    ) -> Decision | None:
        arn = targets[0].table_arn
        record = found.get(arn)
        if record is None:
            if any(t.suspended for t in targets):
                reason = f"the record of table {table} could not be read, changing nothing there"
                return Decision(Verb.HOLD, reason, fault=True)
            return None
        # Turn off only what the controller turned on (by any of its records, young or
        # settled) and is still on; the rest stays as it is.
        todo = []
        for target in targets:
            recorded = frozenset().union(*(f for k, f in record.items() if target.named_by(k)))
            if target.suspended & recorded:
                todo.append((target, target.suspended - recorded))
        old = tuple(sorted(k for k in record if (arn, k) in settled))
        forget: tuple[Step, ...] = (ForgetSuspended(arn, old),) if old else ()
        if todo:
            steps: tuple[Step, ...] = (*(SetSuspended(t, state) for t, state in todo), *forget)
            change = f"table {table}, {len(todo)} of {len(targets)} scalable targets"
            return Decision(Verb.RESUME, "no backup active", change, steps, kind=self.name)
        if forget:
            change = f"remove the stale record of table {table}"
            reason = "nothing it names is suspended"
            return Decision(Verb.TIDY, reason, change, forget, kind=self.name)
        return None

    def apply(self, calls: Calls, steps: Sequence[Step]) -> list[AwsError | None]:
        """The scaling one call a target; the records 20 tables a call, each batch's tables
        sharing the same tags (one pause id, one layout of targets, the same flags)."""
        batches: dict[tuple[str, object], list[int]] = defaultdict(list)
        for index, step in enumerate(steps):
            match step:
                case SetSuspended(target, suspended):
                    set_suspended(calls.run, target, self.region, suspended)
                case RecordSuspended(_, record):
                    self._cadence.expected = True
                    batches[(TAG, frozenset(record.items()))].append(index)
                case ForgetSuspended(_, keys):
                    batches[(UNTAG, keys)].append(index)
                case _:
                    raise TypeError(f"not a step of DynamoDB's auto scaling: {step!r}")
        chunks = [
            (what, members[start : start + ARNS_PER_CHANGE])
            for (what, _), members in batches.items()
            for start in range(0, len(members), ARNS_PER_CHANGE)
        ]
        errors: list[AwsError | None] = [None] * len(steps)
        for refused in calls.each(lambda chunk: self._batch(calls, steps, *chunk), chunks):
            for index, error in refused.items():
                errors[index] = error
        return errors

    def _batch(
        self, calls: Calls, steps: Sequence[Step], what: str, members: list[int]
    ) -> dict[int, AwsError]:
        """One tagging call for up to 20 tables (and again for those it refused for a passing
        reason): each refused table's error, by the step's index."""
        first = steps[members[0]]
        arns = {getattr(steps[i], "table_arn", ""): i for i in members}

        def call(chunk: Sequence[str]) -> dict[str, AwsError]:
            if isinstance(first, RecordSuspended):
                return tag_tables(calls.run, self.region, chunk, first.record)
            keys = first.keys if isinstance(first, ForgetSuspended) else ()
            return untag_tables(calls.run, self.region, chunk, keys)

        refused = each_table(call, list(arns), what, calls)
        return {arns[arn]: error for arn, error in refused.items()}

    def unrecorded(self, decision: Decision, step: Step, error: AwsError) -> str:
        record = step.record if isinstance(step, RecordSuspended) else {}
        turned_on = ", ".join(
            f"{s.target} ({'/'.join(sorted(_recorded(record, s)))})"
            for s in decision.steps
            if isinstance(s, SetSuspended)
        )
        return unrecorded(
            decision,
            error,
            # The Tagging API checks its own actions and then DynamoDB's on each table.
            needs=(
                "tag:TagResources and tag:UntagResources, and dynamodb:TagResource and "
                "dynamodb:UntagResource on the table,"
            ),
            consequence=(
                "suspending anyway; after the backup the controller will NOT resume the auto "
                "scaling of this table (it resumes only what its record names): turn these "
                f"flags off by hand then: {turned_on}"
            ),
        )

    def describe(self, view: Tables | None, steps: Sequence[Step] = ()) -> Facts:
        field: dict[str, Any] = {"prefix": self.prefix, "region": self.region}
        if view is None:
            return Facts(f"tables {self.prefix}*: unknown", ("tables", field))
        suspended = sum(1 for t in view.targets if t.suspended)
        field.update(targets=len(view.targets), suspended=suspended)
        text = f"tables {self.prefix}*: {len(view.targets)} scalable targets, {suspended} suspended"
        # A table is held paused when every scalable target of it has every flag on.
        state = after(view.targets, steps).values()
        held = {
            f"dynamodb:{table}": all(flags == ALL for name, flags in state if name == table)
            for table in {table for table, _ in state}
        }
        measured: dict[str, float] = {"SuspendedTargets": sum(1 for _, flags in state if flags)}
        holders = {f"dynamodb:{t}": by for t, by in self._holding.items()}
        if self.names_tables:
            field["held_by"] = dict(self._holding)
            shown = ", ".join(f"{t} by {' and '.join(by)}" for t, by in self._holding.items())
            text += f"; held: {shown or 'none'}"
        return Facts(text, ("tables", field), held, measured, holders)


def after(
    targets: Sequence[Target], steps: Sequence[Step]
) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
    """(table, suspended flags) of each scalable target once `steps` were carried out."""
    state = {(t.resource_id, t.dimension): (t.table, t.suspended) for t in targets}
    for step in steps:
        if isinstance(step, SetSuspended):
            t = step.target
            state[(t.resource_id, t.dimension)] = (t.table, step.suspended)
    return state


def each_table(
    call: TableCall, arns: Sequence[str], what: str, calls: Calls
) -> dict[str, AwsError]:
    """Make a tagging call for up to 20 tables, then again for the tables it refused for a
    reason that passes (throttled, the service's own fault), with the runner's attempts and
    waits: the tables refused for good, with why.

    A call that failed as a whole (the runner has retried it already) is every table's
    failure. A call whose answer cannot be read was accepted (the CLI exited 0): no table
    counts as refused. Raises Interrupted when a shutdown comes during a wait.
    """
    refused: dict[str, AwsError] = {}
    pending = list(arns)
    last: dict[str, AwsError] = {}

    def attempt() -> None:
        nonlocal pending, last
        try:
            last = call(pending)
        except UnexpectedOutput as error:
            accepted(error)
            last = {}
        except AwsError as error:
            refused.update({arn: _for_table(error, arn, len(pending)) for arn in pending})
            pending = []
            return
        refused.update({arn: e for arn, e in last.items() if not e.retryable})
        pending = [arn for arn in pending if arn in last and last[arn].retryable]
        if pending:
            first = last[pending[0]]
            message = f"{len(pending)} of its tables refused, the first: {first.message}"
            raise AwsError(what, first.code, message, retryable=True)

    try:
        calls.retry(attempt, what)
    except AwsError:
        refused.update({arn: last[arn] for arn in pending})
    return refused


def _for_table(error: AwsError, arn: str, tables: int) -> AwsError:
    """A whole batch call's failure as one table's: its error without the call's whole list of
    tables, which every table's line would repeat."""
    others = f" (and {tables - 1} more)" if tables > 1 else ""
    command = f"{error.command.split(' --resource-arn-list ')[0]} --resource-arn-list {arn}{others}"
    return AwsError(command, error.code, error.message, error.retryable, error.attempts)


def _recorded(record: Record, step: SetSuspended) -> frozenset[str]:
    found = [flags for key, flags in record.items() if step.target.named_by(key)]
    return frozenset().union(*found)
