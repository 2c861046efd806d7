"""deploy/iam-policy-native-autoscaling.json is enough for the native mode, and a denied
record write still suspends (with an ERROR): moto checks every call against IAM here.

moto checks actions, not resources or conditions (it sees every resource as "*"), so the
statements are loaded with their Resource widened to "*" and their Condition dropped: what
this proves is that the list of actions is complete. The EMR query belongs to the base
policy (deploy/iam-policy.json); a one-action stand-in for it is added here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.iam import DEPLOY, Enforced, as_moto_checks
from tests.support.moto import (
    PREFIX,
    REGION,
    SUSPENDED_FLAGS,
    World,
    executable,
    isolated_env,
)

POLICY = DEPLOY / "iam-policy-native-autoscaling.json"
EMR_QUERY = {"Effect": "Allow", "Action": "elasticmapreduce:ListClusters", "Resource": "*"}


def once(
    enforced: Enforced, tmp_path: Path, credentials: tuple[str, str], **settings: str
) -> subprocess.CompletedProcess[str]:
    """One native-mode --once tick as the user with `credentials`."""
    env = isolated_env(
        enforced.server.url,
        tmp_path / "home",
        EMR_PREFIX=PREFIX,
        EMR_REGION=REGION,
        DYNAMODB_TABLE_PREFIX="orders-",
        AWS_ACCESS_KEY_ID=credentials[0],
        AWS_SECRET_ACCESS_KEY=credentials[1],
        CALL_ATTEMPTS="1",
        **settings,
    )
    return subprocess.run(
        [executable("dynamodb-autoscaler-control"), "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_native_policy_is_enough_and_a_denied_record_still_suspends(
    enforced: Enforced, tmp_path: Path
) -> None:
    policy = json.loads(POLICY.read_text())
    controller = enforced.user("controller", as_moto_checks(policy, plus=[EMR_QUERY]))
    # The records are written through the Tagging API, which AWS checks first (and then
    # dynamodb:TagResource on each table, which moto does not check).
    no_tagging = enforced.user(
        "controller-no-tagging",
        as_moto_checks(policy, without="tag:TagResources", plus=[EMR_QUERY]),
    )
    world = World(enforced.server.url, credentials=enforced.admin)
    world.autoscale_table("orders-eu", indexes=("by-date",))
    cluster_id = world.start_cluster(f"{PREFIX}1")

    def run(credentials: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        return once(enforced, tmp_path, credentials)

    paused = run(controller)

    assert paused.returncode == 0, paused.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())

    world.terminate_cluster(cluster_id)
    world.age_records(table="orders-eu")  # the backup ran for an hour
    resumed = run(controller)

    assert resumed.returncode == 0, resumed.stderr
    assert all(not flags for flags in world.suspended().values())
    assert world.table_tags("orders-eu") == {}

    # Without the record the backup still never runs with the auto scaling active.
    cluster_id = world.start_cluster(f"{PREFIX}2")
    denied = run(no_tagging)

    assert denied.returncode == 0, denied.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())
    error = next(line for line in denied.stderr.splitlines() if "could not record" in line)
    assert " ERROR " in error and "AccessDenied" in error
    assert "add tag:TagResources and tag:UntagResources, and dynamodb:TagResource" in error
    assert "will NOT resume the auto scaling of this table" in error
    assert "table/orders-eu/index/by-date WriteCapacityUnits" in error
    assert "without a record (AccessDenied)" in denied.stderr

    # As the ERROR said: after the backup nothing it cannot prove it suspended is resumed.
    world.terminate_cluster(cluster_id)
    after = run(no_tagging)

    assert after.returncode == 0, after.stderr
    assert all(flags == set(SUSPENDED_FLAGS) for flags in world.suspended().values())


def test_the_emr_policy_is_enough_to_name_tables_and_without_it_a_cluster_holds_them_all(
    enforced: Enforced, tmp_path: Path
) -> None:
    # PAUSE_SCOPE=named reads each cluster's tag and steps: the EMR policy's second statement.
    native, emr = (
        json.loads((DEPLOY / f).read_text()) for f in (POLICY.name, "iam-policy-emr.json")
    )
    allowed = enforced.user("named", as_moto_checks(native, plus=emr["Statement"]))
    blind = enforced.user(
        "named-blind",
        as_moto_checks(native, plus=[EMR_QUERY]),
    )
    world = World(enforced.server.url, credentials=enforced.admin)
    world.autoscale_table("orders-x")
    world.autoscale_table("orders-y")
    world.start_cluster(f"{PREFIX}export", steps=["Export Table:orders-x"])

    def run(credentials: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        return once(enforced, tmp_path, credentials, PAUSE_SCOPE="named")

    def suspended() -> set[str]:
        # The server is the module's: the tables of the test before are there too.
        ours = ("table/orders-x", "table/orders-y")
        return {r for (r, _), flags in world.suspended().items() if flags and r in ours}

    named = run(allowed)

    assert named.returncode == 0, named.stderr
    assert suspended() == {"table/orders-x"}, named.stderr

    held = run(blind)

    assert held.returncode == 0, held.stderr
    assert suspended() == {"table/orders-x", "table/orders-y"}, "fails safe: holds them all"
    (warning,) = [line for line in held.stderr.splitlines() if " WARNING " in line]
    assert "reading its tag and steps failed" in warning and "AccessDenied" in warning
