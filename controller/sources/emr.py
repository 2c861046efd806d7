"""EMR clusters in the states EMR_STATES names, as one `aws emr list-clusters` reports them."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from controller.aws import Each, JsonDict, Runner
from controller.settings import Reader, Shared
from controller.sources.backup import Backup, Shape, Source, listed, matching

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
        return cls(prefix, shared.region, shared.max_fan_out, states) if prefix else None

    def find(self, run: Runner, each: Each) -> tuple[Backup, ...]:
        args = arguments(self.region, self.states)
        return parse_clusters(run(args), self.prefix, self.states, " ".join(["aws", *args]))

    def narrowed(self) -> str:
        states = self.states
        return "" if states == EMR_ACTIVE_STATES else f" in state {'/'.join(states)}"
