"""PAUSE_SCOPE=named: a backup pauses only the tables it names (a tag, a Glue run's argument,
an EMR cluster's unfinished steps), and holds every table when what it says cannot be used."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.autoscalers.dynamodb import ALL, Dynamodb, Tables, Target
from controller.aws import UnexpectedOutput
from controller.config import load
from controller.decide import Context, Verb, Verdict
from controller.sources import emr, glue
from controller.sources.backup import Backup, Names, names_in
from tests.support.json_strategies import any_json, mutations
from tests.test_config import env

TABLES = ("orders", "orders-archive", "events-a", "events-b", "users")
KEY = "dynamodb-autoscaler-control:suspended:000000000001:table:read"


def target(table: str, suspended: frozenset[str] = frozenset()) -> Target:
    arn = f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
    return Target(f"table/{table}", "dynamodb:table:ReadCapacityUnits", suspended, arn)


def native(scope: str = "named") -> Dynamodb:
    return Dynamodb("", "us-east-1", scope)


def cluster(names: Names | None, ident: str = "j-1") -> Backup:
    return Backup("EMR cluster", ident, f"export-{ident}", "RUNNING", names=names)


def planned(kind: Dynamodb, backups: tuple[Backup, ...], tables: Tables, unknown=()) -> dict:
    decisions = kind.plan(tables, Verdict(backups, tuple(unknown)), Context("000000000002"))
    return {d.change.split(",")[0].removeprefix("table "): d.verb for d in decisions if d.steps}


def fresh() -> Tables:
    return Tables(tuple(target(t) for t in TABLES), {})


def test_a_backup_pauses_only_the_tables_it_names_by_name_and_prefix() -> None:
    named = names_in("orders prefix:events-", "tag")

    changes = planned(native(), (cluster(named),), fresh())

    assert changes == {"orders": Verb.PAUSE, "events-a": Verb.PAUSE, "events-b": Verb.PAUSE}


def test_the_prefix_scope_pauses_every_table_whatever_a_backup_names() -> None:
    changes = planned(native("prefix"), (cluster(names_in("orders", "tag")),), fresh())

    assert set(changes) == set(TABLES)


def test_a_table_no_running_backup_names_resumes_while_another_backup_goes_on() -> None:
    paused = frozenset(ALL)
    tables = Tables(
        (target("orders", paused), target("users", paused), target("events-a")),
        {t.table_arn: {KEY: ALL} for t in (target("orders"), target("users"))},
    )
    still = cluster(names_in("users", "tag"))

    assert planned(native(), (still,), tables) == {"orders": Verb.RESUME}
    # With a source unknown, a backup may be reading orders unseen: nothing resumes.
    assert planned(native(), (still,), tables, unknown=("Glue",)) == {}


@pytest.mark.parametrize(
    ("names", "why"),
    [
        (None, "does not say which tables"),
        (Names(), "names no table"),
        (names_in("orders ord*rs", "tag"), "malformed"),
        (names_in("", "tag"), "names nothing"),
        (names_in("ordres", "tag"), "'ordres', which is not a table under the prefix"),
        (names_in("prefix:evnts-", "tag"), "starts with its prefix:evnts-"),
        (Names(steps=(("Install tools", frozenset({"Install", "tools"})),)), "names no table"),
        (Names(why="reading its tag and steps failed: AccessDenied"), "AccessDenied"),
    ],
)
def test_a_backup_naming_nothing_usable_holds_every_table_and_says_why_once(
    names: Names | None, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    kind = native()
    with caplog.at_level(logging.WARNING):
        first = planned(kind, (cluster(names),), fresh())
        again = planned(kind, (cluster(names),), fresh())

    assert set(first) == set(again) == set(TABLES)
    (warning,) = caplog.records
    assert "export-j-1" in warning.getMessage() and why in warning.getMessage()


def test_two_backups_overlap_and_the_table_stays_paused_until_neither_names_it() -> None:
    kind = native()
    a, b = cluster(names_in("orders users", "tag"), "j-a"), cluster(names_in("orders", "tag"))
    paused = Tables(
        (target("orders", ALL), target("users", ALL)),
        {target(t).table_arn: {KEY: ALL} for t in ("orders", "users")},
    )

    assert planned(kind, (a, b), fresh()).keys() == {"orders", "users"}
    assert planned(kind, (b,), paused) == {"users": Verb.RESUME}
    assert planned(kind, (), paused) == {"orders": Verb.RESUME, "users": Verb.RESUME}


def test_a_step_names_a_table_as_a_whole_token_of_its_name_or_arguments() -> None:
    steps = emr.parse_steps(
        {
            "Steps": [
                {"Name": "Export Table:orders", "Status": {"State": "RUNNING"}},
                {
                    "Name": "Export",
                    "Config": {"Args": ["s3://bucket/out", "events-a"]},
                    "Status": {"State": "PENDING"},
                },
                {"Name": "Export Table:users", "Status": {"State": "COMPLETED"}},
            ]
        }
    )

    found, why = steps.among(TABLES)

    assert (found, why) == (frozenset({"orders", "events-a"}), "")


def test_a_cluster_whose_steps_all_ended_reads_nothing_and_one_without_steps_holds_all() -> None:
    ended = emr.parse_steps({"Steps": [{"Name": "Export:orders", "Status": {"State": "FAILED"}}]})

    assert ended.among(TABLES) == (frozenset(), "")
    assert emr.parse_steps({"Steps": []}).among(TABLES)[0] is None


def test_a_glue_run_names_its_tables_with_an_argument() -> None:
    runs = {
        "JobRuns": [
            {
                "Id": "jr_1",
                "JobRunState": "RUNNING",
                "Arguments": {"--dynamodb-autoscaler-control-tables": "orders"},
            },
            {"Id": "jr_2", "JobRunState": "RUNNING"},
        ]
    }

    first, second = glue.parse_runs(runs, "export")

    assert first.names is not None and first.names.among(TABLES) == (frozenset({"orders"}), "")
    assert second.names is not None and "has no argument" in second.names.among(TABLES)[1]


def test_pause_scope_needs_native_mode_and_is_one_of_two_words() -> None:
    assert load([], env(DYNAMODB_TABLE_PREFIX="o", PAUSE_SCOPE="Named")).autoscalers
    for bad in ({"PAUSE_SCOPE": "named"}, {"DYNAMODB_TABLE_PREFIX": "o", "PAUSE_SCOPE": "t"}):
        with pytest.raises(Exception, match="PAUSE_SCOPE"):
            load([], env(**bad))


def test_the_sources_read_names_only_in_the_named_scope() -> None:
    (source,) = load([], env(DYNAMODB_TABLE_PREFIX="o", PAUSE_SCOPE="named")).sources
    (plain,) = load([], env(DYNAMODB_TABLE_PREFIX="o")).sources

    assert (source.named, plain.named) == (True, False)


@given(st.one_of(any_json, mutations({"Cluster": {"Tags": [{"Key": "k", "Value": "v"}]}})))
def test_reading_a_clusters_tag_is_total(doc: object) -> None:
    try:
        value = emr.parse_tag(doc)  # type: ignore[arg-type]
    except UnexpectedOutput:
        return
    assert value is None or isinstance(value, str)


STEPS = {
    "Steps": [
        {"Name": "Export Table:orders", "Config": {"Args": ["x"]}, "Status": {"State": "RUNNING"}}
    ]
}


@given(st.one_of(any_json, mutations(STEPS)))
def test_reading_a_clusters_steps_is_total(doc: object) -> None:
    try:
        names = emr.parse_steps(doc)  # type: ignore[arg-type]
    except UnexpectedOutput:
        return
    assert isinstance(names.among(TABLES)[1], str)


@given(st.one_of(any_json, st.text()))
def test_reading_a_tag_value_is_total(value: object) -> None:
    found, why = names_in(value, "tag").among(TABLES)
    assert (found is None) == bool(why)
