"""The `healthcheck` command: judge the heartbeat the controller's last successful tick left.

The file's format, and why it holds content rather than relying on an mtime, are described in
controller/runtime/heartbeat.py, which writes it. The only setting `healthcheck` reads is
HEARTBEAT_FILE. It is its own module so that a tick never imports it, and the check (run
every 30 s in the container) imports neither the CLI runner nor the rule.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from controller import PROG
from controller.runtime.heartbeat import DEFAULT_HEARTBEAT_FILE, STALE_AFTER_INTERVALS, Beat


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


def parse(text: str) -> Beat:
    """A Beat from the file's text, or ValueError saying what is wrong with it."""
    doc = json.loads(text)  # JSONDecodeError is a ValueError
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    values = {}
    for name in (field.name for field in fields(Beat)):
        value = doc.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ValueError(f"{name!r} is not a number: {value!r}")
        if not math.isfinite(value) or (name != "last_tick" and value <= 0):
            raise ValueError(f"{name!r} is out of range: {value!r}")
        values[name] = float(value)
    try:
        _utc(values["last_tick"])
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"'last_tick' is not a time: {values['last_tick']!r}") from None
    return Beat(**values)


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def check(path: Path, now: float) -> Verdict:
    """Judge the heartbeat at `path` as of `now` (wall-clock seconds)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Verdict(False, f"no successful tick yet: no heartbeat file at {path}")
    except (OSError, UnicodeDecodeError) as error:
        return Verdict(False, f"cannot read the heartbeat file {path}: {error}")
    try:
        beat = parse(text)
    except ValueError as error:
        return Verdict(False, f"the heartbeat file {path} is unreadable: {error}")
    age = now - beat.last_tick
    when = _utc(beat.last_tick).isoformat(timespec="seconds")
    if age < -beat.limit:
        # Only a clock stepped back (or a forged file) gets here; do not trust it for ever.
        return Verdict(False, f"the last successful tick at {when} is {-age:.0f}s in the future")
    seen = (
        f"last successful tick at {when}, {max(age, 0):.0f}s ago; limit {beat.limit:g}s "
        f"({STALE_AFTER_INTERVALS} x {beat.interval:g}s interval "
        f"+ {beat.call_timeout:g}s call timeout)"
    )
    if age > beat.limit:
        return Verdict(False, f"stale: {seen}")
    return Verdict(True, seen)


def main(argv: Sequence[str], env: Mapping[str, str]) -> int:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} healthcheck",
        description=(
            "Exit 0 when the controller's last successful tick is recent (within 3 intervals "
            "plus one call timeout), 1 with the reason otherwise. Reads the heartbeat file "
            f"named by HEARTBEAT_FILE (default {DEFAULT_HEARTBEAT_FILE})."
        ),
    )
    parser.parse_args(argv)
    path = Path(env.get("HEARTBEAT_FILE") or DEFAULT_HEARTBEAT_FILE)
    verdict = check(path, time.time())
    if verdict.healthy:
        print(f"healthy: {verdict.reason}")
        return 0
    print(f"unhealthy: {verdict.reason}", file=sys.stderr)
    return 1
