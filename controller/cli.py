"""The controller's start-up: read settings, install signal handlers, run the loop.

`healthcheck` never gets here: controller/entry.py dispatches it first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from controller import PROG, __version__, release, report
from controller.aws import AwsCli, CliNotRunnable
from controller.config import Config, ConfigError, UsageError, build_parser, load, names
from controller.loop import Controller, until_stopped, workers
from controller.runtime import host, logs, reap, shutdown
from controller.runtime.heartbeat import Heartbeat
from controller.settings import strays

if TYPE_CHECKING:
    from controller.http.server import Http

log = logging.getLogger("controller")

EXIT_CONFIG = 2


def main(argv: Sequence[str] | None = None) -> int:
    env = dict(os.environ)
    args = sys.argv[1:] if argv is None else list(argv)
    # LOG_FORMAT itself may be among the problems; then the text form is used.
    json_line = env.get("LOG_FORMAT", "").lower() == "json"
    try:
        config = load(args, env)
    except (ConfigError, UsageError) as error:
        return (
            bad_configuration(error.problems, json_line=json_line)
            if isinstance(error, ConfigError)
            else bad_usage(str(error), json_line=json_line)
        )

    json_lines = config.log_format == "json"
    logs.setup(config.debug, env, json_lines, config.log_level, dry_run=config.dry_run)
    for warning in strays(env, names()):
        log.warning("%s", warning)
    served = None
    if config.http_port is not None:
        # Imported here, not at the top: prometheus_client and the server cost start-up time
        # and memory that a controller without HTTP_PORT should not pay.
        from controller.http import server  # noqa: PLC0415

        try:
            # Listening now, before any AWS call: a port that is taken is a bad setting.
            served = server.Http(config)
        except server.BindError as error:
            return bad_configuration([str(error)], json_line=config.log_format == "json")
    stop = threading.Event()
    calls, why = concurrency(config)
    aws = _cli(config, env, stop, calls)

    if config.release:
        try:
            return release.release(config, aws, stop)
        except CliNotRunnable as error:
            return bad_configuration([f"AWS_CLI: {error}"])

    log.log(logs.NOTICE, "%s", starting(config, calls, why))
    return _loop(config, aws, stop, served, calls)


def _cli(config: Config, env: dict[str, str], stop: threading.Event, calls: int) -> AwsCli:
    """The CLI runner, with the signals that stop it and, as PID 1, the reaper of orphans."""
    aws = AwsCli(
        config.aws_cli,
        env=env,
        timeout=config.call_timeout,
        attempts=config.call_attempts,
        stop=stop,
        endpoint_url=config.endpoint_url,
        concurrent=calls,
    )
    if os.getpid() == 1:
        # In a container we are PID 1 and inherit every orphan in it (docs/operations-pid1.md).
        reap.start(aws)

    def on_signal(received: signal.Signals) -> None:
        log.log(logs.NOTICE, "received %s", received.name)
        stop.set()
        aws.interrupt()

    shutdown.on_signal(on_signal)
    return aws


def _loop(
    config: Config, aws: AwsCli, stop: threading.Event, served: Http | None, calls: int
) -> int:
    """The loop until stopped, with the HTTP server (when `served`) and the heartbeat."""
    heartbeat = Heartbeat(Path(config.heartbeat_file), config.interval, config.call_timeout)
    heartbeat.reset()
    if served:
        log.log(
            logs.NOTICE,
            "serving /metrics, /healthz and /circuit-breaker on %s port %d",
            config.http_address,
            config.http_port,
        )
    try:
        with (
            served or contextlib.nullcontext(),
            ThreadPoolExecutor(
                max_workers=workers(config, calls), thread_name_prefix="query"
            ) as pool,
        ):
            controller = Controller(config, served.counting(aws) if served else aws, pool, stop)
            if served:
                served.follow(controller.config)
                controller.on_tick, controller.on_crash = served.after_tick, served.after_crash
            return until_stopped(
                controller,
                interval=config.interval,
                once=config.once,
                stop=stop,
                on_success=heartbeat,
            )
    except CliNotRunnable as error:
        # Only running it shows that an executable file is not a program (a bad #! line,
        # a truncated download); waiting will not fix that, so it ends like a bad setting.
        return bad_configuration([f"AWS_CLI: {error}"], json_line=config.log_format == "json")


def starting(config: Config, calls: int, why: str) -> str:
    """The start-up line: what it pauses, while what, where, how often."""
    paused = [kind.pausing() for kind in config.autoscalers]
    if config.breaker_only:
        paused.append(f"an autoscaler that polls /circuit-breaker on port {config.http_port}")
    every = "one tick" if config.once else f"every {config.interval:g}s"
    delay = config.resume_delay
    modes = [kind.mode.split(" (")[0] for kind in config.autoscalers]
    if config.http_port is not None:
        modes.append("circuit-breaker mode")
    return (
        f"{PROG} {__version__} ({', '.join(modes)}): pausing {' and '.join(paused)} "
        f"while {report.wanted(config)} is active in {config.emr_region}; {every}"
        f"{f', resuming after {delay:g}s without one' if delay else ''}"
        f"{', dry run' if config.dry_run else ''}; up to {calls} AWS CLI calls at once ({why})"
    )


def concurrency(config: Config) -> tuple[int, str]:
    """How many CLI calls run at once, and why that many (for the start-up line)."""
    if config.max_concurrent_calls is not None:
        return config.max_concurrent_calls, "MAX_CONCURRENT_CALLS"
    limits = host.read()
    return host.concurrent_calls(limits), f"MAX_CONCURRENT_CALLS unset: for {limits}"


def bad_configuration(problems: Sequence[str], json_line: bool = False) -> int:
    if json_line:
        _json_error(f"bad configuration: {'; '.join(problems)}", {"problems": list(problems)})
        return EXIT_CONFIG
    print(f"{PROG}: error: bad configuration:", file=sys.stderr)
    for problem in problems:
        print(f"  - {problem}", file=sys.stderr)
    print(f"See '{PROG} --help' and the README for the settings.", file=sys.stderr)
    return EXIT_CONFIG


def bad_usage(problem: str, json_line: bool = False) -> int:
    """A flag argparse could not take: its usage message, or one JSON object."""
    if json_line:
        _json_error(f"bad usage: {problem}", {"problems": [problem]})
    else:
        build_parser().print_usage(sys.stderr)
        print(f"{PROG}: error: {problem}", file=sys.stderr)
    return EXIT_CONFIG


def _json_error(message: str, fields: dict[str, object]) -> None:
    # One JSON object like every other line, so that a log pipeline parsing JSON sees it.
    record = logging.LogRecord(PROG, logging.ERROR, __file__, 0, message, None, None)
    record.__dict__["fields"] = {**fields, "exit_status": EXIT_CONFIG}
    print(logs.JsonFormatter().format(record), file=sys.stderr)
