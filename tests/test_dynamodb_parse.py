"""Parsing what the CLI prints about scalable targets, table tags and service tags, and what
the batched tag and untag calls say about each table."""

from __future__ import annotations

from typing import Any

import pytest

from controller.autoscalers.dynamodb import (
    ALL,
    RECORD_PREFIX,
    Target,
    parse_refusals,
    parse_targets,
    record_of,
    split_key,
)
from controller.autoscalers.ecs import PAUSED_COUNT_TAG, parse_service
from controller.aws import UnexpectedOutput

TARGET_ARN = "arn:aws-cn:application-autoscaling:cn-north-1:210987654321:scalable-target/0abc"


def item(resource: str, dimension: str, state: dict[str, bool] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "ServiceNamespace": "dynamodb",
        "ResourceId": resource,
        "ScalableDimension": dimension,
        "MinCapacity": 5,
        "MaxCapacity": 50,
        "ScalableTargetARN": TARGET_ARN,
    }
    if state is not None:
        doc["SuspendedState"] = state
    return doc


def test_targets_of_matching_tables_and_their_indexes() -> None:
    doc = {
        "ScalableTargets": [
            item("table/orders", "dynamodb:table:ReadCapacityUnits"),  # moto: no SuspendedState
            item(
                "table/orders/index/by-date",
                "dynamodb:index:WriteCapacityUnits",
                {
                    "DynamicScalingInSuspended": False,
                    "DynamicScalingOutSuspended": False,
                    "ScheduledScalingSuspended": True,
                },
            ),
            item("table/customers", "dynamodb:table:ReadCapacityUnits"),
            item("table/ORDERS", "dynamodb:table:ReadCapacityUnits"),  # case differs
            item("table/old-orders", "dynamodb:table:ReadCapacityUnits"),
        ]
    }

    found = parse_targets(doc, "orders", "aws application-autoscaling")

    assert found == (
        Target(
            "table/orders",
            "dynamodb:table:ReadCapacityUnits",
            frozenset(),
            "arn:aws-cn:dynamodb:cn-north-1:210987654321:table/orders",
        ),
        Target(
            "table/orders/index/by-date",
            "dynamodb:index:WriteCapacityUnits",
            frozenset({"ScheduledScalingSuspended"}),
            "arn:aws-cn:dynamodb:cn-north-1:210987654321:table/orders",
        ),
    )
    assert [t.table for t in found] == ["orders", "orders"]


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"ScalableTargets": [{"ResourceId": "table/orders"}]},
        {"ScalableTargets": [{**item("table/orders", "d"), "ScalableTargetARN": "nope"}]},
    ],
)
def test_malformed_targets_are_unexpected_output(doc: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedOutput):
        parse_targets(doc, "orders", "aws application-autoscaling")


def test_record_keys_fit_dynamodb_tag_keys() -> None:
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t"

    def key(resource: str, dimension: str) -> str:
        return Target(resource, dimension, frozenset(), arn).record_key("0123abcd4567")

    assert (
        key("table/t", "dynamodb:table:ReadCapacityUnits")
        == f"{RECORD_PREFIX}0123abcd4567:table:read"
    )
    assert (
        key("table/t/index/by-date", "dynamodb:index:WriteCapacityUnits")
        == f"{RECORD_PREFIX}0123abcd4567:index/by-date:write"
    )
    # Around the lengths where a key no longer fits, with and without a pause id.
    names = ["a" * 255, "a" * 254 + "b", *("c" * n for n in range(70, 95))]
    targets = [
        Target(f"table/t/index/{name}", f"dynamodb:index:{io}CapacityUnits", frozenset(), arn)
        for name in names
        for io in ("Read", "Write")
    ]
    keys = {t.record_key("0123abcd4567") for t in targets}
    legacy = {t.legacy_key for t in targets}
    assert len(keys) == len(legacy) == len(targets), "distinct targets keep distinct keys"
    assert all(len(k) <= 128 for k in keys | legacy)
    for target in targets:
        assert target.named_by(target.record_key("0123abcd4567"))
        assert target.named_by(target.legacy_key)
        assert not any(target.named_by(other.legacy_key) for other in targets if other != target)


def test_a_record_key_names_its_pause_and_target() -> None:
    assert split_key(f"{RECORD_PREFIX}0123abcd4567:table:read") == ("0123abcd4567", "table:read")
    assert split_key(f"{RECORD_PREFIX}table:read") == (None, "table:read")
    # An index named like a pause id is still an index of a version 1.0 key.
    assert split_key(f"{RECORD_PREFIX}index/0123abcd4567:read") == (None, "index/0123abcd4567:read")


def test_record_keeps_only_the_controllers_tags_and_known_flags() -> None:
    doc = {
        "Tags": [
            {"Key": "team", "Value": "data"},
            {"Key": f"{RECORD_PREFIX}table:read", "Value": " ".join(sorted(ALL))},
            {"Key": f"{RECORD_PREFIX}table:write", "Value": "DynamicScalingInSuspended junk"},
        ]
    }

    assert record_of(doc["Tags"], "aws dynamodb list-tags-of-resource") == {
        f"{RECORD_PREFIX}table:read": ALL,
        f"{RECORD_PREFIX}table:write": frozenset({"DynamicScalingInSuspended"}),
    }


def test_service_tag_is_read_from_describe_services() -> None:
    doc = {
        "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c/svc",
        "serviceName": "svc",
        "status": "ACTIVE",
        "desiredCount": 0,
        "runningCount": 0,
        "pendingCount": 0,
        "tags": [{"key": "team", "value": "data"}, {"key": PAUSED_COUNT_TAG, "value": "3"}],
    }

    assert parse_service(doc).paused_tag == "3"
    assert parse_service(doc).records == {PAUSED_COUNT_TAG: "3"}
    assert parse_service({**doc, "tags": []}).paused_tag is None
    assert parse_service({k: v for k, v in doc.items() if k != "tags"}).paused_tag is None
    assert str(parse_service(doc)).endswith("status=ACTIVE paused-count-tag=3")


TABLES = [f"arn:aws:dynamodb:us-east-1:123456789012:table/orders-{n}" for n in range(3)]


def refusal(code: str, status: int, message: str = "why") -> dict[str, Any]:
    return {"StatusCode": status, "ErrorCode": code, "ErrorMessage": message}


def test_refusals_are_the_tables_of_the_call_with_their_reasons() -> None:
    doc = {
        "FailedResourcesMap": {
            TABLES[1]: refusal("AccessDeniedException", 403, "not\n authorized"),
            "arn:aws:dynamodb:us-east-1:123456789012:table/someone-elses": refusal("X", 400),
        }
    }

    (only,) = parse_refusals(doc, TABLES, "aws resourcegroupstaggingapi tag-resources").values()

    assert str(only) == (
        f"`aws resourcegroupstaggingapi tag-resources --resource-arn-list {TABLES[1]}` failed: "
        "AccessDeniedException: not authorized"
    )
    assert not only.retryable


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("ThrottlingException", 400, True),
        ("InternalServiceException", 404, True),  # AWS: safe to retry
        ("LimitExceededException", 400, True),  # DynamoDB's five tag calls a second
        ("SomethingNew", 503, True),
        ("SomethingNew", 429, True),
        ("AccessDeniedException", 403, False),
        ("ResourceNotFoundException", 400, False),
        ("InvalidParameterException", 400, False),
    ],
)
def test_a_refusal_that_time_may_clear_is_retryable(
    code: str, status: int, retryable: bool
) -> None:
    doc = {"FailedResourcesMap": {TABLES[0]: refusal(code, status)}}

    assert parse_refusals(doc, TABLES, "aws x")[TABLES[0]].retryable is retryable


@pytest.mark.parametrize("answer", [{}, {"FailedResourcesMap": None}, {"FailedResourcesMap": {}}])
def test_no_map_or_an_empty_one_is_no_refusal(answer: dict[str, Any]) -> None:
    assert parse_refusals(answer, TABLES, "aws x") == {}


def test_a_map_that_is_not_an_object_is_unexpected_output() -> None:
    with pytest.raises(UnexpectedOutput, match="FailedResourcesMap is a JSON array"):
        parse_refusals({"FailedResourcesMap": [TABLES[0]]}, TABLES, "aws x")


def test_an_entry_without_a_readable_reason_is_still_a_refusal() -> None:
    doc = {"FailedResourcesMap": {TABLES[2]: "garbage"}}

    refused = parse_refusals(doc, TABLES, "aws x")[TABLES[2]]

    assert (refused.code, refused.message) == ("UnknownError", "(no message)")
