"""EMR clusters in the states EMR_STATES names, as one `aws emr list-clusters` reports them.

With PAUSE_SCOPE=named, what each cluster reads: its tag (`describe-cluster`), else its
unfinished steps (`list-steps`), as Signiant's exporter names a step per table."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace

from controller.aws import AwsError, Each, JsonDict, Runner, UnexpectedOutput
from controller.settings import Reader, Shared
from controller.sources.backup import (
    NAMES_TAG,
    Backup,
    Names,
    Shape,
    Source,
    brief,
    dig,
    listed,
    matching,
    names_in,
    step_tokens,
)

# The states `aws emr list-clusters --active` means, in the order AWS lists them.
EMR_ACTIVE_STATES = ("STARTING", "BOOTSTRAPPING", "RUNNING", "WAITING")
KIND = "EMR cluster"
SHAPE = Shape(
    kind=KIND,
    id=("Id",),
    name=("Name",),
    state=("Status", "State"),
    started=("Status", "Timeline", "CreationDateTime"),
)


def arguments(region: str, states: Collection[str]) -> list[str]:
    # `--active` is the four active states; anything narrower names them, still one call.
    # The CLI follows NextToken itself, so this is every such cluster, not one page.
    wanted = [s for s in EMR_ACTIVE_STATES if s in states]
    which = ["--active"] if len(wanted) == len(EMR_ACTIVE_STATES) else ["--cluster-states", *wanted]
    return ["emr", "list-clusters", *which, "--region", region]


def parse_clusters(
    doc: JsonDict,
    prefix: str = "",
    states: Collection[str] = EMR_ACTIVE_STATES,
    command: str = "aws emr list-clusters",
) -> tuple[Backup, ...]:
    """The clusters named `prefix`... in `states`. The states are checked here as well as
    asked for: what counts must not depend on the server having filtered."""
    return matching(listed(doc, "Clusters", command), SHAPE, prefix, states, command)


@dataclass(frozen=True)
class Emr(Source):
    setting = "EMR_PREFIX"
    longest = 256  # EMR's limit for a cluster name
    kind = KIND
    name = "EMR"
    help = "an active EMR cluster whose name starts with this"
    policy = "iam-policy-emr.json"
    settings = (("EMR_STATES", "all four active", "EMR states that count, comma-separated"),)

    states: tuple[str, ...] = EMR_ACTIVE_STATES

    @classmethod
    def configure(cls, read: Reader, shared: Shared) -> Emr | None:
        prefix = read.prefix(cls.setting, cls.longest)
        if not read.only_with("EMR_STATES", cls.setting):
            return None
        states = read.subset("EMR_STATES", EMR_ACTIVE_STATES, "the active EMR cluster states")
        if not prefix:
            return None
        return cls(prefix, shared.region, shared.max_fan_out, shared.named, states=states)

    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        args = arguments(self.region, self.states)
        found = parse_clusters(run(args), self.prefix, self.states, " ".join(["aws", *args]))
        if not self.named:
            return found
        return tuple(each(lambda backup: self._names(run, backup), found))

    def _names(self, run: Runner, backup: Backup) -> Backup:
        """The cluster, with what it names; a call that fails makes it hold every table."""
        where = ["--cluster-id", backup.id, "--region", self.region]
        try:
            tag = parse_tag(run(["emr", "describe-cluster", *where]))
            if tag is not None:
                return replace(backup, names=names_in(tag, "tag"))
            return replace(backup, names=parse_steps(run(["emr", "list-steps", *where])))
        except AwsError as error:
            return replace(backup, names=Names(why=f"reading its tag and steps failed: {error}"))

    def narrowed(self) -> str:
        states = self.states
        return "" if states == EMR_ACTIVE_STATES else f" in state {'/'.join(states)}"


# A step that may still read: the exporter's `Export Table:T` names T while it is in one.
UNFINISHED = ("PENDING", "RUNNING", "CANCEL_PENDING")


def parse_tag(doc: JsonDict, command: str = "aws emr describe-cluster") -> str | None:
    """The cluster's NAMES_TAG value (None: no such tag). Total: any JSON gives it, None, or
    UnexpectedOutput."""
    tags = dig(doc, ("Cluster", "Tags"))
    if not isinstance(dig(doc, ("Cluster",)), dict):
        raise UnexpectedOutput(command, "no 'Cluster' object in the output")
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, dict) and tag.get("Key") == NAMES_TAG:
            value = tag.get("Value", "")
            return value if isinstance(value, str) else brief(value)
    return None


def parse_steps(doc: JsonDict, command: str = "aws emr list-steps") -> Names:
    """What the cluster's unfinished steps name. No step at all names nothing (it holds every
    table: it may read any); steps that all ended name no table any more."""
    steps = listed(doc, "Steps", command)
    unfinished = []
    for index, step in enumerate(steps):
        state = dig(step, ("Status", "State"))
        if not isinstance(state, str):
            raise UnexpectedOutput(command, f"step {index} has no readable state: {brief(step)}")
        if state not in UNFINISHED:
            continue
        name, args = dig(step, ("Name",)), dig(step, ("Config", "Args"))
        name = name if isinstance(name, str) else ""
        args = [a for a in args if isinstance(a, str)] if isinstance(args, list) else []
        unfinished.append((name, step_tokens(name, args)))
    if not steps:
        return Names(why="it has no tag and no step")
    if not unfinished:
        return Names(ended=True, said="steps, all ended")
    return Names(steps=tuple(unfinished), said=f"steps {', '.join(n for n, _ in unfinished)}")
