"""The CLI's JSON into dataclasses: both CLI versions' timestamps, and malformed output."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from controller.autoscalers import ecs
from controller.aws import AwsError, UnexpectedOutput
from controller.sources import emr
from controller.sources.backup import Backup, timestamp

V1_CLUSTERS = {  # aws-cli 1.x prints epoch seconds
    "Clusters": [
        {
            "Id": "j-2AXXXXXXGAPLF",
            "Name": "dynamodb-backup-2026-11-23",
            "Status": {
                "State": "RUNNING",
                "StateChangeReason": {},
                "Timeline": {"CreationDateTime": 1795451753.653},
            },
            "NormalizedInstanceHours": 8,
        }
    ]
}
V2_CLUSTERS = {  # aws-cli 2.x prints ISO 8601 strings
    "Clusters": [
        {
            "Id": "j-2AXXXXXXGAPLF",
            "Name": "dynamodb-backup-2026-11-23",
            "Status": {
                "State": "RUNNING",
                "Timeline": {"CreationDateTime": "2026-11-23T16:35:53.653000+00:00"},
            },
        }
    ]
}
CREATED = datetime(2026, 11, 23, 16, 35, 53, 653000, tzinfo=timezone.utc)


@pytest.mark.parametrize("doc", [V1_CLUSTERS, V2_CLUSTERS], ids=["cli-v1", "cli-v2"])
def test_clusters_parse_the_same_from_both_cli_versions(doc: dict[str, Any]) -> None:
    (cluster,) = emr.parse_clusters(doc)

    assert cluster == Backup(
        "EMR cluster", "j-2AXXXXXXGAPLF", "dynamodb-backup-2026-11-23", "RUNNING", CREATED
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, datetime(1970, 1, 1, tzinfo=timezone.utc)),
        ("2026-11-23T16:35:53Z", CREATED.replace(microsecond=0)),
        ("2026-11-23T17:35:53.653+01:00", CREATED),
        ("2026-11-23T16:35:53.653", CREATED),  # no zone: the CLI means UTC
        (None, None),
        # Unreadable or out of range: an unknown time, never an error.
        ("yesterday", None),
        (True, None),
        (10**30, None),
        (-(10**15), None),
        (float("inf"), None),
        ("0001-01-01T00:00:00+05:00", None),
        ({"at": 0}, None),
    ],
)
def test_timestamps(value: Any, expected: datetime | None) -> None:
    assert timestamp(value) == expected


def test_no_clusters() -> None:
    assert emr.parse_clusters({"Clusters": []}) == ()


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"Clusters": None},
        {"Clusters": [{"Id": "j-1"}]},
        {"Clusters": [{"Id": "j-1", "Name": "x", "Status": "RUNNING"}]},
        {"Clusters": [{"Id": "j-1", "Name": None, "Status": {"State": "RUNNING"}}]},
        {"Clusters": ["j-1"]},
    ],
)
def test_malformed_cluster_output_is_an_error_not_a_guess(doc: dict[str, Any]) -> None:
    with pytest.raises(UnexpectedOutput):
        emr.parse_clusters(doc)


@pytest.mark.parametrize(
    ("prefix", "names", "expected"),
    [
        ("backup-", ["backup-1", "nightly-backup-1", "Backup-2", "backup"], ["backup-1"]),
        ("backup-*", ["backup-1", "backup-*x"], ["backup-*x"]),
        ("b.ckup", ["backup", "b.ckup-1"], ["b.ckup-1"]),
        ("[ab]", ["a", "[ab]c"], ["[ab]c"]),
    ],
)
def test_matching_is_a_literal_case_sensitive_prefix(
    prefix: str, names: list[str], expected: list[str]
) -> None:
    doc = {
        "Clusters": [
            {"Id": f"j-{i}", "Name": name, "Status": {"State": "WAITING"}}
            for i, name in enumerate(names)
        ]
    }

    assert [c.name for c in emr.parse_clusters(doc, prefix)] == expected


SERVICE_DOC = {
    "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/c1/svc",
    "serviceName": "svc",
    "status": "ACTIVE",
    "desiredCount": 1,
    "runningCount": 0,
    "pendingCount": 1,
}


def fake_runner(doc: dict[str, Any]) -> Any:
    def run(args: Any, *, mutating: bool = False) -> dict[str, Any]:
        return doc

    return run


def test_service_parses() -> None:
    run = fake_runner({"services": [SERVICE_DOC], "failures": []})

    got = ecs.describe(run, "c1", "svc", "us-east-1")

    assert got == ecs.Service(SERVICE_DOC["serviceArn"], "svc", "ACTIVE", 1, 0, 1)


def test_missing_service_names_cluster_service_and_reason() -> None:
    run = fake_runner(
        {"services": [], "failures": [{"arn": "arn:...:service/svc", "reason": "MISSING"}]}
    )

    with pytest.raises(AwsError) as raised:
        ecs.describe(run, "c1", "svc", "us-east-1")

    assert "service 'svc' on cluster 'c1': MISSING" in str(raised.value)
    assert not raised.value.retryable


@pytest.mark.parametrize(
    "change",
    [{"desiredCount": "1"}, {"desiredCount": -1}, {"runningCount": None}, {"status": None}],
)
def test_malformed_service_output_is_an_error(change: dict[str, Any]) -> None:
    doc = {**SERVICE_DOC, **change}
    if doc["status"] is None:
        del doc["status"]

    with pytest.raises(UnexpectedOutput):
        ecs.parse_service(doc)
