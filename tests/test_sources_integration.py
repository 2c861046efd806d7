"""Glue, EMR on EKS and EMR Serverless job runs pause and resume as an EMR backup does; and
MAX_BACKUP_AGE and EMR_STATES. The console script, the real aws CLI, moto.

moto creates EMR Serverless job runs already finished, so an active one comes from the CLI
double with a recorded answer (the parsers' unit tests cover the rest of its states).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.conftest import EVERY_AWS_CLI, Stack
from tests.support.moto import PREFIX
from tests.support.sources import Sources

GLUE = "dynamodb-export-"
EKS = "spark-dynamodb-"
SERVERLESS = "serverless-dynamodb-"
MAX_AGE = 6


@pytest.fixture
def sources(stack: Stack) -> Iterator[Sources]:
    found = Sources(stack.server.url)
    yield found
    # The state manager outlives moto's reset: leave Glue runs finishing at once.
    found.release_glue_runs()


def only(stack: Stack, **prefixes: str) -> None:
    """The stack's environment with these sources' prefixes instead of EMR_PREFIX."""
    stack.env.pop("EMR_PREFIX")
    stack.env.update(prefixes)


@EVERY_AWS_CLI
def test_a_glue_run_pauses_until_it_finishes(stack: Stack, sources: Sources) -> None:
    only(stack, GLUE_JOB_PREFIX=GLUE)
    stack.service(desired=2)
    sources.hold_glue_runs()
    run_id = sources.start_glue_run(f"{GLUE}orders")
    sources.start_glue_run("nightly-report")  # running, but not a matching job

    paused = stack.run("--once")

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0
    assert f"backups: Glue job run {GLUE}orders ({run_id}, STARTING)" in paused.stderr
    assert "nightly-report" not in paused.stderr

    sources.release_glue_runs()
    resumed = stack.run("--once")

    assert resumed.returncode == 0, resumed.stderr
    assert sources.glue_run_state(f"{GLUE}orders", run_id) == "SUCCEEDED"
    assert stack.desired() == 2, resumed.stderr
    assert "backups: none active" in resumed.stderr


# Tens of CLI calls, each about a second of CPU: on two cores shared with other tests it
# can take more than the default 120 s without anything being wrong.
@pytest.mark.timeout(300)
def test_thirty_matching_glue_jobs_with_one_running_pause_and_then_resume(
    stack: Stack, sources: Sources
) -> None:
    # One Glue job per table is a common layout: 30 tables, 30 jobs, one of them running.
    only(stack, GLUE_JOB_PREFIX="orders-export-")
    stack.service(desired=2)
    for number in range(29):
        sources.glue_job(f"orders-export-{number:02}")
    sources.hold_glue_runs()
    run_id = sources.start_glue_run("orders-export-29")
    stack.fake_aws()

    paused = stack.run("--once", timeout=300)

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0
    assert f"backups: Glue job run orders-export-29 ({run_id}, STARTING) |" in paused.stderr
    assert stack.operations().count("glue get-job-runs") == 30, "every matching job is read"

    sources.release_glue_runs()
    resumed = stack.run("--once", timeout=300)

    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 2, resumed.stderr
    assert "backups: none active" in resumed.stderr


def test_glue_queries_only_the_matching_jobs(stack: Stack, sources: Sources) -> None:
    only(stack, GLUE_JOB_PREFIX=GLUE)
    stack.service(desired=1)
    sources.hold_glue_runs()
    for job in ("nightly-report", "cleanup", f"{GLUE}users"):
        sources.start_glue_run(job)
    sources.release_glue_runs()
    stack.fake_aws()

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1
    runs = [call for call in stack.calls() if call[:2] == ["glue", "get-job-runs"]]
    assert [call[call.index("--job-name") + 1] for call in runs] == [f"{GLUE}users"]


@EVERY_AWS_CLI
def test_an_emr_on_eks_run_pauses_until_cancelled(stack: Stack, sources: Sources) -> None:
    only(stack, EMR_EKS_JOB_PREFIX=EKS)
    stack.service(desired=3)
    cluster = sources.virtual_cluster()
    run_id = sources.start_eks_run(cluster, f"{EKS}orders")
    sources.start_eks_run(cluster, "adhoc-query")
    sources.start_eks_run(cluster, None)

    paused = stack.run("--once")

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0
    assert f"backups: EMR on EKS job run {EKS}orders ({run_id}, RUNNING) |" in paused.stderr

    sources.cancel_eks_run(cluster, run_id)
    resumed = stack.run("--once")

    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 3


def test_non_matching_eks_runs_do_not_pause(stack: Stack, sources: Sources) -> None:
    only(stack, EMR_EKS_JOB_PREFIX=EKS)
    stack.service(desired=1)
    cluster = sources.virtual_cluster()
    sources.start_eks_run(cluster, "adhoc-query")
    sources.start_eks_run(cluster, EKS.upper() + "orders")  # the case differs
    sources.start_eks_run(cluster, None)

    result = stack.run("--once")

    assert result.returncode == 0, result.stderr
    assert stack.desired() == 1
    assert "backups: none active" in result.stderr


SERVERLESS_ANSWER = {  # `aws emr-serverless list-job-runs`, recorded (CLI v1), state RUNNING
    "jobRuns": [
        {
            "applicationId": "{app}",
            "id": "00fkq1c2v3b4n5m6",
            "name": f"{SERVERLESS}orders",
            "arn": "arn:aws:emr-serverless:us-east-1:123456789012:/applications/{app}"
            "/jobruns/00fkq1c2v3b4n5m6",
            "createdBy": "arn:aws:iam::123456789012:user/ops",
            "createdAt": 1795633738.919,
            "updatedAt": 1795633740.02,
            "executionRole": "arn:aws:iam::123456789012:role/bulk-reader",
            "state": "RUNNING",
            "stateDetails": "",
            "releaseLabel": "emr-6.10.0",
            "type": "Spark",
        }
    ]
}


def test_an_emr_serverless_run_pauses_until_it_finishes(stack: Stack, sources: Sources) -> None:
    only(stack, EMR_SERVERLESS_JOB_PREFIX=SERVERLESS)
    stack.service(desired=2)
    app = sources.started_application()
    answer = json.dumps(SERVERLESS_ANSWER).replace("{app}", app)
    stack.fake_aws({"emr-serverless list-job-runs": {"stdout": answer}})

    paused = stack.run("--once")

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0
    assert f"EMR Serverless job run {SERVERLESS}orders (00fkq1c2v3b4n5m6, RUNNING)" in (
        paused.stderr
    )
    (listing,) = [c for c in stack.calls() if c[:2] == ["emr-serverless", "list-job-runs"]]
    assert listing[listing.index("--application-id") + 1] == app

    # From here moto answers itself: the run it holds is finished, as moto makes every run.
    sources.start_serverless_run(app, f"{SERVERLESS}orders")
    stack.fake_aws()
    resumed = stack.run("--once")

    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 2
    assert "backups: none active" in resumed.stderr


def test_several_sources_at_once(stack: Stack, sources: Sources) -> None:
    stack.env.update(GLUE_JOB_PREFIX=GLUE, EMR_EKS_JOB_PREFIX=EKS)
    stack.env["EMR_SERVERLESS_JOB_PREFIX"] = SERVERLESS
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}nightly")
    sources.hold_glue_runs()
    glue_run = sources.start_glue_run(f"{GLUE}orders")
    virtual = sources.virtual_cluster()
    eks_run = sources.start_eks_run(virtual, f"{EKS}users")

    paused = stack.run("--once")

    assert paused.returncode == 0, paused.stderr
    assert stack.desired() == 0
    for held in (cluster_id, glue_run, eks_run):
        assert held in paused.stderr

    # Each one ending is not enough while another is still active.
    stack.world.terminate_cluster(cluster_id)
    sources.cancel_eks_run(virtual, eks_run)
    still = stack.run("--once")
    assert stack.desired() == 0, still.stderr
    assert f"backups: Glue job run {GLUE}orders ({glue_run}, STARTING) |" in still.stderr

    sources.release_glue_runs()
    resumed = stack.run("--once")
    assert resumed.returncode == 0, resumed.stderr
    assert stack.desired() == 2


def test_one_source_failing_with_nothing_seen_changes_nothing(
    stack: Stack, sources: Sources
) -> None:
    stack.env.update(GLUE_JOB_PREFIX=GLUE, EMR_EKS_JOB_PREFIX=EKS)
    stack.service(desired=0)  # paused, and nothing active that EMR or EKS can see
    stack.fake_aws(
        {
            "glue list-jobs": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (AccessDeniedException) when calling the ListJobs "
                "operation: User is not authorized to perform: glue:ListJobs",
            }
        }
    )

    result = stack.run("--once")

    assert result.returncode == 1, result.stderr
    assert stack.desired() == 0, "a Glue run could be reading: never resume blind"
    assert "Glue query failed" in result.stderr and "AccessDeniedException" in result.stderr
    assert "no change (Glue state unknown, changing nothing)" in result.stderr
    assert "emr list-clusters" in stack.operations(), "the other sources are still asked"


def test_a_glue_run_seen_pauses_while_emr_is_denied(stack: Stack, sources: Sources) -> None:
    stack.env["GLUE_JOB_PREFIX"] = GLUE
    stack.service(desired=2)
    sources.hold_glue_runs()
    run_id = sources.start_glue_run(f"{GLUE}orders")
    stack.fake_aws(
        {
            "emr list-clusters": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (AccessDeniedException) when calling the "
                "ListClusters operation: User is not authorized to perform: "
                "elasticmapreduce:ListClusters",
            }
        }
    )

    result = stack.run("--once")

    assert stack.desired() == 0, "a Glue run seen is paused for, whatever EMR would say"
    assert result.returncode == 1, "EMR unread: the tick fails all the same"
    assert "EMR query failed" in result.stderr and "AccessDeniedException" in result.stderr
    assert (
        f"backups: Glue job run {GLUE}orders ({run_id}, STARTING) | "
        "unknown sources: EMR (query failed) |" in result.stderr
    )
    assert "action: pause: desired 2 -> 0 (backup active) | ok=false" in result.stderr


def test_a_cluster_older_than_max_backup_age_no_longer_holds_the_pause(stack: Stack) -> None:
    stack.service(desired=0)
    old = stack.world.start_cluster(f"{PREFIX}forgotten")
    # moto's creation time is the real one. The bound leaves the young cluster below time
    # enough for a slow start of the controller and its CLI on a busy machine.
    time.sleep(MAX_AGE + 1)

    result = stack.run("--once", MAX_BACKUP_AGE=str(MAX_AGE))

    assert result.returncode == 0, "a stuck backup is an ERROR, not a failed tick"
    assert stack.desired() == 1
    (error,) = [line for line in result.stderr.splitlines() if "stuck backup" in line]
    assert " ERROR " in error
    assert f"EMR cluster {PREFIX}forgotten ({old}, WAITING) has been active for " in error
    assert f"longer than MAX_BACKUP_AGE ({MAX_AGE}s)" in error

    young = stack.world.start_cluster(f"{PREFIX}tonight")
    again = stack.run("--once", MAX_BACKUP_AGE=str(MAX_AGE))

    assert stack.desired() == 0, "a younger matching cluster pauses as usual"
    assert f"backups: EMR cluster {PREFIX}tonight ({young}, WAITING, active " in again.stderr
    assert "stuck backup" in again.stderr, "the old one is still named, every tick"


def test_max_backup_age_unset_keeps_an_old_cluster_holding(stack: Stack) -> None:
    stack.service(desired=1)
    stack.world.start_cluster(f"{PREFIX}forgotten")
    time.sleep(3)

    result = stack.run("--once")

    assert stack.desired() == 0, result.stderr
    assert "stuck backup" not in result.stderr


def test_emr_states_without_waiting_lets_an_idle_cluster_go(stack: Stack) -> None:
    stack.service(desired=0)
    stack.world.start_cluster(f"{PREFIX}idle")  # moto's clusters sit in WAITING
    stack.fake_aws()

    idle = stack.run("--once", EMR_STATES="STARTING,BOOTSTRAPPING,RUNNING")

    assert idle.returncode == 0, idle.stderr
    assert stack.desired() == 1
    (emr,) = [call for call in stack.calls() if call[0] == "emr"]  # still one call
    assert emr[:6] == ["emr", "list-clusters", "--cluster-states", "STARTING", "BOOTSTRAPPING",
                       "RUNNING"]  # fmt: skip

    waiting = stack.run("--once")  # the default counts WAITING, as before
    assert stack.desired() == 0, waiting.stderr
