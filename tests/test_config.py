"""Settings from flags and environment: defaults, overrides, and every problem at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from controller.autoscalers.ecs import Ecs
from controller.config import Config, ConfigError, load
from controller.sources.emr import Emr

AWS_BIN = str(Path(sys.executable).parent)
REQUIRED = {
    "EMR_PREFIX": "dynamodb-backup-",
    "EMR_REGION": "us-east-1",
    "AUTOSCALER_CLUSTER": "autoscaling",
    "AUTOSCALER_REGION": "eu-west-1",
    "AUTOSCALER_SERVICE": "dynamodb-autoscaler",
}


def env(**changes: str | None) -> dict[str, str]:
    base = {**REQUIRED, "PATH": f"{AWS_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def problems(argv: list[str], environment: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(argv, environment)
    return raised.value.problems


def test_defaults() -> None:
    config = load([], env())

    assert config == Config(
        emr_region="us-east-1",
        sources=(Emr("dynamodb-backup-", "us-east-1"),),
        autoscalers=(Ecs("autoscaling", "eu-west-1", "dynamodb-autoscaler"),),
        aws_cli=config.aws_cli,
    )
    assert config.interval == 60.0
    assert (config.once, config.dry_run, config.debug) == (False, False, False)
    assert Path(config.aws_cli).name == "aws"
    assert config.endpoint_url is None


def test_flags_and_environment() -> None:
    config = load(
        ["--once", "--interval", "2.5", "--dry-run"],
        env(POLL_INTERVAL="10", DEBUG_OUTPUT="yes", AWS_ENDPOINT_URL="http://127.0.0.1:5000"),
    )

    assert config.once and config.dry_run and config.debug
    assert config.interval == 2.5, "--interval overrides POLL_INTERVAL"
    assert config.endpoint_url == "http://127.0.0.1:5000"


def test_poll_interval_from_environment() -> None:
    assert load([], env(POLL_INTERVAL="15")).interval == 15.0


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("1", True), ("no", False), ("", False)]
)
def test_dry_run_from_environment(raw: str, expected: bool) -> None:
    assert load([], env(DRY_RUN=raw)).dry_run is expected


def test_debug_output_is_any_non_empty_value() -> None:
    assert load([], env(DEBUG_OUTPUT="true")).debug
    assert not load([], env(DEBUG_OUTPUT="")).debug
    assert not load([], env()).debug


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        ["--interval", "0"],
        env(
            EMR_PREFIX="",
            EMR_REGION=None,
            AUTOSCALER_REGION="Europe",
            AUTOSCALER_SERVICE="   ",
            DRY_RUN="perhaps",
            AWS_ENDPOINT_URL="localhost:5000",
            AWS_CLI="/nonexistent/aws",
        ),
    )

    assert len(found) == 8
    for name in (
        "EMR_PREFIX is set but empty",
        "EMR_REGION is required but not set",
        "AUTOSCALER_REGION is not an AWS region name",
        "AUTOSCALER_SERVICE is set but empty",
        "--interval must be a number of seconds above 0",
        "DRY_RUN must be one of",
        "AWS_ENDPOINT_URL must be an http(s) URL",
        "AWS_CLI: no executable AWS CLI found at '/nonexistent/aws'",
    ):
        assert any(problem.startswith(name) for problem in found), (name, found)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "inf", "nan", "86401", ""])
def test_bad_poll_interval(value: str) -> None:
    (problem,) = problems([], env(POLL_INTERVAL=value))
    assert problem.startswith("POLL_INTERVAL")


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-4", "cn-north-1"]
)
def test_real_region_names_are_accepted(region: str) -> None:
    assert load([], env(EMR_REGION=region)).emr_region == region


@pytest.mark.parametrize("name", ["CALL_TIMEOUT", "CALL_ATTEMPTS"])
@pytest.mark.parametrize("value", ["0", "-3", "many"])
def test_bad_call_limits(name: str, value: str) -> None:
    (problem,) = problems([], env(**{name: value}))
    assert problem.startswith(name)


def test_a_variable_like_a_setting_is_named_and_the_others_are_left_alone() -> None:
    from controller.config import names  # noqa: PLC0415
    from controller.settings import strays  # noqa: PLC0415

    others = {"PATH", "HOME", "DEBUG", "HTTP_PROXY", "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB"}
    assert strays(dict.fromkeys([*names(), *others], "x"), names()) == []
    assert strays({"GLUE_PREFIX": "x", "MAX_WORKERS": "x"}, names()) == [
        "GLUE_PREFIX is not a setting; did you mean GLUE_JOB_PREFIX?",
        "MAX_WORKERS is not a setting (those named like it: MAX_BACKUP_AGE, MAX_FAN_OUT, "
        "MAX_CONCURRENT_CALLS)",
    ]
