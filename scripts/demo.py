"""Watch the real controller pause and resume both kinds of autoscaler against a local
moto_server: an ECS service (ECS mode) and a DynamoDB table's own auto scaling (native mode).

One controller runs both modes at once, as it does for a user moving from one to the other;
each mode is decided and acted on independently, so this shows each as it behaves alone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.moto import (
    CLUSTER,
    PREFIX,
    SERVICE,
    SUSPENDED_FLAGS,
    MotoServer,
    World,
    controller_env,
    executable,
)

TABLE_PREFIX = "orders-"
TABLE = f"{TABLE_PREFIX}demo"
# Above the slowest tick of the demo, its pause of both modes (about 5 s on two idle cores,
# 15 s or more on two busy ones: each CLI call against moto is a second of CPU), so that the
# controller never warns that its ticks overrun POLL_INTERVAL: in production that warning
# asks for more CPUs, here it would be noise. Each step waits for the next tick, so the
# demo takes about two intervals.
POLL_INTERVAL = 20


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def wait_until(
    what: str,
    check: Callable[[], bool],
    # A step waits for the next tick, up to an interval away, then for that tick itself.
    timeout: float = POLL_INTERVAL + 60,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: {what} did not happen within {timeout:g}s")
        time.sleep(0.2)


def table_state(world: World) -> dict[str, set[str]]:
    """The demo table's scalable targets (by dimension) and which flags are on."""
    return {
        dimension.rsplit(":", 1)[-1]: flags
        for (resource, dimension), flags in world.suspended().items()
        if resource == f"table/{TABLE}"
    }


def shown(state: dict[str, set[str]]) -> str:
    """'reads: not suspended, writes: suspended (scale-in, scale-out, scheduled)'."""
    words = {
        "DynamicScalingInSuspended": "scale-in",
        "DynamicScalingOutSuspended": "scale-out",
        "ScheduledScalingSuspended": "scheduled",
    }
    return ", ".join(
        f"{'reads' if 'Read' in dimension else 'writes'}: "
        + (
            f"suspended ({', '.join(words[f] for f in SUSPENDED_FLAGS if f in flags)})"
            if flags
            else "not suspended"
        )
        for dimension, flags in sorted(state.items())
    )


def main(endpoint: str | None = None) -> int:
    """Run the demo against its own moto_server, or against an empty one at `endpoint`."""
    if endpoint is None:
        say("starting a local moto_server (fake AWS) on a free port")
        with MotoServer() as moto:
            print(f"    {moto.url}")
            return demo(moto.url)
    return demo(endpoint)


def demo(endpoint: str) -> int:
    world = World(endpoint)
    world.create_service(CLUSTER, SERVICE, desired=2)
    say(f"ECS mode: service {CLUSTER}/{SERVICE} (a home-made autoscaler) with desired count 2")
    world.autoscale_table(TABLE)
    say(
        f"native mode: table {TABLE} with DynamoDB auto scaling on reads and writes"
        f" ({shown(table_state(world))})"
    )
    say("no EMR backup cluster yet")

    with tempfile.TemporaryDirectory() as tmp:
        env = controller_env(
            endpoint,
            Path(tmp),
            DYNAMODB_TABLE_PREFIX=TABLE_PREFIX,
            POLL_INTERVAL=str(POLL_INTERVAL),
            HEARTBEAT_FILE=str(Path(tmp) / "heartbeat"),
        )
        say(
            f"starting the controller (dynamodb-autoscaler-control, ticking every"
            f" {POLL_INTERVAL} s), set up"
            f" for both modes: the service and the tables named {TABLE_PREFIX}..."
        )
        controller = subprocess.Popen(
            [executable("dynamodb-autoscaler-control")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        seen: list[str] = []

        def pump() -> None:
            assert controller.stdout is not None
            for line in controller.stdout:
                seen.append(line)
                print(f"    controller | {line}", end="", flush=True)

        def logged(text: str) -> bool:
            return any(text in line for line in seen)

        printer = threading.Thread(target=pump, daemon=True)
        printer.start()
        try:
            wait_until("the first tick", lambda: logged("action:"))

            cluster_id = world.start_cluster(f"{PREFIX}2026-11-23")
            say(f"EMR backup cluster {PREFIX}2026-11-23 ({cluster_id}) started")
            wait_until(
                "the pause",
                lambda: (
                    world.desired(CLUSTER, SERVICE) == 0
                    and all(flags == set(SUSPENDED_FLAGS) for flags in table_state(world).values())
                    and logged("pause: desired 2 -> 0")
                    and logged("pause: table")
                ),
            )
            say(
                "ECS mode, paused: desired count 0 while the backup runs; the count it had is"
                " recorded on the service: "
                + ", ".join(f"{k}={v}" for k, v in world.service_tags(CLUSTER, SERVICE).items())
            )
            say(
                f"native mode, paused: table {TABLE}'s scalable targets are suspended"
                f" ({shown(table_state(world))}); what the controller turned on is recorded"
                f" in tags on the table: {', '.join(sorted(world.table_tags(TABLE)))}"
            )

            world.terminate_cluster(cluster_id)
            say(f"EMR cluster {cluster_id} terminated")
            wait_until(
                "the resume",
                lambda: (
                    world.desired(CLUSTER, SERVICE) == 2
                    and not any(table_state(world).values())
                    and logged("resume: desired 0 -> 2")
                    and logged("resume: table")
                ),
            )
            say("ECS mode, resumed: the service runs again with the count it had: desired 2")
            say(
                f"native mode, resumed: table {TABLE}'s auto scaling is back"
                f" ({shown(table_state(world))})"
            )
            say(
                "the records stay a few minutes more (336 s with the default CALL_TIMEOUT),"
                " in case a second controller's pause is still landing; a tick after that"
                " removes them (docs/reliability.md)"
            )

            say("sending SIGTERM to the controller")
            controller.send_signal(signal.SIGTERM)
            code = controller.wait(10)
            printer.join(5)
        finally:
            if controller.poll() is None:
                controller.kill()
                controller.wait()
    if code != 0:
        say(f"demo failed: the controller exited with status {code}")
        return 1
    say(
        "demo finished: both autoscalers paused during the backup and resumed after it,"
        " clean exit (status 0)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
