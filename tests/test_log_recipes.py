"""The log as an operator filters it: LOG_LEVEL, and the README's grep and jq recipes run
against what the controller really writes (a steady tick, a pause, a retry, a failure)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from controller.config import ConfigError, load
from tests.conftest import Stack
from tests.support.image import ROOT
from tests.support.moto import PREFIX, executable
from tests.test_config import env

DOCKER_LOGS = "docker logs dynamodb-autoscaler-control 2>&1"
THROTTLED = (
    "An error occurred (ThrottlingException) when calling the DescribeServices operation: "
    "Rate exceeded"
)
DENIED = (
    "An error occurred (AccessDeniedException) when calling the ListClusters operation: "
    "User is not authorized to perform: elasticmapreduce:ListClusters"
)


def recipes() -> dict[str, str]:
    """The README's recipes, by their comment: `docker logs ... | FILTER  # what`."""
    section = (ROOT / "README.md").read_text().split("**Filter the log", 1)[1].split("\n**", 1)[0]
    found = {}
    for line in section.splitlines():
        if line.startswith(DOCKER_LOGS):
            command, what = line.removeprefix(DOCKER_LOGS).rsplit("  # ", 1)
            found[what.strip()] = command.strip()
    return found


def real_output(stack: Stack, **settings: str) -> str:
    """What a night looks like in the log: a steady tick, a pause, a held pause during
    which one query is retried and another refused."""
    stack.service(desired=2)
    runs = [stack.run("--once", **settings)]
    stack.world.start_cluster(f"{PREFIX}nightly")
    runs.append(stack.run("--once", **settings))
    stack.fake_aws(
        {
            "ecs describe-services": {"fail": 1, "exit": 254, "stderr": THROTTLED},
            "emr list-clusters": {"fail": -1, "exit": 254, "stderr": DENIED},
        }
    )
    runs.append(stack.run("--once", **settings))
    assert [r.returncode for r in runs] == [0, 0, 1], runs[-1].stderr
    return "".join(r.stderr for r in runs)


def filtered(recipe: str, log: str, tmp_path: Path) -> list[str]:
    (tmp_path / "log").write_text(log)
    done = subprocess.run(
        ["bash", "-c", f"set -o pipefail; cat log {recipe}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode in (0, 1), done.stderr  # grep's 1: nothing selected
    return done.stdout.splitlines()


def test_the_readme_has_the_recipes_this_file_runs() -> None:
    assert set(recipes()) == {
        "every pause and resume",
        "failures and retries",
        "every pause and resume, LOG_FORMAT=json",
        "failures and retries, LOG_FORMAT=json",
    }


def test_the_text_recipes_select_exactly_the_changes_and_the_failures(
    stack: Stack, tmp_path: Path
) -> None:
    log = real_output(stack)
    lines = log.splitlines()
    found = recipes()

    (pause,) = filtered(found["every pause and resume"], log, tmp_path)
    failures = filtered(found["failures and retries"], log, tmp_path)

    assert "| action: pause: desired 2 -> 0" in pause
    assert " NOTICE " in pause
    assert failures == [line for line in lines if re.match(r"\S+ (ERROR|WARNING) ", line)]
    # The queries run at once: the retry and the refusal come in either order.
    assert sorted(line.split()[1] for line in failures) == ["ERROR", "ERROR", "WARNING"]
    (retry,) = [line for line in failures if " WARNING " in line]
    assert "ThrottlingException" in retry
    assert any("AccessDeniedException" in line for line in failures if " ERROR " in line)


@pytest.mark.skipif(not shutil.which("jq"), reason="jq is not installed")
def test_the_json_recipes_select_exactly_the_changes_and_the_failures(
    stack: Stack, tmp_path: Path
) -> None:
    log = real_output(stack, LOG_FORMAT="json")
    found = recipes()

    pauses = filtered(found["every pause and resume, LOG_FORMAT=json"], log, tmp_path)
    failures = filtered(found["failures and retries, LOG_FORMAT=json"], log, tmp_path)

    (pause,) = map(json.loads, pauses)
    assert (pause["action"], pause["level"]) == (["pause"], "NOTICE")
    assert sorted(json.loads(line)["level"] for line in failures) == ["ERROR", "ERROR", "WARNING"]


def dry_run_pause(stack: Stack, **settings: str) -> str:
    """A pause a dry run only pretends: its line says pause, and nothing changed."""
    stack.service(desired=2)
    stack.world.start_cluster(f"{PREFIX}nightly")
    result = stack.run("--once", "--dry-run", **settings)
    assert result.returncode == 0, result.stderr
    assert stack.desired() == 2
    return result.stderr


def test_the_text_recipe_leaves_out_a_dry_runs_pause(stack: Stack, tmp_path: Path) -> None:
    # Someone asking "when did it pause" must not be shown a pause that never happened.
    log = dry_run_pause(stack)

    assert "| action: pause: desired 2 -> 0" in log
    assert filtered(recipes()["every pause and resume"], log, tmp_path) == []


@pytest.mark.skipif(not shutil.which("jq"), reason="jq is not installed")
def test_the_json_recipe_leaves_out_a_dry_runs_pause(stack: Stack, tmp_path: Path) -> None:
    log = dry_run_pause(stack, LOG_FORMAT="json")

    # The dry run's pause is there, under "would": what it would have done.
    assert any(json.loads(line).get("would") == ["pause"] for line in log.splitlines())
    assert filtered(recipes()["every pause and resume, LOG_FORMAT=json"], log, tmp_path) == []


def test_every_json_line_of_a_dry_run_says_so(stack: Stack) -> None:
    # A filter on `.dry_run` must work on any line, not only the tick's.
    lines = [json.loads(line) for line in dry_run_pause(stack, LOG_FORMAT="json").splitlines()]

    assert lines and all(line.get("dry_run") is True for line in lines)


def test_log_level_notice_leaves_out_steady_ticks_and_keeps_changes_and_the_start(
    stack: Stack,
) -> None:
    stack.service(desired=2)

    steady = stack.run("--once", LOG_LEVEL="notice")
    stack.world.start_cluster(f"{PREFIX}nightly")
    pausing = stack.run("--once", LOG_LEVEL="NOTICE")
    held = stack.run("--once", LOG_LEVEL="NOTICE")
    chatty = stack.run("--once")

    for result in (steady, pausing, held, chatty):
        assert result.returncode == 0, result.stderr
        (start,) = [line for line in result.stderr.splitlines() if ": pausing " in line]
        assert " NOTICE  dynamodb-autoscaler-control 1." in start
    assert "| action:" not in steady.stderr + held.stderr
    (pause,) = [line for line in pausing.stderr.splitlines() if "| action:" in line]
    assert " NOTICE  backups: " in pause and "action: pause: desired 2 -> 0" in pause
    (unchanged,) = [line for line in chatty.stderr.splitlines() if "| action:" in line]
    assert " INFO    backups: " in unchanged and "action: no change" in unchanged


@pytest.mark.parametrize(
    ("value", "level"),
    [("INFO", "INFO"), ("debug", "DEBUG"), ("Notice", "NOTICE"), ("WARNING", None), ("", None)],
)
def test_log_level_takes_no_level_that_would_hide_a_change(value: str, level: str | None) -> None:
    if level:
        assert load([], env(LOG_LEVEL=value)).log_level == level
        return
    with pytest.raises(ConfigError) as raised:
        load([], env(LOG_LEVEL=value))
    assert raised.value.problems == [f"LOG_LEVEL must be one of INFO, DEBUG, NOTICE: {value!r}"]


def test_an_unknown_flag_under_json_logs_is_one_json_object() -> None:
    result = subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--onse"],
        env={**env(), "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    logged = json.loads(line)
    assert logged["level"] == "ERROR"
    assert logged["message"] == "bad usage: unrecognized arguments: --onse"
    assert logged["exit_status"] == 2
