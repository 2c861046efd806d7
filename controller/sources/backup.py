"""What every source of backups turns its CLI output into (`Backup`), and what a kind of
backup is (`Source`): one module with one class, listed once in controller/sources/__init__.py.

The rule takes Backups and nothing source-specific, so a new kind of backup adds a module that
yields Backups, not a branch in the rule. The reading of list entries is shared here so that
every source is total in the same way: one entry that cannot be read makes the answer unknown
only if it could match.
"""

from __future__ import annotations

import math
import re
import reprlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, ClassVar, TypeVar

from controller.aws import AwsError, Each, JsonDict, Runner, UnexpectedOutput
from controller.settings import Reader, Row, Shared

T = TypeVar("T")


@dataclass(frozen=True)
class Backup:
    kind: str  # what it is, for people: "EMR cluster", "Glue job run", ...
    id: str
    name: str
    state: str
    # When it started, as AWS reports it (so a restart of the controller does not reset an
    # age); None when AWS did not say or said something unreadable.
    started: datetime | None = None
    # The tables it says it reads (PAUSE_SCOPE=named); None when its source does not tell.
    names: Names | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.id}, {self.state})"


# The tag (on a cluster, a job run) and the Glue job-run argument that name a backup's tables:
# names and `prefix:NAME` prefixes, separated by spaces. Tag values allow no `*`.
NAMES_TAG = "dynamodb-autoscaler-control:tables"
NAMES_ARGUMENT = "--dynamodb-autoscaler-control-tables"
_TABLE = re.compile(r"[A-Za-z0-9_.-]{1,255}")
# What a step's Name or argument holds a table's name within: a whole token of the characters
# a table name may have, so `Export Table:orders` names orders and not orders-archive.
_TOKEN = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Names:
    """What a backup says of the tables it reads. Each name, prefix and step must match a
    table under DYNAMODB_TABLE_PREFIX: one that matches none (a typo, a table outside the
    prefix) makes the backup hold them all, as does anything it says that cannot be read."""

    tables: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()
    # Each unfinished step: its name, and the tokens of its Name and arguments.
    steps: tuple[tuple[str, frozenset[str]], ...] = ()
    # Its steps all ended: it reads no table any more, though it runs on.
    ended: bool = False
    # Why it names nothing readable; it then holds every table.
    why: str = ""
    said: str = ""  # what it said, for people: "tag orders prefix:events-"

    def among(self, tables: Collection[str]) -> tuple[frozenset[str] | None, str]:
        """The tables among `tables` it names, or None (all of them) and why."""
        if self.why:
            return None, self.why
        if self.ended:
            return frozenset(), ""
        if not (self.tables or self.prefixes or self.steps):
            return None, "it names no table: no tag, and no step naming one"
        every = set(tables)
        claims = [
            *(
                (f"it names {t!r}, which is not a table under the prefix", {t} & every)
                for t in sorted(self.tables)
            ),
            *(
                (
                    f"no table under the prefix starts with its prefix:{p}",
                    {t for t in every if t.startswith(p)},
                )
                for p in sorted(self.prefixes)
            ),
            *(
                (f"its unfinished step {step!r} names no table under the prefix", tokens & every)
                for step, tokens in self.steps
            ),
        ]
        for why, matched in claims:
            if not matched:
                return None, why
        return frozenset().union(*(matched for _, matched in claims)), ""


def names_in(value: object, where: str) -> Names:
    """The names a tag value or argument gives (`orders prefix:events-`); a value that cannot
    be read is a Names that holds every table, saying why."""
    if not isinstance(value, str) or not value.split():
        return Names(why=f"its {where} names nothing: {brief(value)}", said=where)
    tables: set[str] = set()
    prefixes: set[str] = set()
    for word in value.split():
        prefix = word.removeprefix("prefix:")
        if not _TABLE.fullmatch(prefix):
            return Names(why=f"its {where} is malformed at {word!r}: {brief(value)}", said=where)
        (prefixes if prefix != word else tables).add(prefix)
    return Names(frozenset(tables), frozenset(prefixes), said=f"{where} {value}")


def step_tokens(name: str, args: Sequence[str]) -> frozenset[str]:
    return frozenset(token for text in (name, *args) for token in _TOKEN.findall(text))


@dataclass(frozen=True)
class Source(ABC):
    """One kind of backup: a prefix of names that count, and how to find them running."""

    # The setting that turns it on: the prefix of the names that count.
    setting: ClassVar[str]
    # The longest name the service allows: a longer prefix could never match, so it is
    # refused at start rather than resuming the autoscaler during every backup.
    longest: ClassVar[int]
    kind: ClassVar[str]  # one backup of it, for people: "Glue job run" (Backup.kind)
    name: ClassVar[
        str
    ]  # the source, for people: "Glue" ("Glue query failed", "Glue state unknown")
    help: ClassVar[str]  # its line in --help: what counts
    # Its IAM policy file in deploy/, which the CloudFormation template attaches when its
    # setting is set (scripts/cfn_template.py).
    policy: ClassVar[str]
    # True when it makes one call per item it lists (job, virtual cluster, application):
    # the loop keeps threads for those calls, and MAX_FAN_OUT bounds them.
    fans_out: ClassVar[bool] = False
    # Further settings of its own, as --help lists them.
    settings: ClassVar[tuple[Row, ...]] = ()

    prefix: str
    region: str  # EMR_REGION
    max_fan_out: int = 200
    # PAUSE_SCOPE=named: read what each backup names, where that costs calls of its own.
    named: bool = False

    @classmethod
    def rows(cls) -> tuple[Row, ...]:
        """Its settings as --help lists them: its prefix first."""
        return ((cls.setting, "unset", cls.help), *cls.settings)

    @classmethod
    def configure(cls, read: Reader, shared: Shared) -> Source | None:
        """Its settings, read with `read`; None when its prefix is not set."""
        prefix = read.prefix(cls.setting, cls.longest)
        return cls(prefix, shared.region, shared.max_fan_out, shared.named) if prefix else None

    @abstractmethod
    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        """Every matching active backup it sees; AwsError when it cannot say."""

    def narrowed(self) -> str:
        """What narrows it further, for the start-up line (" in state RUNNING")."""
        return ""

    def wanted(self) -> str:
        """What counts, in words: "a Glue job run named 'export-'..."."""
        article = "an" if self.kind[:1] in "AEIOU" else "a"
        return f"{article} {self.kind} named {self.prefix!r}...{self.narrowed()}"


@dataclass(frozen=True)
class Shape:
    """Where a source's list entries keep what a Backup needs: a path of keys for each."""

    kind: str
    id: tuple[str, ...]
    name: tuple[str, ...]
    state: tuple[str, ...]
    started: tuple[str, ...]
    # True when AWS lets an entry have no name (EMR on EKS, EMR Serverless job runs): such an
    # entry cannot start with a prefix. Otherwise a missing name is unreadable output.
    unnamed: bool = False
    # Where an entry keeps what names its tables: the path to an object of strings, and the
    # key in it (Glue's Arguments, EMR on EKS's tags); () when the list does not say.
    names: tuple[str, ...] = ()
    names_key: str = ""
    names_where: str = ""  # "tag", "argument --dynamodb-autoscaler-control-tables"


def emr_job_run(kind: str, tagged: bool = False) -> Shape:
    """A job run of EMR on EKS or of EMR Serverless: both APIs list them alike, and both let
    a run have no name. EMR on EKS lists each run's tags too (`tagged`)."""
    shape = Shape(kind, id=("id",), name=("name",), state=("state",), started=("createdAt",))
    shape = replace(shape, unnamed=True)
    return (
        replace(shape, names=("tags",), names_key=NAMES_TAG, names_where="tag") if tagged else shape
    )


_MISSING = object()


@dataclass(frozen=True)
class JobRuns(Source):
    """A source whose runs live in containers it lists first (EMR on EKS's virtual clusters,
    EMR Serverless's applications): one call for the running containers, then one each."""

    fans_out = True
    shape: ClassVar[Shape]
    listing: ClassVar[tuple[str, ...]]  # the call that lists the running containers
    containers: ClassVar[str]  # their list's key in its answer
    running: ClassVar[str]  # the state of a container that may hold a run
    container: ClassVar[str]  # one of them, for people: "virtual cluster"
    runs_in: ClassVar[tuple[str, ...]]  # the call for one's active runs, but for its id
    active: ClassVar[tuple[str, ...]]  # the states of a run that counts

    @classmethod
    def parse_containers(cls, doc: JsonDict, command: str) -> list[str]:
        return ids(listed(doc, cls.containers, command), "id", cls.running, command, cls.container)

    @classmethod
    def parse_runs(cls, doc: JsonDict, prefix: str, command: str) -> tuple[Backup, ...]:
        return matching(listed(doc, "jobRuns", command), cls.shape, prefix, cls.active, command)

    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        region, prefix = ["--region", self.region], self.prefix
        return list_then_query(
            run,
            each,
            self.max_fan_out,
            listing=[*self.listing, *region],
            items=self.parse_containers,
            what=f"{self.running.lower()} {self.container}s",
            query=lambda container: [*self.runs_in, container, *region],
            backups=lambda doc, _, command: self.parse_runs(doc, prefix, command),
        )


def dig(doc: object, path: Sequence[str]) -> object:
    """The value at `path`, or _MISSING when a step is absent or not an object."""
    for key in path:
        if not isinstance(doc, dict) or key not in doc:
            return _MISSING
        doc = doc[key]
    return doc


def listed(doc: object, key: str, command: str) -> list[Any]:
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise UnexpectedOutput(command, f"no {key!r} list in the output")
    return items


def matching(
    items: Sequence[object],
    shape: Shape,
    prefix: str,
    states: Collection[str],
    command: str,
) -> tuple[Backup, ...]:
    """The entries whose name starts with `prefix` (literal, case-sensitive) in one of
    `states`. An entry that cannot be read is skipped when what can be read shows that it
    does not match; when it might match, the whole answer is unknown (UnexpectedOutput)."""
    found = []
    for index, item in enumerate(items):
        name = dig(item, shape.name)
        if (name is _MISSING or name is None) and shape.unnamed and isinstance(item, dict):
            continue
        if not isinstance(name, str):
            raise _unreadable(command, shape, index, "name", name)
        if not name.startswith(prefix):
            continue
        state = dig(item, shape.state)
        if not isinstance(state, str):
            raise _unreadable(command, shape, index, "state", state)
        if state not in states:
            continue
        ident = dig(item, shape.id)
        if not isinstance(ident, str):
            raise _unreadable(command, shape, index, "id", ident)
        started = dig(item, shape.started)
        backup = Backup(
            shape.kind, ident, name, state, None if started is _MISSING else timestamp(started)
        )
        found.append(_with_names(backup, item, shape))
    return tuple(found)


def _with_names(backup: Backup, item: object, shape: Shape) -> Backup:
    if not shape.names:
        return backup
    holder = dig(item, shape.names)
    value = holder.get(shape.names_key) if isinstance(holder, dict) else None
    if value is None:
        return replace(backup, names=Names(why=f"it has no {shape.names_where}"))
    return replace(backup, names=names_in(value, shape.names_where))


def ids(items: Sequence[object], key: str, state: str, command: str, what: str) -> list[str]:
    """The `key` of every entry in `state` (a virtual cluster, an application): each could
    hold a matching run, so an entry that cannot be read makes the answer unknown unless its
    state is readable and another one."""
    found = []
    for index, item in enumerate(items):
        ident, current = dig(item, (key,)), dig(item, ("state",))
        if isinstance(current, str) and current != state:
            continue  # whatever else it says, it is not one to query
        if not isinstance(current, str) or not isinstance(ident, str):
            raise UnexpectedOutput(command, f"{what} entry {index} cannot be read: {brief(item)}")
        found.append(ident)
    return found


def shown(args: Sequence[str]) -> str:
    """A call as errors and logs name it: `aws glue list-jobs --region us-east-1`."""
    return " ".join(["aws", *args])


def list_then_query(
    run: Runner,
    each: Each,
    most: int,
    *,
    listing: list[str],
    items: Callable[[JsonDict, str], Sequence[str]],
    what: str,
    query: Callable[[str], list[str]],
    backups: Callable[[JsonDict, str, str], tuple[Backup, ...]],
) -> tuple[Backup, ...]:
    """Every backup in the containers one call lists (Glue jobs, virtual clusters,
    applications), each container then queried with one call of its own, all at the same time
    through `each`.

    `items` reads the listing's answer into the containers' names (doc, command); `query` is
    the call for one of them; `backups` reads its answer (doc, container, command). Any
    failure, or more containers than `most` (MAX_FAN_OUT), makes the whole answer unknown:
    part of an answer could miss the one running backup.
    """
    command = shown(listing)
    containers = bounded(items(run(listing), command), most, what, command)

    def backups_in(container: str) -> tuple[Backup, ...]:
        args = query(container)
        return backups(run(args), container, shown(args))

    return tuple(backup for found in each(backups_in, containers) for backup in found)


def bounded(items: Sequence[T], most: int, what: str, command: str) -> Sequence[T]:
    """`items` if there are at most `most` (MAX_FAN_OUT) to query one by one each tick;
    otherwise the answer is unknown: a tick of hundreds of calls is the user's choice to make,
    not one a prefix that matches more than meant should make for them."""
    if len(items) > most:
        raise AwsError(
            command,
            "TooManyToQuery",
            f"{len(items)} {what}, more than MAX_FAN_OUT ({most}) to query one by one each "
            f"tick: raise MAX_FAN_OUT to {len(items)} or more to query them all "
            "(docs/sources.md says what each costs)",
            retryable=False,
        )
    return items


def timestamp(value: object) -> datetime | None:
    """CLI v1 prints epoch seconds as a number, v2 an ISO 8601 string; both become UTC.
    Anything else, or a time out of range, is an unknown time (None), not an error."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                return None
            return datetime.fromtimestamp(value, tz=timezone.utc)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                return parsed.replace(tzinfo=timezone.utc)
            return parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _unreadable(
    command: str, shape: Shape, index: int, field: str, value: object
) -> UnexpectedOutput:
    shown = "missing" if value is _MISSING else brief(value)
    return UnexpectedOutput(
        command, f"{shape.kind} entry {index} might match but its {field} cannot be read: {shown}"
    )


def brief(value: object) -> str:
    # reprlib bounds the work too, not only the text: an entry may be huge or deep.
    return reprlib.repr(value)
