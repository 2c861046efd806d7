"""Reading settings from the environment: the shared reader every kind parses its own with.

Every problem is noted, not raised, so that configuration reports them all at once
(controller/config.py). Nothing here knows a kind: the kinds import this.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import shutil
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlparse

Row = tuple[str, str, str]  # (NAME, default, what it does); a default of "unset": off or none

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
# CloudWatch's limit on a dimension value (Dimension).
MAX_DIMENSION = 1024


@dataclass(frozen=True)
class Shared:
    """What every kind may need of the settings all kinds share, when it reads its own."""

    region: str  # EMR_REGION: where every source is read, and a kind's default region
    max_fan_out: int = 200
    # Metric dimensions must fit CloudWatch's rules when CLOUDWATCH_NAMESPACE is set.
    cloudwatch: bool = False
    # The settings that turn on the other kinds of autoscaler, and whether one of them (or the
    # circuit breaker's HTTP_PORT) is set: the kind that is on by default may then be off.
    others: tuple[str, ...] = ()
    alone: bool = False
    # A kind pauses per table each backup names (PAUSE_SCOPE=named): the sources read names.
    named: bool = False


class Reader:
    """Reads settings from the environment, noting every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def __contains__(self, name: str) -> bool:
        return name in self.env

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
            self.problems.append(f"{name} {problem}: {shown(value)}")
        return value

    def prefix(self, name: str, maximum: int) -> str:
        """A name prefix compared in Python (never passed to the CLI); "" when not set."""
        return self.literal(name, maximum, cli_argument=False) if name in self.env else ""

    def region(self, name: str, why: str = "") -> str:
        value = self.required(name, why)
        if value and not _REGION.fullmatch(value):
            self.problems.append(
                f"{name} is not an AWS region name (like us-east-1): {shown(value)}"
            )
        return value

    def seconds(
        self,
        name: str,
        default: float,
        minimum: float,
        maximum: float,
        *,
        zero: bool = False,
        raw: str | None = None,
    ) -> float:
        """Decimal seconds; 0 is allowed only where `zero` says it means "none". `raw` is a
        flag's value, read instead of the environment's."""
        raw = self.env.get(name) if raw is None else raw
        if raw is None:
            return default
        value = float(raw) if _DECIMAL.fullmatch(raw) else math.nan
        if not (minimum <= value <= maximum and (value > 0 or zero)):
            span = f"from {minimum:g} to" if minimum > 0 or zero else "above 0 and at most"
            self.problems.append(
                f"{name} must be a number of seconds {span} {maximum:g}: {shown(raw)}"
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
            self.problems.append(f"{name} must be a whole number from 1 to {maximum}: {shown(raw)}")
            return default
        return value

    def flag(self, name: str) -> bool:
        raw = self.env.get(name, "")
        if raw.lower() in _TRUE:
            return True
        if raw.lower() not in _FALSE:
            self.problems.append(
                f"{name} must be one of 1/true/yes/on or 0/false/no/off: {shown(raw)}"
            )
        return False

    def switch(self, name: str) -> bool:
        """On for any value but empty and the "false" words: the original image's `-n` test."""
        return self.env.get(name, "").lower() not in _FALSE

    def executable(self, name: str) -> str:
        raw = self.env.get(name, "aws")
        found = shutil.which(raw, path=self.env.get("PATH")) if raw.strip() else None
        if not found:
            self.problems.append(f"{name}: no executable AWS CLI found at {shown(raw)}")
            return raw
        return found

    def choice(self, name: str, choices: Sequence[str], *, upper: bool = False) -> str:
        """One of `choices` (the first is the default), in any case."""
        raw = self.env.get(name, choices[0])
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)}: {shown(raw)}")
            return choices[0]
        return value

    def subset(self, name: str, allowed: Sequence[str], what: str) -> tuple[str, ...]:
        """A comma-separated list of some of `allowed`, in `allowed`'s order, once each (all of
        them when not set), so that the query and the log read the same however written."""
        raw = self.env.get(name)
        if raw is None:
            return tuple(allowed)
        wrong = [s for s in raw.split(",") if s not in allowed]
        if wrong:
            self.problems.append(
                f"{name} must be a comma-separated list of {what} {', '.join(allowed)}; not "
                f"among them: {', '.join(map(shown, wrong))}"
            )
            return tuple(allowed)
        return tuple(s for s in allowed if s in raw.split(","))

    def only_with(self, name: str, needed: str) -> bool:
        """False, noting the problem, when `name` is set without `needed`."""
        if name in self.env and needed not in self.env:
            self.problems.append(f"{name} is set but {needed} is not")
            return False
        return True

    def file_in_a_directory(self, name: str, default: str) -> str:
        path = self.env.get(name) or default
        if not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            self.problems.append(f"{name}: the directory of {path!r} does not exist")
        return path

    def port(self, name: str) -> int | None:
        raw = self.env.get(name)
        if raw is None:
            return None
        value = int(raw) if _WHOLE.fullmatch(raw) and len(raw) <= 5 else 0
        if not 1 <= value <= 65535:
            self.problems.append(f"{name} must be a TCP port from 1 to 65535: {shown(raw)}")
            return None
        return value

    def address(self, name: str, default: str) -> str:
        raw = self.env.get(name)
        if raw is None:
            return default
        try:
            # A literal address only: a host name could resolve to an address of another host.
            ipaddress.ip_address(raw)
        except ValueError:
            self.problems.append(
                f"{name} must be an IP address (like 0.0.0.0, 127.0.0.1 or ::): {shown(raw)}"
            )
            return default
        return raw

    def url(self, name: str) -> str | None:
        raw = self.env.get(name, "")
        if not raw:
            return None
        parsed = urlparse(raw)
        blank = any(ch.isspace() or unicodedata.category(ch) in _INVISIBLE for ch in raw)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or blank:
            self.problems.append(f"{name} must be an http(s) URL: {shown(raw)}")
        return raw

    def dimension(self, name: str, value: str) -> None:
        """A value CloudWatch takes as a metric dimension, with CLOUDWATCH_NAMESPACE."""
        if value and (not value.isascii() or len(value) > MAX_DIMENSION):
            self.problems.append(
                f"{name} must be ASCII and at most {MAX_DIMENSION} characters with "
                f"CLOUDWATCH_NAMESPACE, as a CloudWatch dimension: {shown(value)}"
            )


def shown(value: str, limit: int = 80) -> str:
    """A value as a problem message quotes it: escaped, and short even when it is not."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


# The AWS CLI's own variables (AWS_PROFILE, AWS_ENDPOINT_URL_DYNAMODB, HTTP_PROXY...) share a
# prefix with settings: they are never taken for typos.
_NOT_OURS = ("AWS_", "HTTP_PROXY")


def strays(env: Mapping[str, str], known: Sequence[str]) -> list[str]:
    """A warning for each variable that looks like a setting but is none: close to a setting's
    name or under one of the settings' prefixes. A typo would otherwise be ignored silently."""
    # Imported here: it costs start-up time, and most runs have no stray variable to name.
    import difflib  # noqa: PLC0415

    warnings = []
    for name in sorted(env):
        if name in known or name.startswith(_NOT_OURS):
            continue
        head = name.split("_")[0] + "_"
        same = [k for k in known if k.startswith(head)] if "_" in name else []
        # A typo keeps the first letters: comparing with those alone keeps start-up quick.
        alike = [k for k in known if k[:2] == name[:2]]
        close = difflib.get_close_matches(name, alike, n=1, cutoff=0.85) or (
            difflib.get_close_matches(name, same, n=1, cutoff=0.7)
        )
        if close:
            warnings.append(f"{name} is not a setting; did you mean {close[0]}?")
        elif same:
            warnings.append(f"{name} is not a setting (those named like it: {', '.join(same)})")
    return warnings
