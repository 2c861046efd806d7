"""One tick with a fake runner: which CLI calls it makes, and what it reports."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from controller.aws import AwsError, Interrupted
from controller.loop import Controller, until_stopped
from tests.support.fake_runner import CONFIG, PAUSED_TAG, FakeAws


@pytest.fixture
def pool() -> Any:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def test_steady_tick_makes_exactly_the_two_queries(pool: Any) -> None:
    aws = FakeAws(clusters=["other-cluster"], desired=1)

    assert Controller(CONFIG, aws, pool).tick()

    assert sorted(call[0][:2] for call in aws.calls) == [
        ["ecs", "describe-services"],
        ["emr", "list-clusters"],
    ]
    emr_call = next(c for c, _ in aws.calls if c[0] == "emr")
    ecs_call = next(c for c, _ in aws.calls if c[0] == "ecs")
    assert emr_call == ["emr", "list-clusters", "--active", "--region", "us-east-1"]
    assert ecs_call == [
        "ecs", "describe-services", "--cluster", "c1", "--services", "svc",
        "--include", "TAGS", "--region", "eu-west-1",
    ]  # fmt: skip


def test_pause_records_the_count_then_scales_to_zero(pool: Any) -> None:
    aws = FakeAws(clusters=["backup-1"], desired=2)

    assert Controller(CONFIG, aws, pool).tick()

    tag, update = aws.updates()
    arn = "arn:aws:ecs:eu-west-1:123456789012:service/c1/svc"
    (key,) = aws.tags
    assert key.startswith(f"{PAUSED_TAG}:"), "a key of this pause's own"
    assert tag == (
        ["ecs", "tag-resource", "--resource-arn", arn, "--region", "eu-west-1",
         "--tags", json.dumps([{"key": key, "value": "2"}])],
        True,
    )  # fmt: skip
    assert update == (
        ["ecs", "update-service", "--cluster", "c1", "--service", "svc",
         "--desired-count", "0", "--region", "eu-west-1"],
        True,
    )  # fmt: skip
    assert aws.desired == 0


def test_pause_then_resume_restores_the_recorded_count(pool: Any) -> None:
    aws = FakeAws(clusters=["backup-1"], desired=3)
    assert Controller(CONFIG, aws, pool).tick()
    assert list(aws.tags.values()) == ["3"]

    aws.clusters = []
    # A new Controller: the record lives on the service, not in the process.
    now = [100.0]
    controller = Controller(CONFIG, aws, pool, clock=lambda: now[0])
    assert controller.tick()

    assert aws.desired == 3
    assert list(aws.tags.values()) == ["3"], "a record it has just seen waits to settle"
    now[0] += CONFIG.record_settle
    assert controller.tick()
    assert aws.tags == {}


def test_resume_without_a_record_sets_one(pool: Any) -> None:
    aws = FakeAws(clusters=[], desired=0)

    assert Controller(CONFIG, aws, pool).tick()

    assert aws.desired == 1
    assert len(aws.updates()) == 1


def test_dry_run_never_updates(pool: Any) -> None:
    aws = FakeAws(clusters=["backup-1"], desired=2)
    config = replace(CONFIG, dry_run=True)

    assert Controller(config, aws, pool).tick()

    assert aws.updates() == []


def test_emr_failure_fails_the_tick_and_changes_nothing(
    pool: Any, caplog: pytest.LogCaptureFixture
) -> None:
    aws = FakeAws(clusters=AwsError("aws emr", "AccessDeniedException", "no", False), desired=0)

    assert not Controller(CONFIG, aws, pool).tick()

    assert aws.updates() == []
    assert "EMR query failed" in caplog.text


def test_failed_update_fails_the_tick(pool: Any, caplog: pytest.LogCaptureFixture) -> None:
    aws = FakeAws(clusters=["backup-1"], desired=1)
    aws.update_error = AwsError("aws ecs update-service", "AccessDeniedException", "no", False)

    assert not Controller(CONFIG, aws, pool).tick()

    assert "pause: desired 1 -> 0 FAILED" in caplog.text
    assert list(aws.tags.values()) == ["1"], "the record stays, so a later resume can restore"


@pytest.mark.parametrize(("clusters", "status"), [([], 0), (AwsError("a", "X", "y", False), 1)])
def test_once_exit_status(pool: Any, clusters: Any, status: int) -> None:
    aws = FakeAws(clusters=clusters, desired=1)

    assert (
        until_stopped(Controller(CONFIG, aws, pool), interval=60, once=True, stop=threading.Event())
        == status
    )


def test_loop_ticks_until_stopped(pool: Any) -> None:
    aws = FakeAws(clusters=[], desired=1)
    stop = threading.Event()
    controller = Controller(CONFIG, aws, pool)
    ticks = 0
    original = controller.tick

    def counting_tick() -> bool:
        nonlocal ticks
        ticks += 1
        if ticks == 3:
            stop.set()
        return original()

    controller.tick = counting_tick  # type: ignore[method-assign]

    assert until_stopped(controller, interval=0.01, once=False, stop=stop) == 0
    assert ticks == 3


def test_interrupted_tick_exits_0(pool: Any) -> None:
    aws = FakeAws(clusters=Interrupted("aws emr list-clusters"), desired=0)

    assert (
        until_stopped(
            Controller(CONFIG, aws, pool), interval=60, once=False, stop=threading.Event()
        )
        == 0
    )
    assert aws.updates() == []
