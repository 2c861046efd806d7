"""Start-up stays lean: each run imports only what it needs (docs/performance.md).

What a run imported is read from `python -X importtime`, which names every module the first
time it is imported. No timing is asserted here; scripts/bench measures the cost.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.support.moto import ACCOUNT, CLUSTER, REGION, SERVICE, controller_env

SERVICE_JSON = {
    "services": [
        {
            "serviceName": SERVICE,
            "serviceArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}",
            "desiredCount": 1,
            "runningCount": 1,
            "pendingCount": 0,
            "status": "ACTIVE",
            "tags": [],
        }
    ],
    "failures": [],
}

NOT_FOR_THE_HEALTHCHECK = [
    "sh",  # and asyncio with it
    "asyncio",
    "tenacity",
    "controller.aws",
    "controller.loop",
    "controller.decide",
    # The settings import the sources of backups, which the check has no use for.
    "controller.config",
    "controller.settings",
    "controller.sources",
]


def imported(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules `python -m controller ARGS` imports; it must exit 0."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "controller", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    } - {"imported package"}


def instant_cli(tmp_path: Path) -> Path:
    """A stand-in CLI that answers the two queries of an ECS-mode tick at once."""
    cli = tmp_path / "aws"
    cli.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        """emr) echo '{"Clusters": []}' ;;\n"""
        f"ecs) echo '{json.dumps(SERVICE_JSON)}' ;;\n"
        "*) exit 255 ;;\n"
        "esac\n"
    )
    cli.chmod(0o755)
    return cli


def test_a_tick_without_a_retry_imports_neither_the_health_check_nor_tenacity(
    tmp_path: Path,
) -> None:
    env = controller_env(
        "http://127.0.0.1:9",
        tmp_path / "home",
        AWS_CLI=str(instant_cli(tmp_path)),
        HEARTBEAT_FILE=str(tmp_path / "heartbeat"),
    )

    modules = imported(["--once"], env)

    assert "controller.loop" in modules, "the tick did not run"
    assert (tmp_path / "heartbeat").exists(), "the tick did not succeed"
    assert "controller.runtime.health" not in modules
    assert "tenacity" not in modules  # imported at the first retry (controller/aws.py)


def test_the_healthcheck_imports_neither_the_cli_runner_nor_the_rule(tmp_path: Path) -> None:
    heartbeat = tmp_path / "heartbeat"
    beat = {"last_tick": time.time(), "interval": 60.0, "call_timeout": 30.0}
    heartbeat.write_text(json.dumps(beat))
    # Nothing but the heartbeat file: the check needs no other setting.
    env = {"PATH": "/usr/bin:/bin", "HEARTBEAT_FILE": str(heartbeat)}

    modules = imported(["healthcheck"], env)

    assert "controller.runtime.health" in modules
    assert sorted(modules & set(NOT_FOR_THE_HEALTHCHECK)) == []
