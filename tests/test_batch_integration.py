"""Native mode at scale (issue 20): the tables' records written and removed in batches, so that
a pause or a resume of 20 tables (40 scalable targets) takes at most 46 CLI calls, against
moto with the real CLI, every call counted through the CLI double."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import Stack
from tests.support.moto import PREFIX, SUSPENDED_FLAGS
from tests.test_native_integration import native_only

ALL = set(SUSPENDED_FLAGS)
TABLES = [f"orders-{n:02d}" for n in range(20)]
# The tick's queries, each once: the backups, the scalable targets, the tables' records.
QUERIES = {
    "emr list-clusters": 1,
    "application-autoscaling describe-scalable-targets": 1,
    "resourcegroupstaggingapi get-resources": 1,
}


# Tens of CLI calls, each about a second of CPU: on two cores shared with other tests it
# can take more than the default 120 s without anything being wrong.
@pytest.mark.timeout(300)
def test_twenty_tables_pause_and_resume_in_at_most_46_calls_each(stack: Stack) -> None:
    native_only(stack)
    for table in TABLES:
        stack.world.autoscale_table(table)  # a read and a write target each
    stack.fake_aws()
    cluster_id = stack.world.start_cluster(f"{PREFIX}1")

    pause = stack.run("--once", timeout=600)

    assert pause.returncode == 0, pause.stderr
    paused = stack.operations()
    assert len(paused) <= 46, Counter(paused)
    assert Counter(paused) == {
        **QUERIES,
        "resourcegroupstaggingapi tag-resources": 1,  # 20 tables, one call
        "application-autoscaling register-scalable-target": 40,
    }
    during = stack.world.suspended()
    assert len(during) == 40
    assert all(flags == ALL for flags in during.values()), during
    for table in TABLES:
        assert f"pause: table {table}, 2 of 2 scalable targets" in pause.stderr
        assert sorted(key.split(":")[-2:] for key in stack.world.table_tags(table)) == [
            ["table", "read"],
            ["table", "write"],
        ]

    stack.world.terminate_cluster(cluster_id)
    for table in TABLES:
        assert stack.world.age_records(table=table) == 2  # the backup ran for an hour
    before = len(stack.calls())
    resume = stack.run("--once", timeout=600)

    assert resume.returncode == 0, resume.stderr
    resumed = stack.operations()[before:]
    assert len(resumed) <= 46, Counter(resumed)
    assert Counter(resumed) == {
        **QUERIES,
        "application-autoscaling register-scalable-target": 40,
        "resourcegroupstaggingapi untag-resources": 1,
    }
    after = stack.world.suspended()
    assert len(after) == 40
    assert all(not flags for flags in after.values()), after
    for table in TABLES:
        assert f"resume: table {table}, 2 of 2 scalable targets" in resume.stderr
        assert stack.world.table_tags(table) == {}, "no record left"
