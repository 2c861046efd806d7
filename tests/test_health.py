"""The heartbeat and its judgement, with a fake clock and real files (no AWS)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from controller.runtime.health import check
from controller.runtime.heartbeat import Heartbeat

NOW = 1_795_450_000.0  # 2026-11-23T13:46:40Z


def beat(path: Path, at: float, interval: float = 60, call_timeout: float = 30) -> None:
    Heartbeat(path, interval, call_timeout, clock=lambda: at)()


def test_no_file_means_no_successful_tick_yet(tmp_path: Path) -> None:
    verdict = check(tmp_path / "heartbeat", NOW)

    assert not verdict.healthy
    assert verdict.reason == f"no successful tick yet: no heartbeat file at {tmp_path}/heartbeat"


@pytest.mark.parametrize("age", [0, 1, 209.9, 210])
def test_a_beat_within_three_intervals_and_a_call_timeout_is_healthy(
    tmp_path: Path, age: float
) -> None:
    path = tmp_path / "heartbeat"
    beat(path, NOW - age, interval=60, call_timeout=30)

    verdict = check(path, NOW)

    assert verdict.healthy, verdict.reason
    assert "limit 210s (3 x 60s interval + 30s call timeout)" in verdict.reason


@pytest.mark.parametrize("age", [210.1, 3600])
def test_an_older_beat_is_stale(tmp_path: Path, age: float) -> None:
    path = tmp_path / "heartbeat"
    beat(path, NOW - age, interval=60, call_timeout=30)

    verdict = check(path, NOW)

    assert not verdict.healthy
    assert verdict.reason.startswith("stale: last successful tick at 2026-11-23T")
    assert f"{age:.0f}s ago; limit 210s" in verdict.reason


def test_the_limit_comes_from_the_beat_not_from_the_checker(tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    beat(fast, NOW - 100, interval=10, call_timeout=30)
    beat(slow, NOW - 100, interval=60, call_timeout=30)

    assert not check(fast, NOW).healthy
    assert check(slow, NOW).healthy


def test_a_beat_far_in_the_future_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    beat(path, NOW + 3600)

    verdict = check(path, NOW)

    assert not verdict.healthy
    assert "3600s in the future" in verdict.reason


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "Expecting value"),
        ("2026-11-23T13:46:40Z", "Extra data"),
        ('{"last_tick": 1795450000.0, "interval": 60', "Expecting"),
        ("[1795450000.0, 60, 30]", "not a JSON object"),
        ('{"interval": 60, "call_timeout": 30}', "'last_tick' is not a number: None"),
        ('{"last_tick": "now", "interval": 60, "call_timeout": 30}', "'last_tick' is not a num"),
        ('{"last_tick": true, "interval": 60, "call_timeout": 30}', "'last_tick' is not a num"),
        ('{"last_tick": NaN, "interval": 60, "call_timeout": 30}', "'last_tick' is out of range"),
        ('{"last_tick": 1e300, "interval": 60, "call_timeout": 30}', "'last_tick' is not a time"),
        ('{"last_tick": 1795450000, "interval": 0, "call_timeout": 30}', "'interval' is out of"),
        ('{"last_tick": 1795450000, "interval": 60, "call_timeout": -1}', "'call_timeout' is out"),
    ],
)
def test_garbage_is_unreadable_and_says_why(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "heartbeat"
    path.write_text(text)

    verdict = check(path, NOW)

    assert not verdict.healthy
    assert verdict.reason.startswith(f"the heartbeat file {path} is unreadable: ")
    assert problem in verdict.reason


def test_a_file_that_cannot_be_read_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.mkdir()

    verdict = check(path, NOW)

    assert not verdict.healthy
    assert verdict.reason.startswith(f"cannot read the heartbeat file {path}: ")
    assert "Is a directory" in verdict.reason


def test_a_beat_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    path.write_text("an older beat")
    beat(path, NOW)

    assert json.loads(path.read_text()) == {
        "last_tick": NOW,
        "interval": 60.0,
        "call_timeout": 30.0,
    }
    assert [p.name for p in tmp_path.iterdir()] == ["heartbeat"]
    assert path.stat().st_mode & 0o777 == 0o644


def test_reset_forgets_the_beat_of_an_earlier_run(tmp_path: Path) -> None:
    path = tmp_path / "heartbeat"
    beat(path, NOW)

    Heartbeat(path, 60, 30).reset()

    assert not check(path, NOW).healthy


def test_a_beat_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gone" / "heartbeat"

    with caplog.at_level(logging.WARNING):
        beat(path, NOW)

    assert f"cannot write the heartbeat file {path}" in caplog.text
