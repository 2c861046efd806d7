"""Every parser of CLI output this module family owns is total: any JSON in, a value or
UnexpectedOutput out, never another exception.

Covers the ECS service (describe-services, update-service), the Application Auto Scaling
targets, the table tags (read one table at a time or in batches, and the answers of the
batched tag and untag calls), and the runner's own JSON decoding (deep nesting, huge
numbers).
The EMR and other bulk-reader sources have their own property tests next to their parsers.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.autoscalers import dynamodb, ecs
from controller.aws import AwsCli, UnexpectedOutput
from tests.support.json_strategies import any_json, deeply_nested, mutations

SERVICE = {
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/autoscaling/svc",
    "serviceName": "svc",
    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/autoscaling",
    "status": "ACTIVE",
    "desiredCount": 0,
    "runningCount": 0,
    "pendingCount": 0,
    "launchType": "EC2",
    "deployments": [{"id": "ecs-svc/1", "status": "PRIMARY", "desiredCount": 0}],
    "tags": [
        {"key": "team", "value": "data"},
        {"key": ecs.PAUSED_COUNT_TAG, "value": "3"},
    ],
}
DESCRIBE_SERVICES = {"services": [SERVICE], "failures": []}
MISSING_SERVICE = {
    "services": [],
    "failures": [{"arn": SERVICE["serviceArn"], "reason": "MISSING"}],
}
UPDATE_SERVICE = {"service": SERVICE}
TARGET_ARN = "arn:aws:application-autoscaling:us-east-1:123456789012:scalable-target/0abc"
SCALABLE_TARGETS = {
    "ScalableTargets": [
        {
            "ServiceNamespace": "dynamodb",
            "ResourceId": "table/orders",
            "ScalableDimension": "dynamodb:table:ReadCapacityUnits",
            "MinCapacity": 5,
            "MaxCapacity": 50,
            "RoleARN": "arn:aws:iam::123456789012:role/aas",
            "CreationTime": 1732370000.123,
            "SuspendedState": {
                "DynamicScalingInSuspended": True,
                "DynamicScalingOutSuspended": True,
                "ScheduledScalingSuspended": False,
            },
            "ScalableTargetARN": TARGET_ARN,
        },
        {
            "ServiceNamespace": "dynamodb",
            "ResourceId": "table/orders/index/by-date",
            "ScalableDimension": "dynamodb:index:WriteCapacityUnits",
            "MinCapacity": 5,
            "MaxCapacity": 50,
            "ScalableTargetARN": TARGET_ARN,
        },
    ]
}
TABLE_TAGS = {
    "Tags": [
        {"Key": "team", "Value": "data"},
        {"Key": f"{dynamodb.RECORD_PREFIX}table:read", "Value": "DynamicScalingInSuspended"},
    ]
}

TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
OTHER_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders-eu"
# tag-resources and untag-resources as moto answers when it refuses a resource (its FailureInfo
# has AWS's fields), and get-resources of two tables, one with a record.
TAGGING_REFUSED = {
    "FailedResourcesMap": {
        TABLE_ARN: {
            "StatusCode": 404,
            "ErrorCode": "InternalServiceException",
            "ErrorMessage": "Service not yet supported",
        }
    }
}
GET_RESOURCES = {
    "ResourceTagMappingList": [
        {"ResourceARN": TABLE_ARN, "Tags": TABLE_TAGS["Tags"]},
        {"ResourceARN": OTHER_ARN, "Tags": [{"Key": "team", "Value": "data"}]},
    ]
}

json_objects = st.dictionaries(st.text(max_size=12), any_json, max_size=4)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def total(parse: Callable[[], object]) -> None:
    """Calls `parse`; the only exception it may raise is UnexpectedOutput."""
    try:
        parse()
    except UnexpectedOutput as error:
        str(error)  # the message itself must be printable for the log line


class Answer:
    """A runner that prints `doc` for every call, as the CLI would after json.loads."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc

    def __call__(self, args: Sequence[str], *, mutating: bool = False) -> dict[str, Any]:
        assert isinstance(self.doc, dict), "the runner only ever returns a JSON object"
        return self.doc


def describe_service(doc: Any) -> None:
    # ServiceMissing is an AwsError that says what it is: a parse outcome too.
    with contextlib.suppress(ecs.ServiceMissing):
        ecs.describe(Answer(doc), "autoscaling", "svc", "us-east-1")


def update_service(doc: Any) -> None:
    ecs.set_desired_count(Answer(doc), "autoscaling", "svc", "us-east-1", 2)


def scalable_targets(doc: Any) -> None:
    dynamodb.describe(Answer(doc), "orders", "us-east-1")


def table_tags(doc: Any) -> None:
    # A table's tag list, as get-resources and list-tags-of-resource both print it.
    dynamodb.record_of(Answer(doc)([]).get("Tags"), "aws dynamodb list-tags-of-resource")


def tag_tables(doc: Any) -> None:
    record = {f"{dynamodb.RECORD_PREFIX}6930c2a14f0e:table:read": dynamodb.ALL}
    dynamodb.tag_tables(Answer(doc), "us-east-1", [TABLE_ARN, OTHER_ARN], record)


def untag_tables(doc: Any) -> None:
    dynamodb.untag_tables(Answer(doc), "us-east-1", [TABLE_ARN, OTHER_ARN], ["k"])


def get_resources(doc: Any) -> None:
    dynamodb.read_records(Answer(doc), "us-east-1", [TABLE_ARN, OTHER_ARN])


PARSERS = {
    "describe-services": (describe_service, DESCRIBE_SERVICES),
    "describe-services, missing": (describe_service, MISSING_SERVICE),
    "update-service": (update_service, UPDATE_SERVICE),
    "describe-scalable-targets": (scalable_targets, SCALABLE_TARGETS),
    "list-tags-of-resource": (table_tags, TABLE_TAGS),
    "tag-resources": (tag_tables, TAGGING_REFUSED),
    "untag-resources": (untag_tables, TAGGING_REFUSED),
    "tag-resources, none refused": (tag_tables, {"FailedResourcesMap": {}}),
    "get-resources": (get_resources, GET_RESOURCES),
}


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_real_answers_parse(name: str) -> None:
    parse, real = PARSERS[name]
    if name == "describe-services, missing":
        with pytest.raises(ecs.ServiceMissing, match="MISSING"):
            ecs.describe(Answer(real), "autoscaling", "svc", "us-east-1")
    else:
        parse(real)  # the recorded answer itself is read without complaint


@pytest.mark.parametrize("name", sorted(PARSERS))
@PROPERTY
@given(data=st.data())
def test_any_json_object_is_a_value_or_unexpected_output(name: str, data: st.DataObject) -> None:
    parse, _ = PARSERS[name]
    doc = data.draw(json_objects)
    total(lambda: parse(doc))


@pytest.mark.parametrize("name", sorted(PARSERS))
@PROPERTY
@given(data=st.data())
def test_any_mutation_of_a_real_answer_is_a_value_or_unexpected_output(
    name: str, data: st.DataObject
) -> None:
    parse, real = PARSERS[name]
    doc = data.draw(mutations(real))
    if isinstance(doc, dict):
        total(lambda: parse(doc))


@PROPERTY
@given(entry=any_json)
def test_any_service_entry_is_a_service_or_unexpected_output(entry: Any) -> None:
    total(lambda: ecs.parse_service(entry))
    total(lambda: describe_service({"services": [entry]}))
    total(lambda: update_service({"service": entry}))


@PROPERTY
@given(tags=any_json, value=any_json)
def test_any_tags_are_a_record_or_unexpected_output(tags: Any, value: Any) -> None:
    total(lambda: ecs.parse_service({**SERVICE, "tags": tags}))
    total(
        lambda: ecs.parse_service(
            {**SERVICE, "tags": [{"key": ecs.PAUSED_COUNT_TAG, "value": value}]}
        )
    )
    total(lambda: table_tags({"Tags": tags}))
    total(lambda: table_tags({"Tags": [{"Key": f"{dynamodb.RECORD_PREFIX}x", "Value": value}]}))


@PROPERTY
@given(entry=any_json, state=any_json)
def test_any_scalable_target_is_a_target_or_unexpected_output(entry: Any, state: Any) -> None:
    real = SCALABLE_TARGETS["ScalableTargets"][0]
    total(lambda: scalable_targets({"ScalableTargets": [entry]}))
    total(lambda: scalable_targets({"ScalableTargets": [{**real, "SuspendedState": state}]}))


@PROPERTY
@given(info=any_json, other=any_json)
def test_any_failure_entry_of_a_table_is_its_refusal_never_its_success(
    info: Any, other: Any
) -> None:
    doc = {"FailedResourcesMap": {TABLE_ARN: info, "arn:aws:ecs:us-east-1:1:service/c/s": other}}

    refused = dynamodb.parse_refusals(doc, [TABLE_ARN, OTHER_ARN], "aws tag-resources")

    assert list(refused) == [TABLE_ARN], "refused whatever the entry holds; others skipped"
    str(refused[TABLE_ARN])  # printable for the log line


# --- what the ECS parser refuses, and what it still reads ------------------------------------


@pytest.mark.parametrize(
    "tags",
    [
        {"key": ecs.PAUSED_COUNT_TAG, "value": "3"},  # an object, not a list
        "dynamodb-autoscaler-control:paused-desired-count=3",
        [None],
        [{"key": ecs.PAUSED_COUNT_TAG, "value": 3}],  # a number, not the text ECS prints
        [{"value": "3"}],
    ],
)
def test_a_tag_list_that_could_hide_the_record_is_unexpected_output(tags: Any) -> None:
    with pytest.raises(UnexpectedOutput, match="malformed"):
        ecs.parse_service({**SERVICE, "tags": tags})


def test_no_tags_at_all_is_no_record() -> None:
    untagged = {k: v for k, v in SERVICE.items() if k != "tags"}

    assert ecs.parse_service(untagged).paused_tag is None
    assert ecs.parse_service({**untagged, "tags": None}).paused_tag is None
    assert ecs.parse_service({**untagged, "tags": []}).paused_tag is None


def test_an_odd_tag_value_is_read_as_text_for_the_rule_to_judge() -> None:
    tags = [{"key": ecs.PAUSED_COUNT_TAG, "value": "\u00b2"}]  # str.isdigit() says yes

    assert ecs.parse_service({**SERVICE, "tags": tags}).paused_tag == "\u00b2"


def test_an_unrelated_malformed_scalable_target_is_skipped() -> None:
    other = {"ResourceId": "table/customers", "SuspendedState": "garbage"}
    doc = {"ScalableTargets": [*SCALABLE_TARGETS["ScalableTargets"], other]}

    found = dynamodb.parse_targets(doc, "orders", "aws application-autoscaling")

    assert [t.resource_id for t in found] == ["table/orders", "table/orders/index/by-date"]


def test_a_suspended_flag_that_is_not_a_boolean_is_unexpected_output() -> None:
    real = SCALABLE_TARGETS["ScalableTargets"][0]
    state = {"DynamicScalingInSuspended": "true"}

    with pytest.raises(UnexpectedOutput, match="DynamicScalingInSuspended"):
        dynamodb.parse_targets({"ScalableTargets": [{**real, "SuspendedState": state}]}, "o", "c")


# --- the runner's own decoding, through a real child process ---------------------------------


def printer(tmp_path: Path, text: str) -> AwsCli:
    out = tmp_path / "out.json"
    out.write_text(text)
    script = tmp_path / "fake-aws"
    script.write_text(f"#!/bin/sh\ncat {out}\n")
    script.chmod(0o755)
    return AwsCli(
        str(script),
        env={"PATH": os.environ["PATH"]},
        timeout=10,
        attempts=1,
        stop=threading.Event(),
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (deeply_nested(), "nested too deeply"),
        ('{"Clusters": ' + deeply_nested(50_000) + "}", "nested too deeply"),
        ('{"desiredCount": ' + "9" * 10_000 + "}", "not JSON"),
        ("\ufeff{}", "not JSON"),
    ],
    ids=["deep array", "deep value", "huge integer", "byte order mark"],
)
def test_output_the_decoder_cannot_take_is_unexpected_output(
    tmp_path: Path, text: str, problem: str
) -> None:
    with pytest.raises(UnexpectedOutput, match=problem):
        printer(tmp_path, text)(["ecs", "describe-services"])


def test_nesting_the_decoder_takes_reaches_the_parsers_and_stays_total(tmp_path: Path) -> None:
    # Deep enough to be near the limit, shallow enough for json.loads: the parsers then get
    # a deep structure and must not repr it into a RecursionError.
    deep = json.dumps({"services": [{**SERVICE, "tags": json.loads(deeply_nested(900))}]})

    with pytest.raises(UnexpectedOutput, match="a tag is a JSON array"):
        ecs.describe(printer(tmp_path, deep), "autoscaling", "svc", "us-east-1")
