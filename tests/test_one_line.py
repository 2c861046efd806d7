"""One record, one line: whatever AWS answers, a text log record stays one line.

Names, ids, states, tags and error messages come from AWS, and anyone allowed to name a
cluster or tag a service chooses them. A real tick (the controller's own code, a stand-in
runner answering with arbitrary text) logs its tick line, its ERROR lines (a failed query, a
failed change, a stuck backup, an untrusted record, a record that could not be written) and
its WARNINGs through the handler `logs.setup` installs; every record must come out as exactly
one line, in text and in JSON, with the values escaped the same way everywhere.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import tenacity
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.autoscalers import ecs
from controller.autoscalers.dynamodb import Dynamodb
from controller.autoscalers.ecs import Ecs
from controller.aws import AwsError, retrying
from controller.config import Config
from controller.loop import Controller
from controller.runtime import logs
from controller.runtime.logs import one_line
from controller.sources.emr import Emr
from tests.conftest import Stack

FORGED = "7\n2026-01-01T00:00:00.000Z INFO    FORGED resume done"
# Every character str.splitlines() ends a line at, and other unprintable ones.
NASTY = [FORGED, "\n", "\r", "\r\n", "\v", "\f", "\x1c", "\x85", "\u2028", "\u2029", "\x1b[2K"]
aws_text = st.one_of(
    st.text(),
    st.sampled_from(NASTY),
    st.tuples(st.text(max_size=5), st.sampled_from(NASTY), st.text(max_size=5)).map("".join),
)
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|NOTICE|WARNING|ERROR) ")
OPERATIONS = [
    "emr list-clusters",
    "ecs describe-services",
    "ecs update-service",
    "ecs tag-resource",
    "application-autoscaling describe-scalable-targets",
    "application-autoscaling register-scalable-target",
    "resourcegroupstaggingapi tag-resources",
    "resourcegroupstaggingapi untag-resources",
]
CONFIG = Config(
    emr_region="us-east-1",
    sources=(Emr("backup-", "us-east-1"),),
    autoscalers=(Ecs("tools", "us-east-1", "autoscaler"), Dynamodb("orders-", "us-east-1")),
    max_backup_age=3600,
)


@dataclass(frozen=True)
class Answers:
    """What the stand-in AWS answers: arbitrary text wherever AWS puts text."""

    cluster_name: str
    cluster_id: str
    state: str
    service_status: str
    desired: int
    tag: str
    table: str
    dimension: str
    error_code: str
    error_message: str
    failing: frozenset[str]

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        operation = " ".join(args[:2])
        if operation in self.failing:
            raise AwsError(" ".join(["aws", *args]), self.error_code, self.error_message, False)
        service = {
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/tools/autoscaler",
            "serviceName": "autoscaler",
            "status": self.service_status,
            "desiredCount": self.desired,
            "runningCount": self.desired,
            "pendingCount": 0,
            "tags": [{"key": ecs.PAUSED_COUNT_TAG, "value": self.tag}],
        }
        answers: dict[str, Any] = {
            "emr list-clusters": {
                "Clusters": [
                    {"Id": self.cluster_id, "Name": f"backup-{self.cluster_name}", "Status": s}
                    for s in (
                        {"State": self.state, "Timeline": {"CreationDateTime": 4e9}},
                        # Long before: older than MAX_BACKUP_AGE, a stuck backup.
                        {"State": self.state, "Timeline": {"CreationDateTime": 1e9}},
                    )
                ]
            },
            "ecs describe-services": {"services": [service], "failures": []},
            "ecs update-service": {"service": service},
            "application-autoscaling describe-scalable-targets": {
                "ScalableTargets": [
                    {
                        "ResourceId": f"table/orders-{self.table}",
                        "ScalableDimension": self.dimension,
                        "ScalableTargetARN": "arn:aws:application-autoscaling:us-east-1:1:x/y",
                        "SuspendedState": {"DynamicScalingInSuspended": self.desired == 0},
                    }
                ]
            },
            "resourcegroupstaggingapi get-resources": {"ResourceTagMappingList": []},
        }
        return dict(answers.get(operation, {}))


answers = st.builds(
    Answers,
    cluster_name=aws_text,
    cluster_id=aws_text,
    state=st.sampled_from(["RUNNING", "WAITING"]),
    service_status=st.one_of(st.just("ACTIVE"), aws_text),
    desired=st.sampled_from([0, 2]),
    tag=aws_text,
    table=aws_text.filter(lambda t: "/" not in t),
    dimension=aws_text,
    error_code=aws_text,
    error_message=aws_text,
    failing=st.frozensets(st.sampled_from(OPERATIONS)),
)


class Counted(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.records = 0

    def filter(self, record: logging.LogRecord) -> bool:
        self.records += 1
        return True


@contextmanager
def logged(json_lines: bool) -> Iterator[tuple[io.StringIO, Counted]]:
    """The controller's own handler, as `logs.setup` installs it, writing to a buffer."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level, logging.getLogger("controller").level
    logs.setup(debug=False, env={}, json_lines=json_lines)
    (handler,) = root.handlers
    buffer, counted = io.StringIO(), Counted()
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    handler.addFilter(counted)
    try:
        yield buffer, counted
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        logging.getLogger("controller").setLevel(saved[2])


def everything_logged(aws: Answers) -> None:
    """A tick, a retried call and a kept record: every kind of line that prints AWS's text."""
    with ThreadPoolExecutor(4) as pool:
        Controller(CONFIG, aws, pool).tick()
    error = AwsError("aws emr list-clusters", aws.error_code, aws.error_message, True)

    def throttled() -> None:
        raise error

    with pytest.raises(AwsError):
        retrying(
            throttled, attempts=2, stop=threading.Event(), describe="x", wait=tenacity.wait_none()
        )


@settings(max_examples=150, deadline=None)
@given(aws=answers)
def test_every_text_record_is_one_line_whatever_aws_answers(aws: Answers) -> None:
    with logged(json_lines=False) as (buffer, counted):
        everything_logged(aws)

    text = buffer.getvalue()
    lines = text.splitlines()
    assert len(lines) == counted.records, text
    assert all(TEXT_LINE.match(line) for line in lines), text
    # Shown the same way wherever it appears: the service's part of the tick line.
    if "ecs describe-services" not in aws.failing:
        assert f"paused-count-tag={one_line(aws.tag)}" in text


@settings(max_examples=50, deadline=None)
@given(aws=answers)
def test_every_json_record_is_one_json_object_on_one_line(aws: Answers) -> None:
    with logged(json_lines=True) as (buffer, counted):
        everything_logged(aws)

    lines = buffer.getvalue().splitlines()
    assert len(lines) == counted.records
    parsed = [json.loads(line) for line in lines]
    (tick,) = [line for line in parsed if "action" in line]
    if "ecs describe-services" in aws.failing:
        return
    # The fields keep AWS's values exactly; the message reads as the text line does.
    assert tick["service"]["paused_count_tag"] == aws.tag
    assert f"paused-count-tag={one_line(aws.tag)}" in tick["message"]


def test_a_forged_line_in_a_tag_stays_inside_the_tick_line() -> None:
    aws = Answers("x", "j-1", "RUNNING", "ACTIVE", 0, FORGED, "t", "d", "", "", frozenset())

    with logged(json_lines=False) as (buffer, counted), ThreadPoolExecutor(4) as pool:
        Controller(CONFIG, aws, pool).tick()

    lines = buffer.getvalue().splitlines()
    assert len(lines) == counted.records
    assert not [line for line in lines if line.startswith("2026-01-01T00:00:00.000Z")]
    (tick,) = [line for line in lines if "FORGED" in line and "| action:" in line]
    assert "paused-count-tag=7\\n2026-01-01T00:00:00.000Z INFO    FORGED resume done" in tick


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain name-1", "plain name-1"),
        ("a\nb", "a\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("line\u2028separator", "line\\u2028separator"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("naïve ☃ 名前", "naïve ☃ 名前"),  # printable, however far from ASCII
        ("back\\slash", "back\\slash"),
    ],
)
def test_one_line_escapes_what_is_not_printable_as_python_writes_it(raw: str, shown: str) -> None:
    assert one_line(raw) == shown


def test_a_traceback_is_one_line_too() -> None:
    with logged(json_lines=False) as (buffer, counted):
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logging.getLogger("controller.loop").exception("tick failed: unexpected error")

    (line,) = buffer.getvalue().splitlines()
    assert counted.records == 1
    assert "tick failed: unexpected error\\nTraceback (most recent call last):\\n" in line
    assert "ValueError: bad\\nvalue" in line


def test_a_forged_tag_on_a_real_service_forges_no_line(stack: Stack) -> None:
    # The whole way: the tag set through ECS's API, read by the real CLI, logged by the
    # controller as it runs. (Real ECS may refuse a newline in a tag value; error messages
    # and other fields have no such rule, and the log must not depend on one.)
    arn = stack.service(desired=0)
    stack.world.ecs.tag_resource(
        resourceArn=arn, tags=[{"key": ecs.PAUSED_COUNT_TAG, "value": FORGED}]
    )

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), result.stderr
    assert not [line for line in lines if line.startswith("2026-01-01T00:00:00.000Z")]
    (tick,) = [line for line in lines if "| action:" in line]
    assert "paused-count-tag=7\\n2026-01-01T00:00:00.000Z INFO    FORGED resume done" in tick
    assert "resume: desired 0 -> 1" in tick, "an unusable record: RESUME_COUNT"
