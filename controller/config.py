"""Settings: environment variables (as the original image took them) and a few flags.

Everything is validated at once, before any AWS call, and every problem is reported
together so that a person fixes the configuration in one go.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

from controller import __version__

PROG = "dynamodb-autoscaler-control"

# Every AWS region name has this shape (us-east-1, us-gov-west-1, ap-southeast-2, ...).
# Checking it here turns a typo into a clear start-up error instead of an endpoint error.
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
MAX_INTERVAL = 24 * 3600.0
DEFAULT_HEARTBEAT_FILE = "/tmp/dynamodb-autoscaler-control.heartbeat"  # noqa: S108


@dataclass(frozen=True)
class Config:
    emr_prefix: str
    emr_region: str
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
    heartbeat_file: str = DEFAULT_HEARTBEAT_FILE


class ConfigError(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Pause a DynamoDB throughput autoscaler (an ECS service) while an EMR backup "
            "cluster runs, and resume it afterwards. Settings come from environment "
            "variables; see the README."
        ),
        epilog=(
            "required environment: EMR_PREFIX, EMR_REGION, AUTOSCALER_CLUSTER, "
            "AUTOSCALER_REGION, AUTOSCALER_SERVICE. "
            "Exit status: 0 ok, 1 a --once tick failed, 2 bad configuration. "
            f"'{PROG} healthcheck' judges the heartbeat each successful tick writes."
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
        help="decide and log, but never change the service (default: $DRY_RUN)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


class _Reader:
    """Reads settings from the environment, noting every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def required(self, name: str) -> str:
        value = self.env.get(name)
        if value is None:
            self.problems.append(f"{name} is required but not set")
            return ""
        if not value.strip():
            self.problems.append(f"{name} is set but empty")
            return ""
        return value

    def region(self, name: str) -> str:
        value = self.required(name)
        if value and not _REGION.match(value):
            self.problems.append(f"{name} is not an AWS region name (like us-east-1): {value!r}")
        return value

    def number(self, name: str, raw: str | None, default: float, maximum: float) -> float:
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0 or value > maximum:
            self.problems.append(
                f"{name} must be a number of seconds above 0 and at most {maximum:g}: {raw!r}"
            )
            return default
        return value

    def count(self, name: str, default: int, maximum: int) -> int:
        raw = self.env.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= maximum:
            self.problems.append(f"{name} must be a whole number from 1 to {maximum}: {raw!r}")
            return default
        return value

    def flag(self, name: str) -> bool:
        raw = self.env.get(name, "")
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() not in _FALSE:
            self.problems.append(f"{name} must be one of 1/true/yes/on or 0/false/no/off: {raw!r}")
        return False

    def executable(self, name: str) -> str:
        raw = self.env.get(name, "aws")
        found = shutil.which(raw, path=self.env.get("PATH")) if raw.strip() else None
        if not found:
            self.problems.append(f"{name}: no executable AWS CLI found at {raw!r}")
            return raw
        return found

    def heartbeat_file(self, name: str) -> str:
        path = self.env.get(name) or DEFAULT_HEARTBEAT_FILE
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            self.problems.append(f"{name}: the directory of {path!r} does not exist")
        return path

    def url(self, name: str) -> str | None:
        raw = self.env.get(name, "")
        if not raw:
            return None
        parsed = urlparse(raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.problems.append(f"{name} must be an http(s) URL: {raw!r}")
        return raw


def load(argv: Sequence[str], env: Mapping[str, str]) -> Config:
    """Parse flags and environment into a Config, or raise ConfigError naming every problem.

    Unknown flags are argparse's to report (it exits with status 2, as we do).
    """
    args = build_parser().parse_args(argv)
    read = _Reader(env)
    config = Config(
        emr_prefix=read.required("EMR_PREFIX"),
        emr_region=read.region("EMR_REGION"),
        autoscaler_cluster=read.required("AUTOSCALER_CLUSTER"),
        autoscaler_region=read.region("AUTOSCALER_REGION"),
        autoscaler_service=read.required("AUTOSCALER_SERVICE"),
        interval=(
            read.number("--interval", args.interval, 60.0, MAX_INTERVAL)
            if args.interval is not None
            else read.number("POLL_INTERVAL", env.get("POLL_INTERVAL"), 60.0, MAX_INTERVAL)
        ),
        once=args.once,
        dry_run=args.dry_run if args.dry_run is not None else read.flag("DRY_RUN"),
        debug=bool(env.get("DEBUG_OUTPUT")),
        aws_cli=read.executable("AWS_CLI"),
        endpoint_url=read.url("AWS_ENDPOINT_URL"),
        call_timeout=read.number("CALL_TIMEOUT", env.get("CALL_TIMEOUT"), 30.0, 3600.0),
        call_attempts=read.count("CALL_ATTEMPTS", 4, 20),
        heartbeat_file=read.heartbeat_file("HEARTBEAT_FILE"),
    )
    if read.problems:
        raise ConfigError(read.problems)
    return config
