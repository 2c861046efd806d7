"""A model of the world the records live in, and an exhaustive search of its schedules.

The world is what the controllers share: the ECS service (its desired count and tags) or
one or two tables (each one scalable target's suspended flags and the table's tags), and
which backups are active with the tables each names (PAUSE_SCOPE=named). The backups follow
a script: each entry is the set of backups active from then on, so a backup starts, ends,
or names other tables while it runs (its tag changed, its steps ended) between any two
events of the controllers.

Each controller ticks as the real one does: it reads the backups (with what each names), the
thing it controls and its records, one call each, in any order; decides with the real rule
(`controller.decide.decide`, real `Backup`s and `Names`); then makes the rule's steps one
call at a time. Every call is one atomic event, and the search tries every order of the
events of all controllers, of the script, of controllers dying between any two calls (a dead
controller's call in flight may still land at any later moment, or never), and of time
passing. The steps of a tick's changes are made one change after the other; the actor writes
all the records first and scales the tables side by side, which makes no call per table
that two controllers could not already make in this order (controller/act.py).

Time enters in one place, as it does in the controller: a record may be removed once it has
been seen for `Config.record_settle`, which is longer than a pause may take to land its change
after writing its record (the actor gives up past `Config.pause_window`). In the model a
record becomes settled at any moment after the pause that wrote it can no longer land a call:
its writer has moved on, given up, or died with nothing in flight. A pause still waiting to
make its change when its record settles gives up, as `act.TooLate` does.

Once the script is over and every call has landed, the records settle and the controllers
that are alive (or a new one, when none is) tick until nothing changes; then the invariants
must hold: the service has the count it had before the first pause, every flag a person set
is still on and no other, and no record is left. When the script ends with backups still
active (a cluster goes on after its steps ended), at rest every table no active backup names
must first be as a person left it, with no record, and every table one names paused; then
those backups end too and the same invariants must hold. And in every state of every
schedule, a table that no backup in the script ever names (PAUSE_SCOPE=named) has no record
and its flags as a person set them: the controller never touched it.

`Protocol` is what a controller does; `Current` is the controller's own rule, `Legacy` what
version 1.0 did (its races are what the search must find, to show that it can).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from typing import Protocol as TypingProtocol

from controller.autoscalers import dynamodb
from controller.autoscalers.dynamodb import (
    ALL,
    ForgetSuspended,
    RecordSuspended,
    SetSuspended,
    Target,
)
from controller.autoscalers.ecs import (
    PAUSED_COUNT_TAG,
    ForgetPausedCount,
    RecordPausedCount,
    Service,
    SetDesiredCount,
)
from controller.sources.backup import Backup, Names
from tests.support.rule import Policy, decide, observed

SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
ORIGINAL = 4  # the service's desired count before any pause
POLICY = Policy(resume_count=1, resume_delay=0.0, resume_count_max=10)
SCHEDULED = frozenset({"ScheduledScalingSuspended"})
READ = "dynamodb:table:ReadCapacityUnits"

# One call, as the model applies it: what it is, and its arguments (hashable).
Op = tuple[object, ...]
# What a move did, as a format string and its arguments: formatted only for a failure's
# schedule, since the search makes millions of moves and shows none of the others.
Label = tuple[object, ...]
# The backups active at once: (id, the tables it names; None when its source does not say).
Running = tuple[tuple[str, Names | None], ...]
ONE = (("j-1", None),)  # the one backup of a script of True and False


def table_arn(table: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"


TABLE_ARN = table_arn("orders")


@dataclass(frozen=True)
class Setup:
    """What stays as it is through a search: the thing the controllers control, and how."""

    mode: str  # "ecs" or "table"
    tables: tuple[str, ...] = ("orders",)  # one scalable target each, in this order
    scope: str = "prefix"  # PAUSE_SCOPE

    def target(self, index: int) -> str:
        return f"table/{self.tables[index]}"

    def index(self, resource_id: str) -> int:
        return [f"table/{t}" for t in self.tables].index(resource_id)


class World(NamedTuple):
    desired: int = ORIGINAL
    # ((resource ARN, key), value) of the records on the service or the tables; values are a
    # count or flags.
    tags: frozenset[tuple[tuple[str, str], object]] = frozenset()
    flags: tuple[frozenset[str], ...] = ()  # per table in Setup.tables
    # Where the script is: the backups of its entry `backup - 1` are active (none at 0).
    backup: int = 0
    settled: frozenset[tuple[str, str]] = frozenset()  # record keys that have settled

    def tag_keys(self) -> set[tuple[str, str]]:
        return {key for key, _ in self.tags}


class Seen(NamedTuple):
    """What one controller has read so far this tick."""

    backup: int | None = None  # where the script was: the backups the controller saw
    desired: int | None = None
    flags: tuple[frozenset[str], ...] | None = None
    tags: frozenset[tuple[tuple[str, str], object]] | None = None
    settled: frozenset[tuple[str, str]] = frozenset()


class Agent(NamedTuple):
    """One controller: where it is in its tick."""

    cid: int
    ticks: int  # ticks it has begun
    alive: bool = True
    reads: frozenset[str] = frozenset()  # still to read this tick (empty: not reading)
    seen: Seen | None = None
    # The records settled when the tick began: the controller counts a record's time to the
    # start of its tick, so that what it read after the record settled is what the pause did.
    settled: frozenset[tuple[str, str]] = frozenset()
    steps: tuple[Op, ...] = ()  # still to make this tick, in order
    # The record keys its current change wrote, while the change may still land calls.
    window: frozenset[tuple[str, str]] = frozenset()
    in_flight: Op | None = None  # a dead controller's last call, still to land (or not)


class Protocol(TypingProtocol):
    name: str
    # Whether a pause gives up once its record may have settled (act.TooLate), and records
    # are removed only once settled: version 1.0 knew no such time.
    settles: bool

    def reads(self, mode: str) -> frozenset[str]: ...

    def plan(self, setup: Setup, backups: Running, seen: Seen, pause_id: str) -> tuple[Op, ...]: ...


def _targets(setup: Setup, seen: Seen) -> tuple[Target, ...]:
    assert seen.flags is not None
    return tuple(
        Target(f"table/{table}", READ, flags, table_arn(table))
        for table, flags in zip(setup.tables, seen.flags, strict=True)
    )


class Current:
    """The controller's own rule and steps; with `scope`, the rule under that PAUSE_SCOPE
    whatever the world's (the prefix scope in a named world shows the named invariants bite)."""

    settles = True

    def __init__(self, scope: str | None = None) -> None:
        self.scope = scope
        self.name = "current" if scope is None else f"current, PAUSE_SCOPE={scope}"

    def reads(self, mode: str) -> frozenset[str]:
        return frozenset(
            {"backups", "thing", "records"} if mode == "table" else {"backups", "thing"}
        )

    def plan(self, setup: Setup, backups: Running, seen: Seen, pause_id: str) -> tuple[Op, ...]:
        assert seen.tags is not None
        # Real Backups, so that the rule reads their names as it reads a source's.
        active = tuple(
            Backup("EMR cluster", ident, f"backup-{ident}", "RUNNING", names=names)
            for ident, names in backups
        )
        if setup.mode == "ecs":
            assert seen.desired is not None
            service = Service(
                SERVICE_ARN,
                "svc",
                "ACTIVE",
                seen.desired,
                seen.desired,
                0,
                records={k: str(v) for (_, k), v in seen.tags},
            )
            view = observed(
                backups=active, service=service, settled=seen.settled, pause_id=pause_id
            )
        else:
            # Every table's records were read (one get-resources call): none is missing.
            records: dict[str, dict[str, object]] = {table_arn(t): {} for t in setup.tables}
            for (arn, key), value in seen.tags:
                records[arn][key] = value
            view = observed(
                backups=active,
                targets=_targets(setup, seen),
                records=records,  # type: ignore[arg-type]
                settled=seen.settled,
                pause_id=pause_id,
            )
        ops: list[Op] = []
        for decision in decide(view, POLICY, self.scope or setup.scope).decisions:
            for step in decision.steps:
                ops.append(_op(setup, step))
        return tuple(ops)


def _op(setup: Setup, step: object) -> Op:
    match step:
        case RecordPausedCount(arn, key, count):
            return ("tag", arn, ((key, count),))
        case SetDesiredCount(count):
            return ("desired", count)
        case ForgetPausedCount(arn, keys):
            return ("untag", arn, tuple(keys))
        case RecordSuspended(arn, record):
            return ("tag", arn, tuple(sorted(record.items(), key=lambda kv: kv[0])))
        case SetSuspended(target, suspended):
            return ("flags", setup.index(target.resource_id), suspended)
        case ForgetSuspended(arn, keys):
            return ("untag", arn, tuple(keys))
    raise AssertionError(f"no model of {step!r}")


class Legacy:
    """What version 1.0 did: one fixed key, a resume untags it (after reading the service
    again, in ECS mode), and a pause keeps a record already there."""

    name = "legacy (1.0)"
    settles = False
    KEY = PAUSED_COUNT_TAG
    TABLE_KEY = "dynamodb-autoscaler-control:suspended:table:read"

    def reads(self, mode: str) -> frozenset[str]:
        return frozenset(
            {"backups", "thing", "records"} if mode == "table" else {"backups", "thing"}
        )

    def plan(self, setup: Setup, backups: Running, seen: Seen, pause_id: str) -> tuple[Op, ...]:
        assert seen.tags is not None and setup.tables == ("orders",)
        tags = {k: v for (_, k), v in seen.tags}
        if setup.mode == "ecs":
            return self._service(seen, bool(backups), tags)
        return self._table(seen, bool(backups), tags)

    def _service(self, seen: Seen, backup: bool, tags: dict[str, object]) -> tuple[Op, ...]:
        desired = seen.desired
        if backup:
            if desired == 0:
                return ()
            record = () if self.KEY in tags else (("tag", SERVICE_ARN, ((self.KEY, desired),)),)
            return (*record, ("desired", 0))
        forget = (("check-running",), ("untag", SERVICE_ARN, (self.KEY,)))
        if desired == 0:
            count = tags.get(self.KEY, POLICY.resume_count)
            return (("desired", count), *(forget if self.KEY in tags else ()))
        return forget if self.KEY in tags else ()

    def _table(self, seen: Seen, backup: bool, tags: dict[str, object]) -> tuple[Op, ...]:
        assert seen.flags is not None
        (flags,) = seen.flags
        if backup:
            if flags == ALL:
                return ()
            return (("tag", TABLE_ARN, ((self.TABLE_KEY, ALL - flags),)), ("flags", 0, ALL))
        if self.TABLE_KEY not in tags:
            return ()
        recorded = tags[self.TABLE_KEY]
        assert isinstance(recorded, frozenset)
        undo = (("flags", 0, flags - recorded),) if flags & recorded else ()
        return (*undo, ("untag", TABLE_ARN, (self.TABLE_KEY,)))


def _apply(world: World, op: Op) -> tuple[World, bool]:
    """The world after one call; False when the call ends its change (a re-read that found
    the service paused again stops the untag after it)."""
    match op:
        case ("tag", arn, pairs):
            keys = {(arn, k) for k, _ in pairs}  # type: ignore[attr-defined]
            kept = {(k, v) for k, v in world.tags if k not in keys}
            # A key written again is a new record: it has not settled.
            return world._replace(
                tags=frozenset(kept | {((arn, k), v) for k, v in pairs}),  # type: ignore[attr-defined]
                settled=world.settled - keys,  # type: ignore[operator]
            ), True
        case ("untag", arn, keys):
            gone = {(arn, k) for k in keys}  # type: ignore[attr-defined]
            return world._replace(
                tags=frozenset((k, v) for k, v in world.tags if k not in gone),
                settled=world.settled - gone,  # type: ignore[operator]
            ), True
        case ("desired", count):
            return world._replace(desired=count), True  # type: ignore[arg-type]
        case ("flags", index, flags):
            new = list(world.flags)
            new[index] = flags  # type: ignore[index, call-overload]
            return world._replace(flags=tuple(new)), True
        case ("check-running",):
            return world, world.desired != 0
    raise AssertionError(f"unknown call {op!r}")


def _read(mode: str, world: World, what: str, seen: Seen, settled: frozenset) -> Seen:
    if what == "backups":
        # The sources' answers, the names each backup gives with it, as of one moment.
        return seen._replace(backup=world.backup)
    if what == "thing" and mode == "table":
        # describe-scalable-targets: every table's targets in one answer.
        return seen._replace(flags=world.flags)
    # The records, and which of them had settled: describe-services --include TAGS in ECS
    # mode (with the count: one answer), get-resources in native mode.
    settled = settled & world.tag_keys()
    if what == "thing":
        return seen._replace(desired=world.desired, tags=world.tags, settled=settled)
    return seen._replace(tags=world.tags, settled=settled)


class State(NamedTuple):
    world: World
    agents: tuple[Agent, ...]
    deaths: int  # controllers that may still die
    joins: int  # controllers that may still start (a rolling deploy)


@dataclass
class Bounds:
    controllers: int = 2
    ticks: int | tuple[int, ...] = 3  # ticks per controller (or each controller's)
    # The backups active from each entry on: True is one backup (that names no table), False
    # none; the backup starts, then ends.
    script: tuple[bool | Running, ...] = (True, False)
    deaths: int = 1
    joins: int = 0
    person_flags: frozenset[str] = frozenset()  # a flag a person set on each table, before
    tables: tuple[str, ...] = ("orders",)
    scope: str = "prefix"


@dataclass
class Result:
    states: int = 0
    schedules: int = 0  # end states checked
    failure: list[str] | None = None
    final: World | None = None


def named(scope: str, backups: Running, tables: Sequence[str]) -> frozenset[str]:
    """The tables the backups name, by what each says (Names.among): in the prefix scope, or
    for a backup that says nothing usable, every one."""
    if not backups:
        return frozenset()
    if scope != "named":
        return frozenset(tables)
    found: set[str] = set()
    for _, names in backups:
        among = None if names is None else names.among(tables)[0]
        found |= set(tables) if among is None else among
    return frozenset(found)


def shown(backups: Running) -> str:
    if not backups:
        return "no backup"

    def said(names: Names | None) -> str:
        if names is None:
            return "names nothing"
        return names.said or ("its steps ended" if names.ended else repr(names))

    return ", ".join(f"{ident} ({said(names)})" for ident, names in backups)


@dataclass
class _Search:
    protocol: Protocol
    bounds: Bounds
    setup: Setup
    seen: set[State] = field(default_factory=set)
    plans: dict[tuple[object, ...], tuple[Op, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.script: tuple[Running, ...] = tuple(
            (ONE if entry else ()) if isinstance(entry, bool) else entry
            for entry in self.bounds.script
        )
        ever = set().union(*(named(self.setup.scope, b, self.setup.tables) for b in self.script))
        # The tables no backup ever names: the controller must never touch them.
        self.untouched = [i for i, t in enumerate(self.setup.tables) if t not in ever]
        self.shown = [shown(self.running(i)) for i in range(len(self.script) + 1)]

    def running(self, backup: int) -> Running:
        return self.script[backup - 1] if backup else ()

    def plan(self, seen: Seen, agent: Agent) -> tuple[Op, ...]:
        pause_id = f"{agent.cid:02x}{agent.ticks:010x}"
        key = (seen, pause_id)
        if key not in self.plans:
            assert seen.backup is not None
            running = self.running(seen.backup)
            self.plans[key] = self.protocol.plan(self.setup, running, seen, pause_id)
        return self.plans[key]

    def moves(self, state: State) -> Iterator[tuple[Label, State]]:
        world = state.world
        if world.backup < len(self.script):
            nxt = world.backup + 1
            yield (
                ("backups now: {}", self.shown[nxt]),
                state._replace(world=world._replace(backup=nxt)),
            )
        for i, agent in enumerate(state.agents):
            yield from self._agent_moves(state, i, agent)
        if state.joins:
            cid = len(state.agents)
            agent = Agent(cid, 0)
            yield (
                ("controller {} starts", cid),
                state._replace(agents=(*state.agents, agent), joins=state.joins - 1),
            )
        for key in sorted(world.tag_keys() - world.settled) if self.protocol.settles else ():
            if any(a.in_flight is not None and key in a.window for a in state.agents):
                continue  # a call of its pause may still land
            agents = tuple(
                a._replace(steps=(), window=frozenset()) if key in a.window else a
                for a in state.agents
            )
            yield (
                ("record {} on {} settles", key[1], key[0].rsplit(":", 1)[-1]),
                state._replace(world=world._replace(settled=world.settled | {key}), agents=agents),
            )

    def _window(
        self, window: frozenset[tuple[str, str]], op: Op, rest: tuple[Op, ...]
    ) -> frozenset[tuple[str, str]]:
        """The records a pause wrote stay in its window while its own calls are still to
        come: up to its table's last flags, not through the tick's other changes."""
        if op[0] == "tag":
            window = frozenset((op[1], k) for k, _ in op[2])  # type: ignore[attr-defined]
        if not rest or not window:
            return frozenset()
        arns = {arn for arn, _ in window}
        if rest[0][0] == "flags" and self.setup.mode == "table":
            index = rest[0][1]
            return window if table_arn(self.setup.tables[index]) in arns else frozenset()  # type: ignore[index]
        return window if self.setup.mode == "ecs" and rest[0][0] == "desired" else frozenset()

    def _agent_moves(self, state: State, i: int, agent: Agent) -> Iterator[tuple[Label, State]]:
        world = state.world

        def put(new: Agent, new_world: World = world, deaths: int = state.deaths) -> State:
            agents = (*state.agents[:i], new, *state.agents[i + 1 :])
            # Positional, not _replace: the search makes millions of these.
            return State(new_world, agents, deaths, state.joins)

        if not agent.alive:
            if agent.in_flight is not None:
                new_world, _ = _apply(world, agent.in_flight)
                yield (
                    ("controller {}'s last call lands: {}", agent.cid, agent.in_flight),
                    put(agent._replace(in_flight=None, window=frozenset()), new_world),
                )
            return
        if agent.steps:
            op = agent.steps[0]
            new_world, go_on = _apply(world, op)
            rest = agent.steps[1:] if go_on else ()
            window = self._window(agent.window, op, rest)
            yield (
                ("controller {}: {}", agent.cid, op),
                put(agent._replace(steps=rest, window=window), new_world),
            )
        elif agent.reads:
            for what in sorted(agent.reads):
                seen = _read(self.setup.mode, world, what, agent.seen or Seen(), agent.settled)
                reads = agent.reads - {what}
                if reads:
                    yield (
                        ("controller {} reads {}", agent.cid, what),
                        put(agent._replace(reads=reads, seen=seen)),
                    )
                else:
                    steps = self.plan(seen, agent)
                    done = agent._replace(
                        reads=frozenset(), seen=None, steps=steps, settled=frozenset()
                    )
                    yield ("controller {} reads {}, decides {}", agent.cid, what, steps), put(done)
        elif agent.ticks < self.ticks(agent):
            reads = self.protocol.reads(self.setup.mode)
            yield (
                ("controller {} begins tick {}", agent.cid, agent.ticks + 1),
                put(
                    agent._replace(
                        ticks=agent.ticks + 1,
                        reads=reads,
                        seen=Seen(),
                        settled=world.settled if self.protocol.settles else frozenset(),
                    )
                ),
            )
        if state.deaths and (agent.steps or agent.reads):
            dead = agent._replace(
                alive=False, reads=frozenset(), seen=None, steps=(), settled=frozenset()
            )
            yield (
                ("controller {} dies", agent.cid),
                put(dead._replace(window=frozenset()), deaths=state.deaths - 1),
            )
            if agent.steps:
                yield (
                    ("controller {} dies with {} in flight", agent.cid, agent.steps[0]),
                    put(dead._replace(in_flight=agent.steps[0]), deaths=state.deaths - 1),
                )

    def busy(self, state: State) -> bool:
        """Whether anything but time passing and calls in flight landing can still happen."""
        if state.world.backup < len(self.script) or state.joins:
            return True
        return any(
            a.alive and (a.steps or a.reads or a.ticks < self.ticks(a)) for a in state.agents
        )

    def ticks(self, agent: Agent) -> int:
        ticks = self.bounds.ticks
        return ticks if isinstance(ticks, int) else ticks[min(agent.cid, len(ticks) - 1)]

    def settle(self, state: State) -> tuple[World, str | None]:
        """Land what is in flight, let time pass, and tick the live controllers (a new one
        when none is alive) until nothing changes; then, if backups are still active, end
        them and do it again. The world at rest, and what was wrong on the way."""
        world = state.world
        for agent in state.agents:
            if agent.in_flight is not None:
                world, _ = _apply(world, agent.in_flight)
        live = [a for a in state.agents if a.alive] or [Agent(len(state.agents), 0)]
        world, live = self._rest(world, live)
        problem = self.untouched_problem(world)
        if world.backup and self.running(world.backup):
            problem = problem or self.check(world, going_on=True)
            world, _ = self._rest(world._replace(backup=0), live)
        return world, problem or self.untouched_problem(world)

    def _rest(self, world: World, live: list[Agent]) -> tuple[World, list[Agent]]:
        for _round in range(6):
            changed = False
            for n, agent in enumerate(live):
                world = world._replace(settled=frozenset(world.tag_keys()))
                seen = Seen()
                for what in sorted(self.protocol.reads(self.setup.mode)):
                    seen = _read(self.setup.mode, world, what, seen, world.settled)
                agent = live[n] = agent._replace(ticks=agent.ticks + 1)  # noqa: PLW2901
                for op in self.plan(seen, agent):
                    new, go_on = _apply(world, op)
                    changed |= new != world
                    world = new
                    if self.untouched_problem(world):
                        return world, live
                    if not go_on:
                        break
            if not changed:
                return world, live
        raise AssertionError("the controllers never came to rest")

    def untouched_problem(self, world: World) -> str | None:
        problems = []
        for index in self.untouched:
            table = self.setup.tables[index]
            if any(arn == table_arn(table) for (arn, _), _ in world.tags):
                problems.append(f"table {table}, which no backup names, has a record")
            if world.flags[index] != self.bounds.person_flags:
                problems.append(
                    f"table {table}, which no backup names, has {sorted(world.flags[index])} "
                    "suspended"
                )
        return "; ".join(problems) or None

    def check(self, world: World, going_on: bool = False) -> str | None:
        """What is wrong at rest: with the backups of the script's end still active when
        `going_on`, every table they do not name as a person left it and the rest paused."""
        held = named(self.setup.scope, self.running(world.backup), self.setup.tables)
        problems = []
        left = [(k, v) for k, v in world.tags if k[0] not in {table_arn(t) for t in held}]
        if left and not (going_on and self.setup.mode == "ecs"):
            problems.append(f"records left: {sorted(left, key=str)}")
        if self.setup.mode == "ecs" and world.desired != ORIGINAL and not going_on:
            problems.append(f"desired count {world.desired}, not {ORIGINAL} as before the pause")
        if self.setup.mode == "table":
            for table, flags in zip(self.setup.tables, world.flags, strict=True):
                want = ALL if table in held else self.bounds.person_flags
                if flags != want:
                    why = f"while {shown(self.running(world.backup))} goes on" if going_on else ""
                    problems.append(
                        f"table/{table} has {sorted(flags)} suspended, not {sorted(want)} "
                        f"{why or 'as before the pause'}"
                    )
        return "; ".join(problems) or None

    def run(self, start: State) -> Result:
        # The real controller says once that a backup holds every table; each plan here is a
        # new kind, which would say it for every state the search plans in.
        quiet = logging.getLogger(dynamodb.__name__)
        level, quiet.level = quiet.level, logging.ERROR
        # The states are tuples, which make no cycles for the collector to find, while its
        # full collections walk every state seen so far: a fifth of the search's time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._run(start)
        finally:
            quiet.level = level
            if collecting:
                gc.enable()

    def _run(self, start: State) -> Result:
        result = Result()
        # Depth-first, with the path kept so that a failure shows its schedule.
        stack: list[tuple[State, Iterator[tuple[Label, State]]]] = [(start, self.moves(start))]
        path: list[Label] = []
        seen = self.seen
        seen.add(start)
        while stack:
            _, moves = stack[-1]
            step = next(moves, None)
            if step is None:
                stack.pop()
                if path:
                    path.pop()
                continue
            what, nxt = step
            visited = len(seen)
            seen.add(nxt)  # one hash, not two: a state already seen leaves the set as it was
            if len(seen) == visited:
                continue
            result.states += 1
            path.append(what)
            # Checked in every state: a touch undone later is still a touch.
            problem = self.untouched_problem(nxt.world) if self.untouched else None
            busy = self.busy(nxt)
            final = nxt.world
            if problem is None and not busy:
                result.schedules += 1
                final, problem = self.settle(nxt)
                problem = problem or self.check(final)
            if problem:
                result.failure = [*map(_text, path), f"then, at rest: {problem}"]
                result.final = final
                return result
            if busy:
                stack.append((nxt, self.moves(nxt)))
            else:
                path.pop()
        return result


def _text(label: Label) -> str:
    fmt, *args = label
    return str(fmt).format(*args)


def explore(protocol: Protocol, mode: str, bounds: Bounds) -> Result:
    """Every schedule within `bounds`; the first that breaks an invariant, with its steps."""
    setup = Setup(mode, bounds.tables, bounds.scope)
    flags = tuple(bounds.person_flags for _ in bounds.tables) if mode == "table" else ()
    world = World(flags=flags)
    agents = tuple(Agent(cid, 0) for cid in range(bounds.controllers))
    start = State(world, agents, bounds.deaths, bounds.joins)
    return _Search(protocol, bounds, setup).run(start)


def describe(result: Result) -> str:
    return "\n".join(f"  {i + 1}. {step}" for i, step in enumerate(result.failure or ()))


Runner = Callable[[Protocol, str, Bounds], Result]
__all__: Sequence[str] = (
    "Bounds",
    "Current",
    "Legacy",
    "Names",
    "Result",
    "Running",
    "describe",
    "explore",
    "named",
)
