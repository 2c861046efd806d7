"""PAUSE_SCOPE=named against moto with the real CLI: 20 tables under the prefix, and backups
that name some of them as users name them (the exporter's steps, a tag, a Glue argument)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.sources.backup import NAMES_ARGUMENT, NAMES_TAG
from tests.conftest import Loop, Stack
from tests.support.http import eventually, get, samples, value
from tests.support.moto import PREFIX, SUSPENDED_FLAGS, free_port
from tests.support.sources import Sources

ALL = set(SUSPENDED_FLAGS)
TABLES = [f"exp-{n:02}" for n in range(20)]


def seeded(stack: Stack, tables: list[str]) -> Stack:
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del stack.env[name]
    stack.env.update(DYNAMODB_TABLE_PREFIX="exp-", PAUSE_SCOPE="named")
    for table in tables:
        stack.world.autoscale_table(table)
    return stack


@pytest.fixture
def fleet(stack: Stack) -> Stack:
    return seeded(stack, TABLES)


def suspended_tables(stack: Stack) -> set[str]:
    """The tables with every flag on for both their targets."""
    flags: dict[str, list[set[str]]] = {}
    for (resource, _), suspended in stack.world.suspended().items():
        flags.setdefault(resource.split("/")[1], []).append(suspended)
    return {t for t, each in flags.items() if all(f == ALL for f in each)}


def touched(stack: Stack, tables: set[str]) -> set[str]:
    """Those of `tables` with any flag on or any record tag: never so for a table not named."""
    state = stack.world.suspended()
    flagged = {r.split("/")[1] for (r, _), flags in state.items() if flags}
    return {t for t in tables if t in flagged or stack.world.table_tags(t)}


def tick(stack: Stack) -> str:
    run = stack.run("--once")
    assert run.returncode == 0, run.stderr
    return run.stderr


def an_hour_on(stack: Stack, tables: set[str]) -> None:
    """The backup ran for an hour: its pause's records have settled and may be removed."""
    for table in tables:
        stack.world.age_records(table=table)


def test_the_exporters_steps_pause_their_tables_one_step_at_a_time(fleet: Stack) -> None:
    named = {"exp-03", "exp-07", "exp-11"}
    cluster = fleet.world.start_cluster(
        f"{PREFIX}export", steps=[f"Export Table:{t}" for t in sorted(named)]
    )
    others = set(TABLES) - named

    tick(fleet)
    assert suspended_tables(fleet) == named
    an_hour_on(fleet, named)

    fleet.world.end_step(cluster, "Export Table:exp-03")
    logged = tick(fleet)
    assert suspended_tables(fleet) == {"exp-07", "exp-11"}, logged
    assert "resume: table exp-03" in logged

    for table in ("exp-07", "exp-11"):
        fleet.world.end_step(cluster, f"Export Table:{table}")
    tick(fleet)
    assert suspended_tables(fleet) == set()
    assert touched(fleet, set(TABLES)) == set(), "every record removed, every flag off"
    assert fleet.world.emr.describe_cluster(ClusterId=cluster)["Cluster"]["Status"]["State"] in (
        "WAITING",
        "RUNNING",
    ), "the cluster went on all along"
    assert touched(fleet, others) == set()


def test_a_tag_names_tables_by_name_and_by_prefix(fleet: Stack) -> None:
    cluster = fleet.world.start_cluster(f"{PREFIX}tagged", tags={NAMES_TAG: "exp-03 prefix:exp-07"})

    logged = tick(fleet)

    assert suspended_tables(fleet) == {"exp-03", "exp-07"}, logged
    an_hour_on(fleet, {"exp-03", "exp-07"})
    fleet.world.terminate_cluster(cluster)
    tick(fleet)
    assert touched(fleet, set(TABLES)) == set()


@pytest.fixture
def sources(fleet: Stack) -> Iterator[Sources]:
    found = Sources(fleet.server.url)
    yield found
    found.release_glue_runs()


def test_a_glue_run_names_its_table_with_an_argument(fleet: Stack, sources: Sources) -> None:
    fleet.env.pop("EMR_PREFIX")
    fleet.env["GLUE_JOB_PREFIX"] = "export-"
    sources.hold_glue_runs()
    sources.start_glue_run("export-orders", {NAMES_ARGUMENT: "exp-05"})

    logged = tick(fleet)

    assert suspended_tables(fleet) == {"exp-05"}, logged
    an_hour_on(fleet, {"exp-05"})
    sources.release_glue_runs()
    tick(fleet)
    assert touched(fleet, set(TABLES)) == set()


@pytest.mark.parametrize(
    ("steps", "tags", "why"),
    [
        (["Install tools"], {}, "its unfinished step 'Install tools' names no table"),
        ([], {NAMES_TAG: "exp-03 exp*"}, "its tag is malformed at 'exp*'"),
    ],
    ids=["a step naming nothing", "a malformed tag"],
)
def test_a_backup_whose_names_cannot_be_used_holds_every_table(
    stack: Stack, steps: list[str], tags: dict[str, str], why: str
) -> None:
    # Four tables hold as twenty would, at a fifth of the CLI calls.
    few = TABLES[:4]
    fleet = seeded(stack, few)
    fleet.world.start_cluster(f"{PREFIX}odd", steps=steps, tags=tags)

    logged = tick(fleet)

    assert suspended_tables(fleet) == set(few), logged
    (warning,) = [line for line in logged.splitlines() if " WARNING " in line]
    assert f"{PREFIX}odd" in warning and why in warning


def test_the_breaker_the_metrics_and_the_log_say_which_backup_holds_each_table(
    fleet: Stack, loops: list[Loop]
) -> None:
    fleet.world.start_cluster(f"{PREFIX}tagged", tags={NAMES_TAG: "exp-03"})
    dry = fleet.run("--once", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{PREFIX}tagged" in dry.stderr and "naming: tag exp-03" in dry.stderr
    assert suspended_tables(fleet) == set(), "a dry run changes nothing"

    port = free_port()
    loop = fleet.start(HTTP_PORT=str(port), HTTP_ADDRESS="127.0.0.1", POLL_INTERVAL="0.5")
    loops.append(loop)
    loop.wait_for("pause: table exp-03")
    loop.wait_for("held: exp-03 by ")
    eventually(lambda: get(port, "/circuit-breaker?table=exp-03")[0] == 503, what="held")

    status, text = get(port, "/circuit-breaker?table=exp-04")
    assert (status, text.split(":")[0]) == (200, "scale"), text
    assert get(port, "/circuit-breaker")[0] == 503, "the whole answer still waits"
    held = samples(port)
    label = {"autoscaler": "dynamodb:exp-03", "backup": f"{PREFIX}tagged"}
    assert value(held, "dynamodb_autoscaler_control_held_by", **label) == 1
