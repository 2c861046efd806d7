"""Settings: environment variables (as the original image took them) and a few flags.

The core keeps what every kind shares; each kind of backup and of autoscaler reads its own
(`configure`, with the shared reader of controller/settings.py). Everything is validated at
once, before any AWS call, and every problem is reported together so that a person fixes the
configuration in one go.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from controller import PROG, __version__, autoscalers, sources
from controller.autoscalers.autoscaler import Autoscaler
from controller.aws import RETRY_JITTER, RETRY_WAIT_MAX
from controller.runtime.heartbeat import DEFAULT_HEARTBEAT_FILE
from controller.settings import Reader, Row, Shared, shown
from controller.sources.backup import Source

MAX_INTERVAL = 24 * 3600.0
LOG_FORMATS = ("text", "json")
# No level hides a change, a failure or the start-up line: NOTICE is the quietest.
LOG_LEVELS = ("INFO", "DEBUG", "NOTICE")
# CloudWatch's limit on a namespace (PutMetricData).
MAX_NAMESPACE = 255
# Every interface, so that a container's published port reaches it.
DEFAULT_HTTP_ADDRESS = "0.0.0.0"  # noqa: S104
MAX_BACKUP_AGE = 7 * 24 * 3600.0  # a week: 0 is the way to say "no bound"
# The most items (Glue jobs, virtual clusters, applications) a source queries one by one in a
# tick: one job per table for 200 tables, measured in docs/performance.md. Above it the
# source's answer is unknown: a prefix that matches far more than meant should not make every
# tick hundreds of CLI calls without a person choosing so.
DEFAULT_MAX_FAN_OUT = 200
MAX_MAX_FAN_OUT = 10000
# 256 CLI processes are 15 GiB; more is surely a typo.
MAX_CONCURRENT_CALLS = 256


# The settings every kind shares, after the sources' and the autoscalers' own.
_CORE: tuple[tuple[str, tuple[Row, ...]], ...] = (
    (
        "timing",
        (
            ("POLL_INTERVAL", "60", "seconds between ticks (--interval overrides it)"),
            ("RESUME_DELAY", "0", "seconds without a backup before resuming"),
            ("CALL_TIMEOUT", "30", "seconds one AWS CLI call may take"),
            ("CALL_ATTEMPTS", "4", "attempts per CLI call for retryable failures"),
        ),
    ),
    (
        "logs and dry run",
        (
            ("LOG_FORMAT", "text", "text, or json: one JSON object per line"),
            ("LOG_LEVEL", "INFO", "INFO, NOTICE (no steady tick lines) or DEBUG"),
            ("DEBUG_OUTPUT", "unset", "any value but empty/0/false/no/off: debug lines"),
            ("DRY_RUN", "false", "decide and log, never change anything (--dry-run)"),
        ),
    ),
    (
        "health, metrics and circuit breaker",
        (
            ("HEARTBEAT_FILE", DEFAULT_HEARTBEAT_FILE, "for healthcheck"),
            ("HTTP_PORT", "unset", "serve /metrics, /healthz, /circuit-breaker on this port"),
            ("HTTP_ADDRESS", DEFAULT_HTTP_ADDRESS, "address to listen on, with HTTP_PORT"),
            ("CLOUDWATCH_NAMESPACE", "unset", "CloudWatch metrics (EMF) in this namespace"),
        ),
    ),
    (
        "AWS CLI",
        (
            ("AWS_CLI", "aws", "the AWS CLI to run (v1 or v2)"),
            ("AWS_ENDPOINT_URL", "unset", "--endpoint-url for every call (a local fake AWS)"),
            ("MAX_CONCURRENT_CALLS", "from CPUs/memory", "CLI calls at once, 60-70 MiB each"),
        ),
    ),
)


def groups() -> tuple[tuple[str, tuple[Row, ...]], ...]:
    """Every setting with its default, grouped as --help lists them; each kind's own come from
    it, through the lists of kinds."""
    return (
        (
            "sources of backups (EMR_REGION and at least one prefix are required)",
            (
                ("EMR_REGION", "required", "region where every source is read, e.g. us-east-1"),
                *(row for source in sources.ALL for row in source.rows()),
                ("MAX_BACKUP_AGE", "0 (no bound)", "seconds after which a backup stops counting"),
                (
                    "MAX_FAN_OUT",
                    "200",
                    "most jobs, virtual clusters or applications queried per tick",
                ),
            ),
        ),
        *((kind.mode, kind.settings) for kind in autoscalers.ALL),
        *_CORE,
    )


def names() -> tuple[str, ...]:
    return tuple(name for _, rows in groups() for name, _, _ in rows)


def help_text() -> str:
    """The settings as --help lists them after the flags."""
    width = max(map(len, names()))
    lines = ["settings (environment variables; docs/configuration.md has the rules):"]
    for group, rows in groups():
        lines.append(f"  {group}:")
        lines += [f"    {n:<{width}}  {what} (default: {d})" for n, d, what in rows]
    return "\n".join(lines)


@dataclass(frozen=True)
class Config:
    emr_region: str
    # The kinds that are on, each with its own settings, in the order of their lists. No
    # autoscaler: circuit breaker mode.
    sources: tuple[Source, ...] = ()
    autoscalers: tuple[Autoscaler[Any], ...] = ()
    interval: float = 60.0
    once: bool = False
    dry_run: bool = False
    debug: bool = False
    aws_cli: str = "aws"
    endpoint_url: str | None = None
    call_timeout: float = 30.0
    call_attempts: int = 4
    # At most this many CLI processes at a time; None: from the CPUs and memory the
    # controller may use (controller/runtime/host.py), decided at start.
    max_concurrent_calls: int | None = None
    heartbeat_file: str = DEFAULT_HEARTBEAT_FILE
    resume_delay: float = 0.0
    log_format: str = "text"
    # None: no HTTP server, nothing listens.
    http_port: int | None = None
    http_address: str = DEFAULT_HTTP_ADDRESS
    # --release: undo every recorded pause and exit, instead of running the loop.
    release: bool = False
    # Seconds; 0: a backup holds the pause for as long as it is active.
    max_backup_age: float = 0.0
    log_level: str = "INFO"
    # Empty: no CloudWatch embedded metrics in the tick's JSON line.
    cloudwatch_namespace: str = ""
    max_fan_out: int = DEFAULT_MAX_FAN_OUT

    @property
    def call_bound(self) -> float:
        """The longest one CLI call can take, its retries and the waits between them included:
        the runner kills a call at CALL_TIMEOUT."""
        waits = (RETRY_WAIT_MAX + RETRY_JITTER) * (self.call_attempts - 1)
        return self.call_timeout * self.call_attempts + waits

    @property
    def pause_window(self) -> float:
        """Seconds after writing its record within which a pause may still start its changes
        of scaling; past it the pause gives up and the next tick starts a new one."""
        return self.call_bound

    @property
    def record_settle(self) -> float:
        """Seconds a record must have been seen before the controller removes it. Longer than
        a pause's window plus its last call (and a call's time again for AWS to apply it), so
        a record is never removed while the change it records may still land
        (docs/reliability.md)."""
        return self.pause_window + self.call_bound + self.call_timeout

    @property
    def breaker_only(self) -> bool:
        """Nothing to pause but the answer of /circuit-breaker, which an autoscaler polls."""
        return not self.autoscalers

    @property
    def fans_out(self) -> bool:
        """Whether a kind on makes one call per item (job, table, ...) in a tick."""
        return any(s.fans_out for s in self.sources) or any(k.fans_out for k in self.autoscalers)


def dimensions(config: Config) -> dict[str, str]:
    """The metric dimensions that name what is controlled, so that two controllers in one
    account and namespace keep their metrics apart (and a template's alarms can name them):
    each kind's; none in circuit breaker mode."""
    found: dict[str, str] = {}
    for kind in config.autoscalers:
        found.update(kind.dimensions())
    return found


class ConfigError(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class UsageError(Exception):
    """A flag argparse cannot take (unknown, or without its value): the caller says so in
    the log's format and exits with status 2, as argparse itself would."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        usage="%(prog)s [options] | %(prog)s healthcheck",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Pause DynamoDB throughput automation (an autoscaler running as an ECS service, "
            "DynamoDB's own auto scaling, or a self-hosted autoscaler polling the circuit "
            "breaker URL) while a bulk reader of the tables runs (an EMR cluster, a Glue job, "
            "an EMR on EKS or EMR Serverless job), and resume it afterwards. Settings come "
            "from environment variables, listed below."
        ),
        epilog=(
            f"{help_text()}\n\n"
            f"subcommand: '{PROG} healthcheck' judges the heartbeat each successful tick "
            "writes (exit 0 fresh, 1 stale).\n"
            "exit status: 0 ok, 1 a --once tick failed (or --release could not release "
            "everything), 2 bad configuration."
        ),
    )
    parser.add_argument(
        "--once", action="store_true", help="run one tick, then exit (status 1 if it failed)"
    )
    parser.add_argument(
        "--interval",
        metavar="SECONDS",
        help="seconds between ticks (default: $POLL_INTERVAL, else 60)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=None,
        help="decide and log, but never change anything (default: $DRY_RUN)",
    )
    parser.add_argument(
        "--release",
        action="store_true",
        help=(
            "the way out (uninstall, rollback, emergency): restore every service and table "
            "the controller paused, from its records, remove the records and exit, even while "
            "a backup is active; with --dry-run only say what it would do. Stop the running "
            "controller first, or it pauses again"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def load(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    """Parse flags and environment into a Config, or raise ConfigError naming every problem.

    Unknown flags are argparse's to report (it exits with status 2, as we do).
    """
    args = build_parser().parse_args(argv)
    read = Reader(env)
    log_format = read.choice("LOG_FORMAT", LOG_FORMATS)
    namespace = _namespace(read, log_format)
    shared = Shared(
        region=read.region("EMR_REGION"),
        max_fan_out=read.count("MAX_FAN_OUT", DEFAULT_MAX_FAN_OUT, MAX_MAX_FAN_OUT),
        cloudwatch=bool(namespace),
    )
    found, kinds = _kinds(read, shared, env)
    read.only_with("HTTP_ADDRESS", "HTTP_PORT")
    # A setting given as a flag wins over its variable, read under the flag's name.
    interval_from = "POLL_INTERVAL" if args.interval is None else "--interval"
    config = Config(
        emr_region=shared.region,
        sources=found,
        autoscalers=kinds,
        interval=read.seconds(interval_from, 60.0, 0, MAX_INTERVAL, raw=args.interval),
        once=args.once,
        dry_run=args.dry_run if args.dry_run is not None else read.flag("DRY_RUN"),
        debug=read.switch("DEBUG_OUTPUT"),
        aws_cli=read.executable("AWS_CLI"),
        endpoint_url=read.url("AWS_ENDPOINT_URL"),
        # Below a second even a healthy CLI has not started, so every call would time out.
        call_timeout=read.seconds("CALL_TIMEOUT", 30.0, 1, 3600.0),
        call_attempts=read.count("CALL_ATTEMPTS", 4, 20),
        max_concurrent_calls=(
            read.count("MAX_CONCURRENT_CALLS", 1, MAX_CONCURRENT_CALLS)
            if "MAX_CONCURRENT_CALLS" in env
            else None
        ),
        resume_delay=read.seconds("RESUME_DELAY", 0.0, 0, MAX_INTERVAL, zero=True),
        log_format=log_format,
        log_level=read.choice("LOG_LEVEL", LOG_LEVELS, upper=True),
        heartbeat_file=read.file_in_a_directory("HEARTBEAT_FILE", DEFAULT_HEARTBEAT_FILE),
        http_port=read.port("HTTP_PORT"),
        http_address=read.address("HTTP_ADDRESS", DEFAULT_HTTP_ADDRESS),
        release=args.release,
        max_backup_age=read.seconds("MAX_BACKUP_AGE", 0.0, 0, MAX_BACKUP_AGE, zero=True),
        cloudwatch_namespace=namespace,
        max_fan_out=shared.max_fan_out,
    )
    if read.problems:
        raise ConfigError(read.problems)
    return config


def _kinds(
    read: Reader, shared: Shared, env: Mapping[str, str]
) -> tuple[tuple[Source, ...], tuple[Autoscaler[Any], ...]]:
    """Each kind reads its own settings; those not set stay out of the lists."""
    kinds = [_configure(kind, read, shared) for kind in autoscalers.ALL]
    named = any(kind.names_tables for kind in kinds if kind is not None)
    found = [source.configure(read, replace(shared, named=named)) for source in sources.ALL]
    if not any(source.setting in env for source in sources.ALL):
        names = ", ".join(source.setting for source in sources.ALL)
        read.problems.append(f"no source of backups is set: set at least one of {names}")
    return (
        tuple(source for source in found if source is not None),
        tuple(kind for kind in kinds if kind is not None),
    )


def _configure(kind: type[Autoscaler[Any]], read: Reader, shared: Shared) -> Autoscaler[Any] | None:
    """One kind of autoscaler's settings, told which other ways of pausing are set."""
    others = tuple(other.switch for other in autoscalers.ALL if other is not kind)
    alone = any(name in read for name in others) or "HTTP_PORT" in read
    return kind.configure(
        read, Shared(shared.region, shared.max_fan_out, shared.cloudwatch, others, alone)
    )


def _namespace(read: Reader, log_format: str) -> str:
    raw = read.env.get("CLOUDWATCH_NAMESPACE", "")
    if not raw:
        return ""
    problem = ""
    if not raw.isascii() or not raw.isprintable() or not raw.strip():
        problem = "must be printable ASCII text, not only spaces"
    elif len(raw) > MAX_NAMESPACE:
        problem = f"must be at most {MAX_NAMESPACE} characters ({len(raw)})"
    elif raw.startswith(":"):
        problem = "must not start with ':'"
    elif raw.upper().startswith("AWS/"):
        problem = "must not start with 'AWS/', which AWS keeps for its own services"
    if problem:
        read.problems.append(f"CLOUDWATCH_NAMESPACE {problem}: {shown(raw)}")
        return ""
    if log_format != "json":
        # CloudWatch Logs finds the metrics only in a line that is one JSON object.
        read.problems.append("CLOUDWATCH_NAMESPACE is set but LOG_FORMAT is not json")
    return raw
