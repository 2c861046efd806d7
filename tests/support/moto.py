"""A real moto_server on a free loopback port, and the AWS state the tests and demo need.

Shared by the test fixtures, scripts/demo and scripts/bench so that there is one way to
start a local AWS and seed it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import boto3

from controller.autoscalers.dynamodb import RECORD_PREFIX
from controller.autoscalers.ecs import PAUSED_COUNT_TAG

BIN = Path(sys.executable).parent
PATCHED_SERVER = Path(__file__).with_name("moto_server.py")
# The line tests/support/moto_server.py prints once it listens (not imported: that module
# patches moto as it is imported, which only the server's own process should see).
LISTENING = "moto_server listening on "
ACCOUNT = "123456789012"
REGION = "us-east-1"
SUSPENDED_FLAGS = (
    "DynamicScalingInSuspended",
    "DynamicScalingOutSuspended",
    "ScheduledScalingSuspended",
)


# The key every call to the local AWS is made with unless a test says otherwise; moto accepts
# any. The secret is long enough for the controller to scrub it from its logs.
TEST_KEY = ("testing", "testing-secret-do-not-log")


def session(region: str = REGION, credentials: tuple[str, str] = TEST_KEY) -> boto3.Session:
    """A boto3 session for seeding and inspecting the local AWS."""
    return boto3.session.Session(
        aws_access_key_id=credentials[0],
        aws_secret_access_key=credentials[1],
        region_name=region,
    )


def executable(name: str) -> str:
    """A tool from this virtualenv first, then from PATH."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not found:
        raise RuntimeError(f"{name} not found; run scripts/test or scripts/demo to install it")
    return found


def free_port() -> int:
    """A loopback port for a server that is only told its port (the controller's HTTP_PORT
    must be 1-65535), reserved against parallel tests: a connection to it is made and closed
    here, which leaves the port in TIME_WAIT for a minute. The kernel then hands it to no
    other bind to port 0 (moto_server's, another free_port's), while a server that sets
    SO_REUSEADDR, as Python's http.server does, can still listen on it."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            # The side that closes first keeps the TIME_WAIT: the accepted one, which is
            # bound to the port itself, not the client's own ephemeral port.
            accepted.close()
    return port


class MotoServer:
    """moto_server in its own process group, so stopping it leaves nothing behind."""

    def __init__(self, extra_env: Mapping[str, str] | None = None) -> None:
        self.extra_env = dict(extra_env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log = tempfile.TemporaryFile()

    def start(self, timeout: float = 30.0) -> MotoServer:
        self.process = subprocess.Popen(
            # moto_server with its paging of scalable targets fixed (see the module). -I: not
            # this directory on sys.path, whose moto.py and http.py would shadow moto and the
            # standard library's http. Port 0: the kernel picks a free port as the server
            # binds it, so servers started at once (pytest-xdist's workers) cannot collide.
            [sys.executable, "-I", str(PATCHED_SERVER), "-H", "127.0.0.1", "-p", "0"],
            env={**os.environ, **self.extra_env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            found = re.search(rf"^{LISTENING}(http://\S+)$", self.output(), re.MULTILINE)
            if found:
                self.url = found[1]
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"moto_server did not start; its output:\n{self.output()}")

    def output(self) -> str:
        """What the server printed so far (it shares no file offset with this process)."""
        return os.pread(self.log.fileno(), 1 << 20, 0).decode(errors="replace")

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def isolated_env(endpoint: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment for the aws CLI and the controller: fake credentials, no user profile."""
    home.mkdir(parents=True, exist_ok=True)
    for name in ("config", "credentials"):
        (home / name).touch()
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": TEST_KEY[0],
        "AWS_SECRET_ACCESS_KEY": TEST_KEY[1],
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
        "AWS_ENDPOINT_URL": endpoint,
        # Without this the CLI probes the EC2 metadata service for a region or credentials.
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CLI": executable("aws"),
    }
    env.update(extra)
    return env


# The local stack's names, shared by the tests, scripts/demo and scripts/bench.
CLUSTER, SERVICE, PREFIX = "autoscaling", "dynamodb-autoscaler", "dynamodb-backup-"


def controller_env(endpoint: str, home: Path, **extra: str) -> dict[str, str]:
    """isolated_env plus the controller's required settings, pointing at the local stack."""
    settings = {
        "EMR_PREFIX": PREFIX,
        "EMR_REGION": REGION,
        "AUTOSCALER_CLUSTER": CLUSTER,
        "AUTOSCALER_REGION": REGION,
        "AUTOSCALER_SERVICE": SERVICE,
    }
    return isolated_env(endpoint, home, **{**settings, **extra})


class World:
    """Seed and inspect the local AWS: EMR clusters, the autoscaler's ECS service, DynamoDB
    tables and their Application Auto Scaling targets."""

    def __init__(
        self,
        endpoint: str,
        region: str = REGION,
        credentials: tuple[str, str] = TEST_KEY,
    ) -> None:
        clients = session(region, credentials)
        self.emr = clients.client("emr", endpoint_url=endpoint)
        self.ecs = clients.client("ecs", endpoint_url=endpoint)
        self.dynamodb = clients.client("dynamodb", endpoint_url=endpoint)
        self.aas = clients.client("application-autoscaling", endpoint_url=endpoint)
        self.region = region

    def create_service(self, cluster: str, service: str, desired: int) -> str:
        self.ecs.create_cluster(clusterName=cluster)
        self.ecs.register_task_definition(
            family="dynamodb-autoscaler",
            containerDefinitions=[{"name": "autoscaler", "image": "busybox", "memory": 64}],
        )
        created = self.ecs.create_service(
            cluster=cluster,
            serviceName=service,
            taskDefinition="dynamodb-autoscaler",
            desiredCount=desired,
        )
        return str(created["service"]["serviceArn"])

    def service(self, cluster: str, service: str) -> dict[str, Any]:
        found = self.ecs.describe_services(cluster=cluster, services=[service])["services"]
        return dict(found[0])

    def desired(self, cluster: str, service: str) -> int:
        return int(self.service(cluster, service)["desiredCount"])

    def service_tags(self, cluster: str, service: str) -> dict[str, str]:
        arn = self.service(cluster, service)["serviceArn"]
        tags = self.ecs.list_tags_for_resource(resourceArn=arn)["tags"]
        return {tag["key"]: tag["value"] for tag in tags}

    def age_records(
        self, cluster: str = CLUSTER, service: str = SERVICE, table: str | None = None
    ) -> int:
        """Make the controller's records (on the service, or on `table`) an hour old, as
        time would: each keeps its value under the key of a pause an hour earlier. A
        controller then counts them settled and removes them once it resumes. Only while no
        pause is under way, as time passing only then makes a record settle. Returns how
        many records were aged."""

        def older(key: str, prefix: str) -> str | None:
            rest = key[len(prefix) :]
            if not key.startswith(prefix) or not re.fullmatch(r"[0-9a-f]{12}(:.*)?", rest):
                return None
            # The pause's own time an hour back: the records of one pause keep one id.
            hour_ago = f"{(int(rest[:8], 16) - 3600) & 0xFFFFFFFF:08x}"
            return f"{prefix}{hour_ago}{rest[8:]}"

        aged = 0
        if table is None:
            arn = self.service(cluster, service)["serviceArn"]
            for key, value in self.service_tags(cluster, service).items():
                new = older(key, f"{PAUSED_COUNT_TAG}:")
                if new:
                    self.ecs.tag_resource(resourceArn=arn, tags=[{"key": new, "value": value}])
                    self.ecs.untag_resource(resourceArn=arn, tagKeys=[key])
                    aged += 1
        else:
            arn = self.dynamodb.describe_table(TableName=table)["Table"]["TableArn"]
            for key, value in self.table_tags(table).items():
                new = older(key, RECORD_PREFIX)
                if new:
                    tags = [{"Key": new, "Value": value}]
                    self.dynamodb.tag_resource(ResourceArn=arn, Tags=tags)
                    self.dynamodb.untag_resource(ResourceArn=arn, TagKeys=[key])
                    aged += 1
        return aged

    def set_desired(self, cluster: str, service: str, desired: int) -> None:
        self.ecs.update_service(cluster=cluster, service=service, desiredCount=desired)

    def start_cluster(
        self, name: str, steps: Sequence[str] = (), tags: Mapping[str, str] | None = None
    ) -> str:
        """An EMR cluster that stays active (WAITING) until terminated, with a step of each
        name in `steps` (pending or running until ended with end_step) and these tags."""
        jar = {"Jar": "command-runner.jar", "Args": ["true"]}
        flow = self.emr.run_job_flow(
            Steps=[{"Name": step, "HadoopJarStep": jar} for step in steps],
            Tags=[{"Key": k, "Value": v} for k, v in (tags or {}).items()],
            Name=name,
            ReleaseLabel="emr-6.10.0",
            Instances={
                "MasterInstanceType": "m5.xlarge",
                "InstanceCount": 1,
                "KeepJobFlowAliveWhenNoSteps": True,
            },
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )
        return str(flow["JobFlowId"])

    def end_step(self, cluster_id: str, name: str) -> None:
        """The cluster's step `name` completes (tests/support/moto_server.py)."""
        steps = self.emr.list_steps(ClusterId=cluster_id)["Steps"]
        (step_id,) = [step["Id"] for step in steps if step["Name"] == name]
        self.emr.cancel_steps(ClusterId=cluster_id, StepIds=[step_id])

    def terminate_cluster(self, cluster_id: str) -> None:
        self.emr.terminate_job_flows(JobFlowIds=[cluster_id])

    # --- DynamoDB and its auto scaling ------------------------------------------------
    def create_table(self, name: str, indexes: tuple[str, ...] = ()) -> str:
        """A provisioned table with global secondary indexes named `indexes`."""
        throughput = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
        extra: dict[str, Any] = {}
        if indexes:
            attributes.append({"AttributeName": "sk", "AttributeType": "S"})
            extra["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": index,
                    "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                    "ProvisionedThroughput": throughput,
                }
                for index in indexes
            ]
        created = self.dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=attributes,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            ProvisionedThroughput=throughput,
            **extra,
        )
        return str(created["TableDescription"]["TableArn"])

    def autoscale(self, resource_id: str, dimension: str, suspended: Iterable[str] = ()) -> None:
        """Register a scalable target, with the SUSPENDED_FLAGS in `suspended` on."""
        flags = set(suspended)
        state = {"SuspendedState": {f: f in flags for f in SUSPENDED_FLAGS}} if flags else {}
        self.aas.register_scalable_target(
            ServiceNamespace="dynamodb",
            ResourceId=resource_id,
            ScalableDimension=dimension,
            MinCapacity=5,
            MaxCapacity=50,
            **state,
        )

    def autoscale_table(self, name: str, indexes: tuple[str, ...] = ()) -> None:
        """Create a table and register read and write targets for it and each index."""
        self.create_table(name, indexes)
        for io in ("Read", "Write"):
            self.autoscale(f"table/{name}", f"dynamodb:table:{io}CapacityUnits")
            for index in indexes:
                self.autoscale(f"table/{name}/index/{index}", f"dynamodb:index:{io}CapacityUnits")

    def suspended(self) -> dict[tuple[str, str], set[str]]:
        """Every dynamodb target's suspended flags; a missing SuspendedState is none."""
        pages = self.aas.get_paginator("describe_scalable_targets").paginate(
            ServiceNamespace="dynamodb"
        )
        return {
            (t["ResourceId"], t["ScalableDimension"]): {
                flag for flag, on in t.get("SuspendedState", {}).items() if on
            }
            for page in pages
            for t in page["ScalableTargets"]
        }

    def table_tags(self, name: str) -> dict[str, str]:
        arn = self.dynamodb.describe_table(TableName=name)["Table"]["TableArn"]
        tags = self.dynamodb.list_tags_of_resource(ResourceArn=arn)["Tags"]
        return {tag["Key"]: tag["Value"] for tag in tags}
