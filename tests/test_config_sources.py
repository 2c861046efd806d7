"""The sources' settings: which are required, what EMR_STATES and MAX_BACKUP_AGE take."""

from __future__ import annotations

import pytest

from controller.config import Config, load
from controller.sources.emr import EMR_ACTIVE_STATES, Emr
from tests.test_config import env, problems

PREFIXES = ("EMR_PREFIX", "GLUE_JOB_PREFIX", "EMR_EKS_JOB_PREFIX", "EMR_SERVERLESS_JOB_PREFIX")


def test_no_source_at_all_is_one_problem_naming_every_prefix() -> None:
    (problem,) = problems([], env(EMR_PREFIX=None))

    assert problem.startswith("no source of backups is set")
    assert all(name in problem for name in PREFIXES)


def prefixes(config: Config) -> dict[str, str]:
    """The sources that are on, by setting: their prefixes."""
    return {source.setting: source.prefix for source in config.sources}


def emr_states(config: Config) -> tuple[str, ...]:
    (emr,) = [source for source in config.sources if isinstance(source, Emr)]
    return emr.states


@pytest.mark.parametrize("name", PREFIXES[1:])
def test_any_one_source_is_enough(name: str) -> None:
    config = load([], env(EMR_PREFIX=None, **{name: "nightly-export-"}))

    assert prefixes(config) == {name: "nightly-export-"}


@pytest.mark.parametrize("name", PREFIXES)
@pytest.mark.parametrize("value", ["", " x", "x\n", "a" * 300])
def test_a_prefix_set_to_an_odd_value_is_refused(name: str, value: str) -> None:
    found = problems([], env(**{name: value}))

    assert any(problem.startswith(name) for problem in found), found


@pytest.mark.parametrize(
    ("name", "longest"), [("GLUE_JOB_PREFIX", 255), ("EMR_EKS_JOB_PREFIX", 64)]
)
def test_a_prefix_longer_than_any_name_the_service_allows_is_refused(
    name: str, longest: int
) -> None:
    assert prefixes(load([], env(**{name: "x" * longest})))[name] == "x" * longest
    (problem,) = problems([], env(**{name: "x" * (longest + 1)}))
    assert problem.startswith(f"{name} is longer than {longest}")


@pytest.mark.parametrize(
    ("value", "states"),
    [
        ("RUNNING", ("RUNNING",)),
        ("WAITING,STARTING", ("STARTING", "WAITING")),
        ("STARTING,BOOTSTRAPPING,RUNNING", ("STARTING", "BOOTSTRAPPING", "RUNNING")),
        ("RUNNING,RUNNING", ("RUNNING",)),
    ],
)
def test_emr_states(value: str, states: tuple[str, ...]) -> None:
    assert emr_states(load([], env(EMR_STATES=value))) == states


def test_emr_states_default_is_every_active_state() -> None:
    assert emr_states(load([], env())) == EMR_ACTIVE_STATES


@pytest.mark.parametrize(
    "value", ["", "running", "TERMINATED", "RUNNING, WAITING", "RUNNING;WAITING", "RUNNING,"]
)
def test_emr_states_that_are_not_active_emr_states_are_refused(value: str) -> None:
    (problem,) = problems([], env(EMR_STATES=value))

    assert problem.startswith("EMR_STATES must be a comma-separated list")


def test_emr_states_without_emr_prefix_is_a_mistake() -> None:
    (problem,) = problems([], env(EMR_PREFIX=None, GLUE_JOB_PREFIX="g", EMR_STATES="RUNNING"))

    assert problem == "EMR_STATES is set but EMR_PREFIX is not"


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("7200", 7200.0), ("2.5", 2.5)])
def test_max_backup_age(value: str, seconds: float) -> None:
    assert load([], env(MAX_BACKUP_AGE=value)).max_backup_age == seconds


def test_max_backup_age_default_is_no_bound() -> None:
    assert load([], env()).max_backup_age == 0


@pytest.mark.parametrize("value", ["", "-1", "2h", "1e4", "inf", "604801"])
def test_bad_max_backup_age(value: str) -> None:
    (problem,) = problems([], env(MAX_BACKUP_AGE=value))

    assert problem.startswith("MAX_BACKUP_AGE must be a number of seconds from 0 to 604800")


def test_max_fan_out_serves_one_job_per_table_for_hundreds_of_tables_by_default() -> None:
    assert load([], env()).max_fan_out >= 100
    assert load([], env(MAX_FAN_OUT="1000")).max_fan_out == 1000


@pytest.mark.parametrize("value", ["", "0", "-1", "2.5", "many", "10001"])
def test_bad_max_fan_out(value: str) -> None:
    (problem,) = problems([], env(MAX_FAN_OUT=value))

    assert problem == f"MAX_FAN_OUT must be a whole number from 1 to 10000: {value!r}"
