"""The AWS CLI v1 and v2 print the same answer differently; the controller reads both."""

from __future__ import annotations

import threading

from controller.aws import AwsCli
from controller.sources.emr import parse_clusters
from tests.conftest import EVERY_AWS_CLI, Stack, cli_version
from tests.support.moto import PREFIX, REGION

pytestmark = EVERY_AWS_CLI


def test_cluster_creation_time_is_read_from_either_cli(stack: Stack, aws_cli: str) -> None:
    cluster_id = stack.world.start_cluster(f"{PREFIX}timestamps")
    # The controller's own runner, so v2 gets --endpoint-url (it ignores AWS_ENDPOINT_URL).
    run = AwsCli(
        aws_cli,
        env=stack.env,
        timeout=60,
        attempts=1,
        stop=threading.Event(),
        endpoint_url=stack.server.url,
    )

    doc = run(["emr", "list-clusters", "--active", "--region", REGION])

    raw = doc["Clusters"][0]["Status"]["Timeline"]["CreationDateTime"]
    if cli_version(aws_cli).startswith("aws-cli/2."):
        assert isinstance(raw, str) and "T" in raw, f"v2 should print ISO 8601: {raw!r}"
    else:
        assert isinstance(raw, float), f"v1 should print epoch seconds: {raw!r}"
    (cluster,) = parse_clusters(doc)
    described = stack.world.emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert cluster.started == described["Status"]["Timeline"]["CreationDateTime"]
