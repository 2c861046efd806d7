"""Every source's CLI output into Backups: recorded answers of both CLI versions, one odd entry
affecting only what it could affect, and totality (any JSON: a value or UnexpectedOutput).

EMR Serverless job runs cannot be held active in moto (it creates them finished), so its
active answers here are recorded CLI output: the shape moto prints, in the active states
AWS documents, as CLI v1 (epoch numbers) and v2 (ISO strings) print them.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.aws import UnexpectedOutput
from controller.sources import emr, emr_eks, emr_serverless, glue
from controller.sources.backup import Backup
from tests.support.json_strategies import any_json, mutations

STARTED = datetime(2026, 11, 25, 19, 8, 58, 919000, tzinfo=timezone.utc)
EPOCH = STARTED.timestamp()
ISO = "2026-11-25T19:08:58.919000+00:00"


def clusters(*entries: tuple[str, str, Any]) -> dict[str, Any]:
    return {
        "Clusters": [
            {
                "Id": f"j-{i}",
                "Name": name,
                "Status": {"State": state, "Timeline": {"CreationDateTime": created}},
                "NormalizedInstanceHours": 0,
            }
            for i, (name, state, created) in enumerate(entries)
        ]
    }


GLUE_JOBS = {"JobNames": ["backup-orders", "nightly-report", "backup-users"]}
GLUE_RUNS = {  # `aws glue get-job-runs` against moto, CLI v1; newest first
    "JobRuns": [
        {
            "Id": "jr_bb04b299ed72",
            "Attempt": 0,
            "JobName": "backup-orders",
            "StartedOn": EPOCH,
            "LastModifiedOn": EPOCH,
            "JobRunState": "RUNNING",
            "PredecessorRuns": [],
            "GlueVersion": "4.0",
        },
        {
            "Id": "jr_0a1b2c3d4e5f",
            "Attempt": 0,
            "JobName": "backup-orders",
            "StartedOn": EPOCH - 86400,
            "CompletedOn": EPOCH - 80000,
            "JobRunState": "SUCCEEDED",
        },
    ]
}
VIRTUAL_CLUSTERS = {  # `aws emr-containers list-virtual-clusters --states RUNNING`
    "virtualClusters": [
        {
            "id": "u43qkp5sjzlganvqknknfscde",
            "name": "vc1",
            "arn": "arn:aws:emr-containers:us-east-1:123456789012:/virtualclusters/u43qkp5sjz",
            "state": "RUNNING",
            "containerProvider": {"type": "EKS", "id": "eks1", "info": {"eksInfo": {}}},
            "createdAt": "2026-11-25T00:00:00Z",
        }
    ]
}
EKS_RUNS = {  # `aws emr-containers list-job-runs --states PENDING SUBMITTED RUNNING`
    "jobRuns": [
        {
            "id": "puigiec8lntz5e9v1me",
            "name": "backup-eks-1",
            "virtualClusterId": "u43qkp5sjzlganvqknknfscde",
            "state": "RUNNING",
            "releaseLabel": "emr-6.10.0-latest",
            "createdAt": ISO,
        },
        {  # a run started without a name: it cannot match any prefix
            "id": "xs06g9e2zt0vot2zdl5",
            "virtualClusterId": "u43qkp5sjzlganvqknknfscde",
            "state": "RUNNING",
            "createdAt": ISO,
        },
    ]
}
APPLICATIONS = {  # `aws emr-serverless list-applications --states STARTED`, CLI v1
    "applications": [
        {
            "id": "vamfq8ej2vcczzeq",
            "name": "app1",
            "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/vamfq8ej2vcczzeq",
            "releaseLabel": "emr-6.10.0",
            "type": "Spark",
            "state": "STARTED",
            "stateDetails": "",
            "createdAt": 1795564800,
            "updatedAt": 1795564800,
        }
    ]
}
SERVERLESS_RUNS = {  # `aws emr-serverless list-job-runs --states ...`, CLI v1
    "jobRuns": [
        {
            "applicationId": "vamfq8ej2vcczzeq",
            "id": "euzoskbui7w60y71",
            "name": "backup-sls-1",
            "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/vamfq8ej2vcczzeq"
            "/jobruns/euzoskbui7w60y71",
            "createdBy": "arn:aws:iam::123456789012:user/ops",
            "createdAt": EPOCH,
            "updatedAt": EPOCH,
            "executionRole": "arn:aws:iam::123456789012:role/r",
            "state": "RUNNING",
            "stateDetails": "",
            "releaseLabel": "emr-6.10.0",
            "type": "Spark",
        }
    ]
}


def as_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """The same answer as CLI v2 prints it: timestamps as ISO 8601 strings."""
    doc = copy.deepcopy(doc)
    for run in doc.get("jobRuns", []) + doc.get("JobRuns", []):
        for key in ("createdAt", "updatedAt", "StartedOn"):
            if isinstance(run.get(key), float):
                run[key] = datetime.fromtimestamp(run[key], timezone.utc).isoformat()
    return doc


@pytest.mark.parametrize("convert", [copy.deepcopy, as_v2], ids=["cli-v1", "cli-v2"])
def test_each_source_reads_its_recorded_answer(convert: Callable[[Any], Any]) -> None:
    assert glue.parse_runs(convert(GLUE_RUNS), "backup-orders") == (
        Backup("Glue job run", "jr_bb04b299ed72", "backup-orders", "RUNNING", STARTED),
    )
    assert emr_eks.parse_job_runs(convert(EKS_RUNS), "backup-") == (
        Backup("EMR on EKS job run", "puigiec8lntz5e9v1me", "backup-eks-1", "RUNNING", STARTED),
    )
    assert emr_serverless.parse_job_runs(convert(SERVERLESS_RUNS), "backup-") == (
        Backup("EMR Serverless job run", "euzoskbui7w60y71", "backup-sls-1", "RUNNING", STARTED),
    )


def test_listings_give_what_to_query_next() -> None:
    assert glue.parse_job_names(GLUE_JOBS, "backup-") == ["backup-orders", "backup-users"]
    assert emr_eks.parse_virtual_clusters(VIRTUAL_CLUSTERS) == ["u43qkp5sjzlganvqknknfscde"]
    assert emr_serverless.parse_applications(APPLICATIONS) == ["vamfq8ej2vcczzeq"]


@pytest.mark.parametrize("state", ["STARTING", "RUNNING", "STOPPING"])
def test_glue_runs_in_an_active_state_count(state: str) -> None:
    doc = {"JobRuns": [{"Id": "jr_1", "JobRunState": state, "StartedOn": EPOCH}]}

    (run,) = glue.parse_runs(doc, "backup-orders")

    assert (run.name, run.state) == ("backup-orders", state)


@pytest.mark.parametrize(
    "state", ["SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR", "WAITING", "EXPIRED"]
)
def test_finished_glue_runs_do_not_count(state: str) -> None:
    assert glue.parse_runs({"JobRuns": [{"Id": "jr_1", "JobRunState": state}]}, "b") == ()


@pytest.mark.parametrize(
    ("parse", "state"),
    [
        (emr_eks.parse_job_runs, "COMPLETED"),
        (emr_eks.parse_job_runs, "CANCELLED"),
        (emr_eks.parse_job_runs, "CANCEL_PENDING"),
        (emr_serverless.parse_job_runs, "SUCCESS"),
        (emr_serverless.parse_job_runs, "CANCELLING"),
        (emr_serverless.parse_job_runs, "FAILED"),
    ],
)
def test_finished_job_runs_do_not_count(parse: Any, state: str) -> None:
    # The CLI asks for the active states only; a server that ignored that must not matter.
    doc = {"jobRuns": [{"id": "r-1", "name": "backup-1", "state": state}]}

    assert parse(doc, "backup-") == ()


@pytest.mark.parametrize("state", ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED"])
def test_every_active_serverless_state_counts(state: str) -> None:
    doc = {"jobRuns": [{"id": "r-1", "name": "backup-1", "state": state}]}

    (run,) = emr_serverless.parse_job_runs(doc, "backup-")

    assert run == Backup("EMR Serverless job run", "r-1", "backup-1", state, None)


def test_only_running_virtual_clusters_and_started_applications_are_queried() -> None:
    states = ["RUNNING", "TERMINATING", "TERMINATED", "ARRESTED"]
    vcs = {"virtualClusters": [{"id": f"vc-{s}", "state": s} for s in states]}
    apps = {
        "applications": [
            {"id": f"app-{s}", "state": s} for s in ["CREATED", "STARTED", "STOPPED", "STARTING"]
        ]
    }

    assert emr_eks.parse_virtual_clusters(vcs) == ["vc-RUNNING"]
    assert emr_serverless.parse_applications(apps) == ["app-STARTED"]


# --- one odd entry affects only what it could affect ------------------------------------


def test_an_unreadable_entry_that_cannot_match_is_skipped() -> None:
    doc = clusters(("dynamodb-backup-1", "RUNNING", EPOCH), ("other", "RUNNING", EPOCH))
    odd = doc["Clusters"][1]
    odd["Id"] = None
    odd["Status"] = "broken"

    (cluster,) = emr.parse_clusters(doc, "dynamodb-backup-")

    assert cluster.name == "dynamodb-backup-1"


@pytest.mark.parametrize(
    "change",
    [
        {"Id": None},
        {"Status": None},
        {"Status": {"State": 7}},
        {"Name": None},
        {"Name": ["dynamodb-backup-1"]},
    ],
)
def test_an_unreadable_entry_that_might_match_makes_the_answer_unknown(
    change: dict[str, Any],
) -> None:
    doc = clusters(("dynamodb-backup-1", "RUNNING", EPOCH))
    doc["Clusters"][0].update(change)

    with pytest.raises(UnexpectedOutput, match="might match"):
        emr.parse_clusters(doc, "dynamodb-backup-")


@pytest.mark.parametrize("created", ["yesterday", None, {"at": 1}, True, 1e300])
def test_an_unreadable_creation_time_makes_only_that_age_unknown(created: Any) -> None:
    doc = clusters(("dynamodb-backup-1", "WAITING", created), ("other", "WAITING", "garbage"))

    (cluster,) = emr.parse_clusters(doc, "dynamodb-backup-")

    assert cluster == Backup("EMR cluster", "j-0", "dynamodb-backup-1", "WAITING", None)


def test_a_cluster_in_a_state_left_out_of_emr_states_does_not_count() -> None:
    doc = clusters(("b-1", "WAITING", EPOCH), ("b-2", "RUNNING", EPOCH))

    found = emr.parse_clusters(doc, "b-", ("STARTING", "BOOTSTRAPPING", "RUNNING"))

    assert [c.name for c in found] == ["b-2"]


def test_emr_states_narrower_than_active_is_still_one_list_call() -> None:
    assert emr.arguments("us-east-1", emr.EMR_ACTIVE_STATES) == [
        "emr",
        "list-clusters",
        "--active",
        "--region",
        "us-east-1",
    ]
    assert emr.arguments("us-east-1", ("RUNNING", "STARTING")) == [
        "emr",
        "list-clusters",
        "--cluster-states",
        "STARTING",
        "RUNNING",
        "--region",
        "us-east-1",
    ]


def test_unnamed_job_runs_never_match_but_unreadable_names_might() -> None:
    unnamed = {"jobRuns": [{"id": "r-1", "state": "RUNNING"}, {"id": "r-2", "name": None}]}
    assert emr_eks.parse_job_runs(unnamed, "backup-") == ()

    with pytest.raises(UnexpectedOutput):
        emr_eks.parse_job_runs({"jobRuns": [{"id": "r-1", "name": 12}]}, "backup-")


def test_an_unreadable_glue_job_name_might_match() -> None:
    with pytest.raises(UnexpectedOutput):
        glue.parse_job_names({"JobNames": ["other", None]}, "backup-")


def test_an_unreadable_virtual_cluster_could_hold_a_matching_run() -> None:
    with pytest.raises(UnexpectedOutput):
        emr_eks.parse_virtual_clusters({"virtualClusters": [{"id": 3, "state": "RUNNING"}]})


# --- totality: any JSON in, a value or UnexpectedOutput out ------------------------------

PARSERS: dict[str, tuple[Callable[[Any], object], Any]] = {
    "emr clusters": (
        lambda doc: emr.parse_clusters(doc, "dynamodb-backup-"),
        clusters(("dynamodb-backup-1", "RUNNING", EPOCH), ("other", "WAITING", ISO)),
    ),
    "emr clusters, any prefix": (
        lambda doc: emr.parse_clusters(doc, ""),
        clusters(("dynamodb-backup-1", "RUNNING", EPOCH)),
    ),
    "glue job names": (lambda doc: glue.parse_job_names(doc, "backup-"), GLUE_JOBS),
    "glue job runs": (lambda doc: glue.parse_runs(doc, "backup-orders"), GLUE_RUNS),
    "eks virtual clusters": (emr_eks.parse_virtual_clusters, VIRTUAL_CLUSTERS),
    "eks job runs": (lambda doc: emr_eks.parse_job_runs(doc, "backup-"), EKS_RUNS),
    "serverless applications": (emr_serverless.parse_applications, APPLICATIONS),
    "serverless job runs": (
        lambda doc: emr_serverless.parse_job_runs(doc, "backup-"),
        SERVERLESS_RUNS,
    ),
}


def total(parse: Callable[[Any], object], doc: Any) -> None:
    with contextlib.suppress(UnexpectedOutput):
        parse(doc)


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_parsers_are_total_on_mutated_real_answers(name: str, data: st.DataObject) -> None:
    parse, real = PARSERS[name]
    total(parse, data.draw(mutations(real)))


@pytest.mark.parametrize("name", sorted(PARSERS))
@settings(max_examples=100, deadline=None)
@given(doc=any_json)
def test_parsers_are_total_on_any_json(name: str, doc: Any) -> None:
    total(PARSERS[name][0], doc)


@settings(max_examples=150, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            st.sampled_from(["dynamodb-backup-1", "other", "dynamodb-backup-2"]),
            st.sampled_from(["RUNNING", "WAITING", "TERMINATED"]),
            any_json,
        ),
        max_size=5,
    )
)
def test_any_creation_time_never_changes_which_clusters_count(
    entries: list[tuple[str, str, Any]],
) -> None:
    found = emr.parse_clusters(clusters(*entries), "dynamodb-backup-")

    expected = [n for n, s, _ in entries if n.startswith("dynamodb-") and s != "TERMINATED"]
    assert [c.name for c in found] == expected
    assert all(c.started is None or c.started.tzinfo is not None for c in found)


def test_a_virtual_cluster_in_another_state_is_skipped_however_odd() -> None:
    doc = {
        "virtualClusters": [{"id": None, "state": "TERMINATED"}, {"id": "vc-1", "state": "RUNNING"}]
    }

    assert emr_eks.parse_virtual_clusters(doc) == ["vc-1"]
