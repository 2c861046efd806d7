"""Any number of controllers, any slowness: no interleaving loses a record.

An exhaustive search of the schedules of two controllers (and of three, to a smaller bound)
around backups starting and ending, with a controller dying between any two calls and its
call in flight landing at any later moment (tests/support/records_model.py says what the
model is and what it checks at the end of every schedule). The same search finds the races
of version 1.0's records, which shows that it can.

Under PAUSE_SCOPE=named the world has two tables and backups that name some of them: two
overlapping, one ending while the other goes on, a step ending while its cluster goes on, a
tag changing mid-run, a name matching no table; a table must resume once no backup names it,
and one no backup names must never be touched. The prefix scope's rule in those worlds
breaks both, which shows the search checks them.
"""

from __future__ import annotations

import pytest

from controller.sources.backup import Names, names_in
from tests.support.records_model import (
    Bounds,
    Current,
    Legacy,
    Result,
    Running,
    describe,
    explore,
)

SCHEDULED = frozenset({"ScheduledScalingSuspended"})
TWO_BACKUPS = (True, False, True, False)
# The largest searches visit 1 to 2 million states, 20 to 80 s each on a quiet 2-core machine.
pytestmark = [pytest.mark.model, pytest.mark.timeout(900)]


def passes(result: Result, at_least: int) -> None:
    assert result.failure is None, describe(result)
    # A search that checked a handful of schedules would prove nothing.
    assert result.schedules >= at_least, f"only {result.schedules} schedules"


@pytest.mark.parametrize(
    ("mode", "lost"),
    [
        ("ecs", "desired count 1, not 4 as before the pause"),
        ("table", "suspended, not [] as before the pause"),
    ],
)
def test_the_search_finds_the_races_of_version_1_0(mode: str, lost: str) -> None:
    result = explore(Legacy(), mode, Bounds(controllers=2, ticks=3, deaths=0))

    assert result.failure is not None, f"{result.states} states and no race found"
    assert lost in result.failure[-1], describe(result)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_two_controllers_one_dying_lose_no_record(mode: str) -> None:
    # A flag a person set on the table must come out as it went in.
    person = SCHEDULED if mode == "table" else frozenset()
    bounds = Bounds(controllers=2, ticks=3, deaths=1, person_flags=person)

    passes(explore(Current(), mode, bounds), at_least=5000)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_two_backups_in_a_row(mode: str) -> None:
    bounds = Bounds(controllers=2, ticks=3, deaths=0, script=TWO_BACKUPS)

    passes(explore(Current(), mode, bounds), at_least=500)


@pytest.mark.parametrize("mode", ["ecs", "table"])
def test_a_rolling_deploy_a_new_controller_joins_and_the_old_one_dies(mode: str) -> None:
    bounds = Bounds(controllers=1, ticks=3, deaths=1, joins=1)

    passes(explore(Current(), mode, bounds), at_least=1000)


@pytest.mark.parametrize(("mode", "ticks"), [("ecs", (2, 2, 1)), ("table", (2, 2, 1))])
def test_three_controllers(mode: str, ticks: tuple[int, ...]) -> None:
    bounds = Bounds(controllers=3, ticks=ticks, deaths=0)

    passes(explore(Current(), mode, bounds), at_least=300)


# --- PAUSE_SCOPE=named: each backup pauses the tables it names, of two -----------------------

TABLES = ("orders", "events")


def tagged(ident: str, value: str) -> tuple[str, Names]:
    return ident, names_in(value, "tag")


BOTH, ORDERS = tagged("j-a", "orders events"), tagged("j-b", "orders")
EVENTS, ALSO_EVENTS = tagged("j-a", "events"), tagged("j-b", "events")
# An EMR cluster naming orders by its one unfinished step, and the same cluster once that
# step ended: it runs on and names nothing.
EXPORT = ("Export Table:orders", frozenset({"Export", "Table", "orders"}))
STEP = ("j-a", Names(steps=(EXPORT,), said="step Export Table:orders"))
STEPS_ENDED = ("j-a", Names(ended=True, said="its steps ended"))
# A name that matches no table: the backup holds every table.
TYPO = tagged("j-c", "ordres")


def named_scope(script: tuple[Running, ...], **more: object) -> Bounds:
    return Bounds(tables=TABLES, scope="named", script=script, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("script", "broken"),
    [
        (((EVENTS,), ()), "table orders, which no backup names, has a record"),
        (((BOTH,), (STEPS_ENDED,)), "not [] while j-a (its steps ended) goes on"),
    ],
)
def test_the_search_finds_a_rule_that_pauses_what_no_backup_names(
    script: tuple[Running, ...], broken: str
) -> None:
    # The prefix scope's rule in a named world: what the named invariants must catch.
    result = explore(Current("prefix"), "table", named_scope(script, ticks=2, deaths=0))

    assert result.failure is not None, f"{result.states} states and nothing found"
    assert broken in result.failure[-1], describe(result)


def test_two_backups_name_overlapping_tables_and_one_ends_while_the_other_goes_on() -> None:
    # The other ends only once all is at rest: a fourth entry would double the search.
    script = ((BOTH,), (BOTH, ORDERS), (ORDERS,))

    passes(explore(Current(), "table", named_scope(script, ticks=2, deaths=1)), at_least=5000)


def test_a_step_ends_while_the_cluster_goes_on_and_its_table_resumes() -> None:
    script = ((STEP,), (STEP, ORDERS), (STEPS_ENDED, ORDERS), (STEPS_ENDED,))
    bounds = named_scope(script, ticks=2, deaths=1, person_flags=SCHEDULED)

    passes(explore(Current(), "table", bounds), at_least=500)


def test_a_tag_changes_mid_run_and_the_pause_moves_to_the_table_it_names() -> None:
    script = ((tagged("j-a", "orders"),), (EVENTS,), ())

    passes(explore(Current(), "table", named_scope(script, ticks=2, deaths=1)), at_least=5000)


def test_a_table_no_backup_names_is_never_touched_by_overlapping_backups() -> None:
    script = ((EVENTS,), (EVENTS, ALSO_EVENTS), (ALSO_EVENTS,), ())
    bounds = named_scope(script, ticks=2, deaths=1, person_flags=SCHEDULED)

    passes(explore(Current(), "table", bounds), at_least=500)


def test_a_backup_whose_names_cannot_be_used_holds_both_tables_while_another_goes_on() -> None:
    script = ((EVENTS,), (EVENTS, TYPO), (TYPO,))

    passes(explore(Current(), "table", named_scope(script, ticks=2, deaths=1)), at_least=5000)


def test_a_rolling_deploy_while_a_tag_changes() -> None:
    # The new controller starts at any moment, the old one dies at any moment: it finds the
    # old one's records for orders while the pause moves to events.
    script = ((tagged("j-a", "orders"),), (EVENTS,), ())
    bounds = named_scope(script, controllers=1, ticks=2, deaths=1, joins=1)

    passes(explore(Current(), "table", bounds), at_least=5000)
