"""A shutdown during a change lets the call in flight finish and starts no further step."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from controller.autoscalers.ecs import PAUSED_COUNT_TAG, Ecs
from controller.config import Config
from controller.loop import Controller, until_stopped
from controller.sources.emr import Emr

CONFIG = Config(
    emr_region="us-east-1",
    sources=(Emr("backup-", "us-east-1"),),
    autoscalers=(Ecs("c1", "us-east-1", "svc"),),
)


class Aws:
    """Answers the ECS and EMR calls from a few facts; a signal arrives during `signal_on`."""

    def __init__(self, stop: threading.Event, backup: bool, desired: int, tag: str | None):
        self.stop = stop
        self.backup = backup
        self.desired = desired
        self.tags = {} if tag is None else {PAUSED_COUNT_TAG: tag}
        self.signal_on = ""
        self.mutations: list[tuple[str, bool]] = []

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        operation = args[1]
        if operation == "list-clusters":
            cluster = {"Id": "j-1", "Name": "backup-1", "Status": {"State": "RUNNING"}}
            return {"Clusters": [cluster] if self.backup else []}
        if operation == "describe-services":
            return {"services": [self.service()]}
        self.mutations.append((operation, mutating))
        if operation == self.signal_on:
            self.stop.set()  # SIGTERM arrives while this call is in flight
        if operation == "update-service":
            self.desired = int(args[args.index("--desired-count") + 1])
        elif operation == "tag-resource":
            (tag,) = json.loads(args[args.index("--tags") + 1])
            self.tags[tag["key"]] = tag["value"]
        elif operation == "untag-resource":
            for key in args[args.index("--tag-keys") + 1 :]:
                self.tags.pop(key, None)
        return {"service": self.service()}

    def service(self) -> dict[str, Any]:
        return {
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c1/svc",
            "serviceName": "svc",
            "status": "ACTIVE",
            "desiredCount": self.desired,
            "runningCount": self.desired,
            "pendingCount": 0,
            "tags": [{"key": k, "value": v} for k, v in self.tags.items()],
        }


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(3) as executor:
        yield executor


def test_shutdown_during_the_record_step_of_a_pause(
    pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    aws = Aws(stop, backup=True, desired=3, tag=None)
    aws.signal_on = "tag-resource"
    caplog.set_level(logging.INFO)

    status = until_stopped(Controller(CONFIG, aws, pool, stop), interval=60, once=False, stop=stop)

    assert status == 0
    assert aws.mutations == [("tag-resource", True)], "no step starts after the signal"
    assert (aws.desired, list(aws.tags.values())) == (3, ["3"])
    assert "pause: desired 3 -> 0 stopped by shutdown after 1 of 2 steps" in caplog.text

    # The next start pauses again (under a record of its own), then resumes to the recorded
    # count, and removes both records once they have settled.
    stop.clear()
    aws.signal_on = ""
    now = [0.0]
    restarted = Controller(CONFIG, aws, pool, stop, clock=lambda: now[0])
    assert restarted.tick()
    assert (aws.desired, list(aws.tags.values())) == (0, ["3", "3"])
    aws.backup = False
    now[0] += CONFIG.record_settle
    assert restarted.tick()
    assert (aws.desired, list(aws.tags.values())) == (3, ["3"]), "its own record, seen just now"
    now[0] += CONFIG.record_settle
    assert restarted.tick()
    assert (aws.desired, aws.tags) == (3, {})


def test_shutdown_during_the_scale_up_of_a_resume(
    pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    stop = threading.Event()
    aws = Aws(stop, backup=False, desired=0, tag="2")
    aws.signal_on = "update-service"

    status = until_stopped(Controller(CONFIG, aws, pool, stop), interval=60, once=True, stop=stop)

    assert status == 0
    assert aws.mutations == [("update-service", True)]
    assert (aws.desired, aws.tags) == (2, {PAUSED_COUNT_TAG: "2"})

    stop.clear()
    now = [0.0]
    restarted = Controller(CONFIG, aws, pool, stop, clock=lambda: now[0])
    assert restarted.tick()
    assert (aws.desired, aws.tags) == (2, {PAUSED_COUNT_TAG: "2"}), "seen for the first time"
    now[0] += CONFIG.record_settle
    assert restarted.tick()
    assert (aws.desired, aws.tags) == (2, {})
