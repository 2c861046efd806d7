"""LOG_FORMAT=json: one JSON object per line, with the tick's fields, and still no secrets; a
failed tick and a bad configuration as JSON (and a failed tick as text) say so."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import Stack
from tests.support.moto import CLUSTER, PREFIX, SERVICE


def lines(stderr: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stderr.splitlines()]


def test_every_line_is_a_json_object_with_the_ticks_fields(stack: Stack) -> None:
    stack.service(desired=2)
    cluster_id = stack.world.start_cluster(f"{PREFIX}nightly")

    result = stack.run("--once", LOG_FORMAT="json", DEBUG_OUTPUT="1")

    assert result.returncode == 0, result.stderr
    logged = lines(result.stderr)
    assert all({"time", "level", "message"} <= set(line) for line in logged)
    # The start-up line and a change are NOTICE; the command lines DEBUG.
    assert {line["level"] for line in logged} == {"DEBUG", "NOTICE"}
    (tick,) = [line for line in logged if "action" in line]
    assert tick["time"].endswith("Z")
    (backup,) = tick["backups"]
    assert {k: backup[k] for k in ("kind", "name", "id", "state")} == {
        "kind": "EMR cluster",
        "name": f"{PREFIX}nightly",
        "id": cluster_id,
        "state": "WAITING",
    }
    assert backup["started"].endswith("+00:00") and 0 <= backup["age_s"] < 120
    assert tick["stuck_backups"] == [] and tick["unknown_sources"] == []
    assert tick["service"]["cluster"] == CLUSTER
    assert tick["service"]["name"] == SERVICE
    assert tick["service"]["desired"] == 2
    assert (tick["action"], tick["level"]) == (["pause"], "NOTICE")
    assert tick["decisions"] == [
        {
            "verb": "pause",
            "change": "desired 2 -> 0",
            "reason": "backup active",
            "outcome": "done",
        }
    ]
    assert tick["ok"] is True
    assert "pause: desired 2 -> 0" in tick["message"]


def test_default_format_is_unchanged_text(stack: Stack) -> None:
    stack.service(desired=1)

    result = stack.run("--once")

    assert not result.stderr.lstrip().startswith("{")
    assert " INFO    backups: none active | service " in result.stderr


def test_secrets_are_scrubbed_from_json_lines_and_fields(stack: Stack) -> None:
    secret = stack.env["AWS_SECRET_ACCESS_KEY"]
    stack.service(desired=0)
    stack.world.start_cluster(f"{PREFIX}{secret}")  # absurd, but then it is in a field

    named = stack.run("--once", LOG_FORMAT="json")

    assert named.returncode == 0, named.stderr
    assert secret not in named.stderr
    (tick,) = [line for line in lines(named.stderr) if "action" in line]
    assert tick["backups"][0]["name"] == f"{PREFIX}***"

    stack.fake_aws(
        {
            "emr list-clusters": {
                "fail": -1,
                "exit": 254,
                "stderr": "An error occurred (InvalidSignatureException) when calling the "
                f"ListClusters operation: signature of {secret} does not match",
            }
        }
    )
    failed = stack.run("--once", LOG_FORMAT="json", DEBUG_OUTPUT="1")

    assert failed.returncode == 1
    assert secret not in failed.stderr
    logged = lines(failed.stderr)
    assert any("InvalidSignatureException" in line["message"] for line in logged)
    (tick,) = [line for line in logged if "action" in line]
    assert tick["backups"] == [], "none seen: a list, never null"
    assert tick["unknown_sources"] == ["EMR"]
    assert tick["ok"] is False


def test_a_tick_that_cannot_see_the_service_is_an_error_saying_ok_false(stack: Stack) -> None:
    stack.world.ecs.create_cluster(clusterName=CLUSTER)  # but no service in it

    result = stack.run("--once")
    as_json = stack.run("--once", LOG_FORMAT="json")

    assert result.returncode == as_json.returncode == 1
    tick = next(line for line in result.stderr.splitlines() if "| action:" in line)
    assert " ERROR " in tick and tick.endswith(" | ok=false")
    assert f"service {CLUSTER}/{SERVICE}: unknown" in tick
    ticks = [json.loads(line) for line in as_json.stderr.splitlines()]
    (logged,) = [t for t in ticks if "action" in t]
    assert (logged["level"], logged["ok"]) == ("ERROR", False)


def test_an_unparsable_configuration_with_log_format_json_is_one_json_line(stack: Stack) -> None:
    result = stack.run("--once", LOG_FORMAT="json", RESUME_COUNT="12")

    assert result.returncode == 2
    (logged,) = [json.loads(line) for line in result.stderr.splitlines()]
    assert logged["problems"] == ["RESUME_COUNT (12) is above RESUME_COUNT_MAX (10)"]
