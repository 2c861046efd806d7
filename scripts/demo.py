"""Watch the real controller pause and resume a service against a local moto_server."""

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
    MotoServer,
    World,
    controller_env,
    executable,
)


def say(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def wait_until(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"demo failed: {what} did not happen within {timeout:g}s")
        time.sleep(0.2)


def main() -> int:
    say("starting a local moto_server (fake AWS) on a free port")
    with MotoServer() as moto, tempfile.TemporaryDirectory() as tmp:
        print(f"    {moto.url}")
        world = World(moto.url)
        world.create_service(CLUSTER, SERVICE, desired=2)
        say(f"ECS service {CLUSTER}/{SERVICE} created with desired count 2; no EMR cluster yet")

        env = controller_env(
            moto.url,
            Path(tmp),
            POLL_INTERVAL="2",
        )
        say("starting the controller (dynamodb-autoscaler-control, ticking every 2 s)")
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
                "the pause", lambda: world.desired(CLUSTER, SERVICE) == 0 and logged("pause:")
            )
            say(
                "the autoscaler is paused: desired count 0 while the backup runs; the count it"
                " had (2) is recorded in a tag on the service"
            )

            world.terminate_cluster(cluster_id)
            say(f"EMR cluster {cluster_id} terminated")
            wait_until(
                "the resume", lambda: world.desired(CLUSTER, SERVICE) == 2 and logged("resume:")
            )
            say("the autoscaler is running again with the count it had: desired count 2")

            say("sending SIGTERM to the controller")
            controller.send_signal(signal.SIGTERM)
            code = controller.wait(10)
            printer.join(5)
        finally:
            if controller.poll() is None:
                controller.kill()
        if code != 0:
            say(f"demo failed: the controller exited with status {code}")
            return 1
    say("demo finished: paused during the backup, resumed after it, clean exit (status 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
