"""Entry point: read settings, install signal handlers, run the loop (or the health check)."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from controller import __version__, health, logs, shutdown
from controller.aws import AwsCli
from controller.config import PROG, ConfigError, load
from controller.loop import Controller, run

log = logging.getLogger("controller")

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    env = dict(os.environ)
    args = sys.argv[1:] if argv is None else list(argv)
    # Dispatched before the settings are read: a health check needs none of the EMR_* or
    # AUTOSCALER_* settings, only the heartbeat file.
    if args[:1] == ["healthcheck"]:
        return health.main(args[1:], env)
    try:
        config = load(args, env)
    except ConfigError as error:
        print(f"{PROG}: error: bad configuration:", file=sys.stderr)
        for problem in error.problems:
            print(f"  - {problem}", file=sys.stderr)
        print(f"See '{PROG} --help' and the README for the settings.", file=sys.stderr)
        return EXIT_CONFIG

    logs.setup(config.debug, env)
    stop = threading.Event()
    aws = AwsCli(
        config.aws_cli,
        env=env,
        timeout=config.call_timeout,
        attempts=config.call_attempts,
        stop=stop,
        endpoint_url=config.endpoint_url,
    )

    def on_signal(received: signal.Signals) -> None:
        log.info("received %s", received.name)
        stop.set()
        aws.interrupt()

    shutdown.on_signal(on_signal)

    log.info(
        "%s %s: pausing %s/%s (%s) while an EMR cluster named %r... is active in %s; %s%s",
        PROG,
        __version__,
        config.autoscaler_cluster,
        config.autoscaler_service,
        config.autoscaler_region,
        config.emr_prefix,
        config.emr_region,
        "one tick" if config.once else f"every {config.interval:g}s",
        ", dry run" if config.dry_run else "",
    )
    heartbeat = health.Heartbeat(Path(config.heartbeat_file), config.interval, config.call_timeout)
    heartbeat.reset()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="query") as pool:
        return run(
            Controller(config, aws, pool),
            interval=config.interval,
            once=config.once,
            stop=stop,
            on_success=heartbeat,
        )
