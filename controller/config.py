"""Settings: environment variables (as the original image took them) and a few flags.

Everything is validated at once, before any AWS call, and every problem is reported
together so that a person fixes the configuration in one go.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import math
import os
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlparse

from controller import PROG, __version__, autoscalers, settings, sources
from controller.aws import RETRY_JITTER, RETRY_WAIT_MAX
from controller.runtime.heartbeat import DEFAULT_HEARTBEAT_FILE
from controller.sources.emr import EMR_ACTIVE_STATES

# Every AWS region name has this shape (us-east-1, us-gov-west-1, ap-southeast-2, ...).
# Checking it here turns a typo into a clear start-up error instead of an endpoint error.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
# Plain decimal seconds: no sign, exponent, "inf", underscores or non-ASCII digits.
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
_WHOLE = re.compile(r"[0-9]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
# Control, format and line-separator characters: a newline, a tab, a BOM or a zero-width
# space in a name is a quoting mistake, never part of the name a person meant.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})
# Values the AWS CLI would not take as they are: it parses a leading "-" as an option,
# reads file:// and fileb:// as files and (v1) fetches http(s):// URLs.
_CLI_PREFIXES = ("-", "file://", "fileb://", "http://", "https://")
MAX_INTERVAL = 24 * 3600.0
# IAM's limit for an ARN, well above any ECS cluster or service name or ARN.
MAX_NAME = 2048
MAX_TABLE_NAME = 255  # DynamoDB's limit: a longer prefix could never match a table
MAX_TASKS = 5000  # ECS's quota of tasks per service
AUTOSCALER = ("AUTOSCALER_CLUSTER", "AUTOSCALER_REGION", "AUTOSCALER_SERVICE")
LOG_FORMATS = ("text", "json")
# No level hides a change, a failure or the start-up line: NOTICE is the quietest.
LOG_LEVELS = ("INFO", "DEBUG", "NOTICE")
# CloudWatch's limits: a namespace (PutMetricData) and a dimension value (Dimension).
MAX_NAMESPACE = 255
MAX_DIMENSION = 1024
# Every interface, so that a container's published port reaches it.
DEFAULT_HTTP_ADDRESS = "0.0.0.0"  # noqa: S104
# Each source of backups (one per kind of backup), with the longest name its service allows:
# a longer prefix could never match. At least one must be set.
PREFIXES = tuple((source.setting, source.longest) for source in sources.ALL)
MAX_BACKUP_AGE = 7 * 24 * 3600.0  # a week: 0 is the way to say "no bound"
# The most items (Glue jobs, virtual clusters, applications) a source queries one by one in a
# tick: one job per table for 200 tables, measured in docs/performance.md. Above it the
# source's answer is unknown: a prefix that matches far more than meant should not make every
# tick hundreds of CLI calls without a person choosing so.
DEFAULT_MAX_FAN_OUT = 200
MAX_MAX_FAN_OUT = 10000
# 256 CLI processes are 15 GiB; more is surely a typo.
MAX_CONCURRENT_CALLS = 256


@dataclass(frozen=True)
class Config:
    emr_prefix: str
    emr_region: str
    # All three empty: no ECS autoscaler, only DynamoDB's own auto scaling is paused.
    autoscaler_cluster: str
    autoscaler_region: str
    autoscaler_service: str
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
    # Empty: DynamoDB's own auto scaling is left alone.
    dynamodb_table_prefix: str = ""
    dynamodb_region: str = ""
    resume_count: int = 1
    resume_count_max: int = 10
    resume_delay: float = 0.0
    log_format: str = "text"
    # None: no HTTP server, nothing listens.
    http_port: int | None = None
    http_address: str = DEFAULT_HTTP_ADDRESS
    # --release: undo every recorded pause and exit, instead of running the loop.
    release: bool = False
    # Triggers besides EMR_PREFIX (which is empty when not set); empty means not looked for.
    # One field per kind of backup, named after its setting (controller/sources/backup.py).
    glue_job_prefix: str = ""
    emr_eks_job_prefix: str = ""
    emr_serverless_job_prefix: str = ""
    emr_states: tuple[str, ...] = EMR_ACTIVE_STATES
    # Seconds; 0: a backup holds the pause for as long as it is active.
    max_backup_age: float = 0.0
    log_level: str = "INFO"
    # Empty: no CloudWatch embedded metrics in the tick's JSON line.
    cloudwatch_namespace: str = ""
    max_fan_out: int = DEFAULT_MAX_FAN_OUT

    @property
    def ecs_mode(self) -> bool:
        return bool(self.autoscaler_service)

    @property
    def native_mode(self) -> bool:
        return bool(self.dynamodb_table_prefix)

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
        return not autoscalers.configured(self)


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
            f"{settings.help_text()}\n\n"
            f"subcommand: '{PROG} healthcheck' judges the heartbeat each successful tick "
            "writes (exit 0 fresh, 1 stale).\n"
            "exit status: 0 ok, 1 a --once tick failed (or --release could not release "
            "everything), 2 bad configuration."
        ),
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="run one tick, then exit (status 1 if it failed)",
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


class _Reader:
    """Reads settings from the environment, noting every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def required(self, name: str, why: str = "") -> str:
        value = self.env.get(name)
        if value is None:
            self.problems.append(f"{name} is required but not set{why}")
            return ""
        if not value.strip():
            self.problems.append(f"{name} is set but empty or only whitespace")
            return ""
        return value

    def literal(self, name: str, maximum: int, *, cli_argument: bool, why: str = "") -> str:
        """A name used exactly as given: refused when it cannot be what a person meant."""
        value = self.required(name, why)
        if not value:
            return value
        problem = None
        if value != value.strip():
            problem = "has leading or trailing whitespace"
        elif any(unicodedata.category(ch) in _INVISIBLE for ch in value):
            problem = "contains a control or invisible character (a newline, tab, ...)"
        elif len(value) > maximum:
            problem = f"is longer than {maximum} characters ({len(value)})"
        elif cli_argument and value.startswith(_CLI_PREFIXES):
            start = next(p for p in _CLI_PREFIXES if value.startswith(p))
            problem = f"starts with {start!r}, which the AWS CLI would not take as a name"
        if problem:
            self.problems.append(f"{name} {problem}: {_shown(value)}")
        return value

    def region(self, name: str, why: str = "") -> str:
        value = self.required(name, why)
        if value and not _REGION.fullmatch(value):
            self.problems.append(
                f"{name} is not an AWS region name (like us-east-1): {_shown(value)}"
            )
        return value

    def number(
        self,
        name: str,
        raw: str | None,
        default: float,
        minimum: float,
        maximum: float,
        *,
        zero: bool = False,
    ) -> float:
        """Decimal seconds; 0 is allowed only where `zero` says it means "none"."""
        if raw is None:
            return default
        value = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
        if not (minimum <= value <= maximum and (value > 0 or zero)):
            span = f"from {minimum:g} to" if minimum > 0 or zero else "above 0 and at most"
            self.problems.append(
                f"{name} must be a number of seconds {span} {maximum:g}: {_shown(raw)}"
            )
            return default
        return value

    def count(self, name: str, default: int, maximum: int) -> int:
        raw = self.env.get(name)
        if raw is None:
            return default
        # The length check keeps int() away from Python's limit on digits in a string.
        value = int(raw) if _WHOLE.fullmatch(raw) and len(raw) <= 9 else 0
        if not 1 <= value <= maximum:
            self.problems.append(
                f"{name} must be a whole number from 1 to {maximum}: {_shown(raw)}"
            )
            return default
        return value

    def flag(self, name: str) -> bool:
        raw = self.env.get(name, "")
        if raw.lower() in _TRUE:
            return True
        if raw.lower() not in _FALSE:
            self.problems.append(
                f"{name} must be one of 1/true/yes/on or 0/false/no/off: {_shown(raw)}"
            )
        return False

    def switch(self, name: str) -> bool:
        """On for any value but empty and the "false" words: the original image's `-n` test."""
        return self.env.get(name, "").lower() not in _FALSE

    def executable(self, name: str) -> str:
        raw = self.env.get(name, "aws")
        found = shutil.which(raw, path=self.env.get("PATH")) if raw.strip() else None
        if not found:
            self.problems.append(f"{name}: no executable AWS CLI found at {_shown(raw)}")
            return raw
        return found

    def choice(self, name: str, choices: Sequence[str], *, upper: bool = False) -> str:
        """One of `choices` (the first is the default), in any case."""
        raw = self.env.get(name, choices[0])
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}: {_shown(raw)}")
            return choices[0]
        return value

    def namespace(self, name: str, log_format: str) -> str:
        raw = self.env.get(name, "")
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
            self.problems.append(f"{name} {problem}: {_shown(raw)}")
        elif log_format != "json":
            # CloudWatch Logs finds the metrics only in a line that is one JSON object.
            self.problems.append(f"{name} is set but LOG_FORMAT is not json")
        return raw

    def dimension(self, name: str, value: str) -> None:
        """A value CloudWatch takes as a metric dimension, with CLOUDWATCH_NAMESPACE."""
        if value and (not value.isascii() or len(value) > MAX_DIMENSION):
            self.problems.append(
                f"{name} must be ASCII and at most {MAX_DIMENSION} characters with "
                f"CLOUDWATCH_NAMESPACE, as a CloudWatch dimension: {_shown(value)}"
            )

    def emr_states(self, name: str, emr: bool) -> tuple[str, ...]:
        raw = self.env.get(name)
        if raw is None:
            return EMR_ACTIVE_STATES
        if not emr:
            self.problems.append(f"{name} is set but EMR_PREFIX is not")
            return EMR_ACTIVE_STATES
        states = raw.split(",")
        wrong = [s for s in states if s not in EMR_ACTIVE_STATES]
        if wrong:
            self.problems.append(
                f"{name} must be a comma-separated list of the active EMR cluster states "
                f"{', '.join(EMR_ACTIVE_STATES)}; not among them: {', '.join(map(_shown, wrong))}"
            )
            return EMR_ACTIVE_STATES
        # AWS's order, once each: the query and the log then read the same however written.
        return tuple(s for s in EMR_ACTIVE_STATES if s in states)

    def heartbeat_file(self, name: str) -> str:
        path = self.env.get(name) or DEFAULT_HEARTBEAT_FILE
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            self.problems.append(f"{name}: the directory of {path!r} does not exist")
        return path

    def port(self, name: str) -> int | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        value = int(raw) if _WHOLE.fullmatch(raw) and len(raw) <= 5 else 0
        if not 1 <= value <= 65535:
            self.problems.append(f"{name} must be a TCP port from 1 to 65535: {_shown(raw)}")
            return None
        return value

    def address(self, name: str) -> str:
        raw = self.env.get(name)
        if raw is None:
            return DEFAULT_HTTP_ADDRESS
        if "HTTP_PORT" not in self.env:
            self.problems.append(f"{name} is set but HTTP_PORT is not")
        try:
            # A literal address only: a host name could resolve to an address of another host.
            ipaddress.ip_address(raw)
        except ValueError:
            self.problems.append(
                f"{name} must be an IP address (like 0.0.0.0, 127.0.0.1 or ::): {_shown(raw)}"
            )
            return DEFAULT_HTTP_ADDRESS
        return raw

    def url(self, name: str) -> str | None:
        raw = self.env.get(name, "")
        if not raw:
            return None
        parsed = urlparse(raw)
        blank = any(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or blank:
            self.problems.append(f"{name} must be an http(s) URL: {_shown(raw)}")
        return raw


def dimensions(config: Config) -> dict[str, str]:
    """The metric dimensions that name what is controlled, so that two controllers in one
    account and namespace keep their metrics apart (and a template's alarms can name them):
    each kind's (the ECS service as `CLUSTER/SERVICE`, exactly as configured; the table
    prefix); none in circuit breaker mode."""
    found: dict[str, str] = {}
    for kind in autoscalers.configured(config):
        found.update(kind.dimensions(config))
    return found


def _shown(value: str, limit: int = 80) -> str:
    """A value as a problem message quotes it: escaped, and short even when it is not."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def load(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    """Parse flags and environment into a Config, or raise ConfigError naming every problem.

    Unknown flags are argparse's to report (it exits with status 2, as we do).
    """
    args = build_parser().parse_args(argv)
    read = _Reader(env)
    # Prefixes never reach the CLI: they are compared with names in Python.
    prefixes = {
        name: read.literal(name, maximum, cli_argument=False) if name in env else ""
        for name, maximum in PREFIXES
    }
    if not any(name in env for name, _ in PREFIXES):
        names = ", ".join(name for name, _ in PREFIXES)
        read.problems.append(f"no source of backups is set: set at least one of {names}")
    emr_region = read.region("EMR_REGION")
    table_prefix = (
        read.literal("DYNAMODB_TABLE_PREFIX", MAX_TABLE_NAME, cli_argument=False)
        if "DYNAMODB_TABLE_PREFIX" in env
        else ""
    )
    # The ECS autoscaler may be left out only when DynamoDB's own auto scaling is paused
    # instead, or when only the circuit breaker on HTTP_PORT tells an autoscaler to wait;
    # half an ECS configuration is always a mistake.
    alone = "DYNAMODB_TABLE_PREFIX" in env or "HTTP_PORT" in env
    ecs = not alone or any(name in env for name in AUTOSCALER)
    why = (
        ": the ECS mode needs AUTOSCALER_CLUSTER, AUTOSCALER_REGION and AUTOSCALER_SERVICE"
        if alone
        else " (needed unless DYNAMODB_TABLE_PREFIX is set, or HTTP_PORT for a circuit "
        "breaker only)"
    )
    dynamodb_region = ""
    if "DYNAMODB_TABLE_PREFIX" in env:
        in_env = "DYNAMODB_REGION" in env
        dynamodb_region = read.region("DYNAMODB_REGION") if in_env else emr_region
    elif "DYNAMODB_REGION" in env:
        read.problems.append("DYNAMODB_REGION is set but DYNAMODB_TABLE_PREFIX is not")
    # Each kind's prefix in its field. Typed as Any: mypy cannot tell that each such field is
    # a str (a test checks that every kind has one).
    by_field: dict[str, Any] = {source.field: prefixes[source.setting] for source in sources.ALL}
    config = Config(
        **by_field,
        emr_region=emr_region,
        autoscaler_cluster=(
            read.literal("AUTOSCALER_CLUSTER", MAX_NAME, cli_argument=True, why=why) if ecs else ""
        ),
        autoscaler_region=read.region("AUTOSCALER_REGION", why) if ecs else "",
        autoscaler_service=(
            read.literal("AUTOSCALER_SERVICE", MAX_NAME, cli_argument=True, why=why) if ecs else ""
        ),
        interval=(
            read.number("--interval", args.interval, 60.0, 0, MAX_INTERVAL)
            if args.interval is not None
            else read.number("POLL_INTERVAL", env.get("POLL_INTERVAL"), 60.0, 0, MAX_INTERVAL)
        ),
        once=args.once,
        dry_run=args.dry_run if args.dry_run is not None else read.flag("DRY_RUN"),
        debug=read.switch("DEBUG_OUTPUT"),
        aws_cli=read.executable("AWS_CLI"),
        endpoint_url=read.url("AWS_ENDPOINT_URL"),
        # Below a second even a healthy CLI has not started, so every call would time out.
        call_timeout=read.number("CALL_TIMEOUT", env.get("CALL_TIMEOUT"), 30.0, 1, 3600.0),
        call_attempts=read.count("CALL_ATTEMPTS", 4, 20),
        max_concurrent_calls=(
            read.count("MAX_CONCURRENT_CALLS", 1, MAX_CONCURRENT_CALLS)
            if "MAX_CONCURRENT_CALLS" in env
            else None
        ),
        dynamodb_table_prefix=table_prefix,
        dynamodb_region=dynamodb_region,
        resume_count=read.count("RESUME_COUNT", 1, MAX_TASKS),
        resume_count_max=read.count("RESUME_COUNT_MAX", 10, MAX_TASKS),
        resume_delay=read.number(
            "RESUME_DELAY", env.get("RESUME_DELAY"), 0.0, 0, MAX_INTERVAL, zero=True
        ),
        log_format=read.choice("LOG_FORMAT", LOG_FORMATS),
        log_level=read.choice("LOG_LEVEL", LOG_LEVELS, upper=True),
        heartbeat_file=read.heartbeat_file("HEARTBEAT_FILE"),
        http_port=read.port("HTTP_PORT"),
        http_address=read.address("HTTP_ADDRESS"),
        release=args.release,
        emr_states=read.emr_states("EMR_STATES", "EMR_PREFIX" in env),
        max_backup_age=read.number(
            "MAX_BACKUP_AGE", env.get("MAX_BACKUP_AGE"), 0.0, 0, MAX_BACKUP_AGE, zero=True
        ),
        max_fan_out=read.count("MAX_FAN_OUT", DEFAULT_MAX_FAN_OUT, MAX_MAX_FAN_OUT),
    )
    namespace = read.namespace("CLOUDWATCH_NAMESPACE", config.log_format)
    if namespace:
        service = dimensions(config).get(autoscalers.ecs.DIMENSION, "")
        read.dimension("AUTOSCALER_CLUSTER/AUTOSCALER_SERVICE", service)
        read.dimension("DYNAMODB_TABLE_PREFIX", config.dynamodb_table_prefix)
        config = dataclasses.replace(config, cloudwatch_namespace=namespace)
    if config.resume_count > config.resume_count_max:
        # A record above RESUME_COUNT_MAX is refused for RESUME_COUNT: that must be trusted.
        read.problems.append(
            f"RESUME_COUNT ({config.resume_count}) is above RESUME_COUNT_MAX "
            f"({config.resume_count_max})"
        )
    if read.problems:
        raise ConfigError(read.problems)
    return config
