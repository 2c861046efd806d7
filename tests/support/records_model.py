"""A model of the world the records live in, and an exhaustive search of its schedules.

The world is what the controllers share: the ECS service (its desired count and tags) or one
table (its scalable targets' suspended flags and the table's tags), and whether a backup is
active. Each controller ticks as the real one does: it reads the backups, the thing it
controls and its records, one call each, in any order; decides with the real rule
(`controller.decide.decide`); then makes the rule's steps one call at a time. Every call is
one atomic event, and the search tries every order of the events of all controllers, of the
backups starting and ending, of controllers dying between any two calls (a dead controller's
call in flight may still land at any later moment, or never), and of time passing.

Time enters in one place, as it does in the controller: a record may be removed once it has
been seen for `Config.record_settle`, which is longer than a pause may take to land its change
after writing its record (the actor gives up past `Config.pause_window`). In the model a
record becomes settled at any moment after the pause that wrote it can no longer land a call:
its writer has moved on, given up, or died with nothing in flight. A pause still waiting to
make its change when its record settles gives up, as `act.TooLate` does.

Once the backups are over and every call has landed, the records settle and the controllers
that are alive (or a new one, when none is) tick until nothing changes; then the invariants
must hold: the service has the count it had before the first pause, every flag a person set
is still on and no other, and no record is left. `Protocol` is what a controller does;
`Current` is the controller's own rule, `Legacy` what version 1.0 did (its races are what the
search must find, to show that it can).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple
from typing import Protocol as TypingProtocol

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
from controller.sources.backup import Backup
from tests.support.rule import Policy, decide, observed

SERVICE_ARN = "arn:aws:ecs:us-east-1:123456789012:service/c/svc"
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
TARGETS = (("table/orders", "dynamodb:table:ReadCapacityUnits"),)
ORIGINAL = 4  # the service's desired count before any pause
BACKUP = Backup("EMR cluster", "j-1", "backup", "RUNNING")
POLICY = Policy(resume_count=1, resume_delay=0.0, resume_count_max=10)
SCHEDULED = frozenset({"ScheduledScalingSuspended"})

# One call, as the model applies it: what it is, and its arguments (hashable).
Op = tuple[object, ...]


class World(NamedTuple):
    mode: str  # "ecs" or "table"
    desired: int = ORIGINAL
    # (key, value) of the records on the service or the table; values are a count or flags.
    tags: frozenset[tuple[str, object]] = frozenset()
    flags: tuple[frozenset[str], ...] = ()  # per target in TARGETS
    backup: bool = False
    settled: frozenset[str] = frozenset()  # record keys that have settled

    def tag_keys(self) -> set[str]:
        return {key for key, _ in self.tags}


class Seen(NamedTuple):
    """What one controller has read so far this tick."""

    backup: bool | None = None
    desired: int | None = None
    flags: tuple[frozenset[str], ...] | None = None
    tags: frozenset[tuple[str, object]] | None = None
    settled: frozenset[str] = frozenset()


class Agent(NamedTuple):
    """One controller: where it is in its tick."""

    cid: int
    ticks: int  # ticks it has begun
    alive: bool = True
    reads: frozenset[str] = frozenset()  # still to read this tick (empty: not reading)
    seen: Seen | None = None
    # The records settled when the tick began: the controller counts a record's time to the
    # start of its tick, so that what it read after the record settled is what the pause did.
    settled: frozenset[str] = frozenset()
    steps: tuple[Op, ...] = ()  # still to make this tick, in order
    # The record keys its current change wrote, while the change may still land calls.
    window: frozenset[str] = frozenset()
    in_flight: Op | None = None  # a dead controller's last call, still to land (or not)


class Protocol(TypingProtocol):
    name: str
    # Whether a pause gives up once its record may have settled (act.TooLate), and records
    # are removed only once settled: version 1.0 knew no such time.
    settles: bool

    def reads(self, mode: str) -> frozenset[str]: ...

    def plan(self, world_mode: str, seen: Seen, pause_id: str) -> tuple[Op, ...]: ...


def _targets(seen: Seen) -> tuple[Target, ...]:
    assert seen.flags is not None
    return tuple(
        Target(resource, dimension, flags, TABLE_ARN)
        for (resource, dimension), flags in zip(TARGETS, seen.flags, strict=True)
    )


class Current:
    """The controller's own rule and steps."""

    name = "current"
    settles = True

    def reads(self, mode: str) -> frozenset[str]:
        return frozenset(
            {"backups", "thing", "records"} if mode == "table" else {"backups", "thing"}
        )

    def plan(self, mode: str, seen: Seen, pause_id: str) -> tuple[Op, ...]:
        assert seen.tags is not None
        if mode == "ecs":
            assert seen.desired is not None
            service = Service(
                SERVICE_ARN,
                "svc",
                "ACTIVE",
                seen.desired,
                seen.desired,
                0,
                records={k: str(v) for k, v in seen.tags},
            )
            view = observed(
                backups=(BACKUP,) if seen.backup else (),
                service=service,
                settled=frozenset((SERVICE_ARN, k) for k in seen.settled),
                pause_id=pause_id,
            )
        else:
            records = {TABLE_ARN: {k: v for k, v in seen.tags}}  # type: ignore[misc]
            view = observed(
                backups=(BACKUP,) if seen.backup else (),
                targets=_targets(seen),
                records=records,  # type: ignore[arg-type]
                settled=frozenset((TABLE_ARN, k) for k in seen.settled),
                pause_id=pause_id,
            )
        ops: list[Op] = []
        for decision in decide(view, POLICY).decisions:
            for step in decision.steps:
                ops.append(_op(step))
        return tuple(ops)


def _op(step: object) -> Op:
    match step:
        case RecordPausedCount(_, key, count):
            return ("tag", ((key, count),))
        case SetDesiredCount(count):
            return ("desired", count)
        case ForgetPausedCount(_, keys):
            return ("untag", tuple(keys))
        case RecordSuspended(_, record):
            return ("tag", tuple(sorted(record.items(), key=lambda kv: kv[0])))
        case SetSuspended(target, suspended):
            index = [r for r, _ in TARGETS].index(target.resource_id)
            return ("flags", index, suspended)
        case ForgetSuspended(_, keys):
            return ("untag", tuple(keys))
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

    def plan(self, mode: str, seen: Seen, pause_id: str) -> tuple[Op, ...]:
        assert seen.tags is not None
        tags = dict(seen.tags)
        return self._service(seen, tags) if mode == "ecs" else self._table(seen, tags)

    def _service(self, seen: Seen, tags: dict[str, object]) -> tuple[Op, ...]:
        desired = seen.desired
        if seen.backup:
            if desired == 0:
                return ()
            record = () if self.KEY in tags else (("tag", ((self.KEY, desired),)),)
            return (*record, ("desired", 0))
        if desired == 0:
            count = tags.get(self.KEY, POLICY.resume_count)
            forget = (("check-running",), ("untag", (self.KEY,))) if self.KEY in tags else ()
            return (("desired", count), *forget)
        if self.KEY in tags:
            return (("check-running",), ("untag", (self.KEY,)))
        return ()

    def _table(self, seen: Seen, tags: dict[str, object]) -> tuple[Op, ...]:
        assert seen.flags is not None
        (flags,) = seen.flags
        if seen.backup:
            if flags == ALL:
                return ()
            return (("tag", ((self.TABLE_KEY, ALL - flags),)), ("flags", 0, ALL))
        if self.TABLE_KEY not in tags:
            return ()
        recorded = tags[self.TABLE_KEY]
        assert isinstance(recorded, frozenset)
        undo = (("flags", 0, flags - recorded),) if flags & recorded else ()
        return (*undo, ("untag", (self.TABLE_KEY,)))


def _apply(world: World, op: Op) -> tuple[World, bool]:
    """The world after one call; False when the call ends its change (a re-read that found
    the service paused again stops the untag after it)."""
    match op:
        case ("tag", pairs):
            keys = {k for k, _ in pairs}  # type: ignore[attr-defined]
            kept = {(k, v) for k, v in world.tags if k not in keys}
            # A key written again is a new record: it has not settled.
            return world._replace(
                tags=frozenset(kept | set(pairs)),
                settled=world.settled - keys,  # type: ignore[arg-type]
            ), True
        case ("untag", keys):
            gone = set(keys)  # type: ignore[call-overload]
            return world._replace(
                tags=frozenset((k, v) for k, v in world.tags if k not in gone),
                settled=world.settled - gone,
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


def _read(world: World, what: str, seen: Seen, settled: frozenset[str]) -> Seen:
    settled = settled & world.tag_keys()
    if what == "backups":
        return seen._replace(backup=world.backup)
    if what == "thing" and world.mode == "ecs":
        # describe-services --include TAGS: the count and the records in one answer.
        return seen._replace(desired=world.desired, tags=world.tags, settled=settled)
    if what == "thing":
        return seen._replace(flags=world.flags)
    return seen._replace(tags=world.tags, settled=settled)


class State(NamedTuple):
    world: World
    agents: tuple[Agent, ...]
    script: tuple[bool, ...]  # the backup's states still to come, in order
    deaths: int  # controllers that may still die
    joins: int  # controllers that may still start (a rolling deploy)


@dataclass
class Bounds:
    controllers: int = 2
    ticks: int | tuple[int, ...] = 3  # ticks per controller (or each controller's)
    script: tuple[bool, ...] = (True, False)  # the backup starts, then ends
    deaths: int = 1
    joins: int = 0
    person_flags: frozenset[str] = frozenset()  # a flag a person set before any pause


@dataclass
class Result:
    states: int = 0
    schedules: int = 0  # end states checked
    failure: list[str] | None = None
    final: World | None = None


@dataclass
class _Search:
    protocol: Protocol
    bounds: Bounds
    seen: set[State] = field(default_factory=set)
    plans: dict[tuple[object, ...], tuple[Op, ...]] = field(default_factory=dict)

    def plan(self, mode: str, seen: Seen, agent: Agent) -> tuple[Op, ...]:
        pause_id = f"{agent.cid:02x}{agent.ticks:010x}"
        key = (mode, seen, pause_id)
        if key not in self.plans:
            self.plans[key] = self.protocol.plan(mode, seen, pause_id)
        return self.plans[key]

    def moves(self, state: State) -> Iterator[tuple[str, State]]:
        world = state.world
        if state.script:
            nxt = state.script[0]
            yield (
                f"backup {'starts' if nxt else 'ends'}",
                state._replace(world=world._replace(backup=nxt), script=state.script[1:]),
            )
        for i, agent in enumerate(state.agents):
            yield from self._agent_moves(state, i, agent)
        if state.joins:
            cid = len(state.agents)
            agent = Agent(cid, 0)
            yield (
                f"controller {cid} starts",
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
                f"record {key} settles",
                state._replace(world=world._replace(settled=world.settled | {key}), agents=agents),
            )

    def _agent_moves(self, state: State, i: int, agent: Agent) -> Iterator[tuple[str, State]]:
        world = state.world

        def put(new: Agent, new_world: World = world, **more: object) -> State:
            agents = (*state.agents[:i], new, *state.agents[i + 1 :])
            return state._replace(world=new_world, agents=agents, **more)  # type: ignore[arg-type]

        name = f"controller {agent.cid}"
        if not agent.alive:
            if agent.in_flight is not None:
                new_world, _ = _apply(world, agent.in_flight)
                yield (
                    f"{name}'s last call lands: {agent.in_flight}",
                    put(agent._replace(in_flight=None, window=frozenset()), new_world),
                )
            return
        if agent.steps:
            op = agent.steps[0]
            new_world, go_on = _apply(world, op)
            rest = agent.steps[1:] if go_on else ()
            window = agent.window
            if op[0] == "tag":
                window = frozenset(k for k, _ in op[1])  # type: ignore[attr-defined]
            if not rest:
                window = frozenset()
            yield f"{name}: {op}", put(agent._replace(steps=rest, window=window), new_world)
        elif agent.reads:
            for what in sorted(agent.reads):
                seen = _read(world, what, agent.seen or Seen(), agent.settled)
                reads = agent.reads - {what}
                if reads:
                    yield f"{name} reads {what}", put(agent._replace(reads=reads, seen=seen))
                else:
                    steps = self.plan(world.mode, seen, agent)
                    done = agent._replace(
                        reads=frozenset(), seen=None, steps=steps, settled=frozenset()
                    )
                    yield f"{name} reads {what}, decides {steps}", put(done)
        elif agent.ticks < self.ticks(agent):
            reads = self.protocol.reads(world.mode)
            yield (
                f"{name} begins tick {agent.ticks + 1}",
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
            yield f"{name} dies", put(dead._replace(window=frozenset()), deaths=state.deaths - 1)
            if agent.steps:
                yield (
                    f"{name} dies with {agent.steps[0]} in flight",
                    put(dead._replace(in_flight=agent.steps[0]), deaths=state.deaths - 1),
                )

    def busy(self, state: State) -> bool:
        """Whether anything but time passing and calls in flight landing can still happen."""
        if state.script or state.joins:
            return True
        return any(
            a.alive and (a.steps or a.reads or a.ticks < self.ticks(a)) for a in state.agents
        )

    def ticks(self, agent: Agent) -> int:
        ticks = self.bounds.ticks
        return ticks if isinstance(ticks, int) else ticks[min(agent.cid, len(ticks) - 1)]

    def settle(self, state: State) -> World:
        """Land what is in flight, let time pass, and tick the live controllers (a new one
        when none is alive) until nothing changes."""
        world = state.world
        for agent in state.agents:
            if agent.in_flight is not None:
                world, _ = _apply(world, agent.in_flight)
        live = [a for a in state.agents if a.alive] or [Agent(len(state.agents), 0)]
        for _round in range(6):
            changed = False
            for agent in live:
                world = world._replace(settled=frozenset(world.tag_keys()))
                seen = Seen()
                for what in sorted(self.protocol.reads(world.mode)):
                    seen = _read(world, what, seen, world.settled)
                agent = agent._replace(ticks=agent.ticks + 1)  # noqa: PLW2901
                for op in self.plan(world.mode, seen, agent):
                    new, go_on = _apply(world, op)
                    changed |= new != world
                    world = new
                    if not go_on:
                        break
            if not changed:
                return world
        raise AssertionError("the controllers never came to rest")

    def check(self, world: World) -> str | None:
        problems = []
        if world.tags:
            problems.append(f"records left: {sorted(world.tags, key=str)}")
        if world.mode == "ecs" and world.desired != ORIGINAL:
            problems.append(f"desired count {world.desired}, not {ORIGINAL} as before the pause")
        if world.mode == "table":
            for (resource, _), flags in zip(TARGETS, world.flags, strict=True):
                if flags != self.bounds.person_flags:
                    problems.append(
                        f"{resource} has {sorted(flags)} suspended, not "
                        f"{sorted(self.bounds.person_flags)} as before the pause"
                    )
        return "; ".join(problems) or None

    def run(self, start: State) -> Result:
        result = Result()
        # Depth-first, with the path kept so that a failure shows its schedule.
        stack: list[tuple[State, Iterator[tuple[str, State]]]] = [(start, self.moves(start))]
        path: list[str] = []
        self.seen.add(start)
        while stack:
            _, moves = stack[-1]
            step = next(moves, None)
            if step is None:
                stack.pop()
                if path:
                    path.pop()
                continue
            what, nxt = step
            if nxt in self.seen:
                continue
            self.seen.add(nxt)
            result.states += 1
            path.append(what)
            if not self.busy(nxt):
                result.schedules += 1
                final = self.settle(nxt)
                problem = self.check(final)
                if problem:
                    result.failure = [*path, f"then, at rest: {problem}"]
                    result.final = final
                    return result
                path.pop()
                continue
            stack.append((nxt, self.moves(nxt)))
        return result


def explore(protocol: Protocol, mode: str, bounds: Bounds) -> Result:
    """Every schedule within `bounds`; the first that breaks an invariant, with its steps."""
    flags = tuple(bounds.person_flags for _ in TARGETS) if mode == "table" else ()
    world = World(mode, flags=flags)
    agents = tuple(Agent(cid, 0) for cid in range(bounds.controllers))
    start = State(world, agents, bounds.script, bounds.deaths, bounds.joins)
    return _Search(protocol, bounds).run(start)


def describe(result: Result) -> str:
    return "\n".join(f"  {i + 1}. {step}" for i, step in enumerate(result.failure or ()))


Runner = Callable[[Protocol, str, Bounds], Result]
__all__: Sequence[str] = ("Bounds", "Current", "Legacy", "Result", "describe", "explore")
