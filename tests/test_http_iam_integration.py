"""deploy/iam-policy-circuit-breaker.json against moto with IAM enforcement: in the circuit
breaker mode (HTTP_PORT, nothing else to pause) EMR's ListClusters is the only permission the
controller needs, and a denied EMR query leaves the breaker answering "wait"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Loop, Stack
from tests.support.http import eventually, get
from tests.support.iam import Deployment, Enforced, actions, iam_action
from tests.support.moto import PREFIX, free_port

pytestmark = pytest.mark.integration

POLICY = Path(__file__).parents[1] / "deploy" / "iam-policy-circuit-breaker.json"
NO_PERMISSIONS = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Action": "ecs:ListClusters", "Resource": "*"}],
}


@pytest.fixture
def breaker_only(enforced: Enforced, tmp_path: Path) -> Deployment:
    d = Deployment(enforced, Stack(enforced.server, tmp_path))
    for name in ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE"):
        del d.stack.env[name]
    return d


def start(d: Deployment, loops: list[Loop]) -> int:
    port = free_port()
    loop = d.stack.start(HTTP_PORT=str(port), HTTP_ADDRESS="127.0.0.1", POLL_INTERVAL="0.2")
    loops.append(loop)
    loop.wait_for("serving /metrics")
    return port


def test_emr_alone_is_enough_for_the_circuit_breaker(
    breaker_only: Deployment, loops: list[Loop]
) -> None:
    d = breaker_only
    policy = json.loads(POLICY.read_text())
    d.create_user(policy)
    backup = d.world.start_cluster(f"{PREFIX}iam")
    port = start(d, loops)

    eventually(lambda: get(port, "/circuit-breaker")[1].startswith("wait: backup active"))
    assert get(port, "/circuit-breaker")[0] == 503
    d.world.terminate_cluster(backup)
    eventually(lambda: get(port, "/circuit-breaker")[0] == 200, what="the breaker closes")
    assert get(port, "/healthz")[0] == 200
    code, _ = loops[0].terminate()

    assert code == 0
    assert "ERROR" not in loops[0].output
    assert {iam_action(op) for op in d.stack.operations()} == set(actions(policy))
    # Enforcement is on: the same user may not do anything else.
    with pytest.raises(d.iam.exceptions.ClientError, match="AccessDenied"):
        d.enforced.client("ecs", d.key).list_clusters()


def test_without_the_emr_permission_the_breaker_keeps_saying_wait(
    breaker_only: Deployment, loops: list[Loop]
) -> None:
    d = breaker_only
    d.create_user(NO_PERMISSIONS)
    port = start(d, loops)

    loops[0].wait_for("EMR query failed")
    assert get(port, "/circuit-breaker") == (503, "wait: EMR state unknown\n")
    assert get(port, "/healthz")[0] == 503, "no tick succeeded"
    assert "AccessDenied" in loops[0].output
