"""The heartbeat each successful tick leaves, and the `healthcheck` command that judges it.

The heartbeat file holds one JSON object, replaced atomically (a temp file in the same
directory, then rename), so a reader sees either the previous beat or the new one, never half:

    {"last_tick": 1795450000.25, "interval": 60.0, "call_timeout": 30.0}

Why content and not the file's mtime: anything can bump an mtime (`touch`, a copy, an
orchestrator creating an empty file), and a bare timestamp cannot tell "healthy" from "a file
that merely exists". The content also carries the interval and call timeout the running
controller really uses: `docker run IMAGE --interval 10` passes the interval as a flag, which
the HEALTHCHECK process never sees, so the judge must not guess it from its own environment.
The only setting `healthcheck` reads is HEARTBEAT_FILE.

Times are wall-clock seconds, not a monotonic clock: the file outlives the process (and can
outlive a reboot when HEARTBEAT_FILE is on a disk), where a monotonic reading means nothing.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from controller.config import DEFAULT_HEARTBEAT_FILE, PROG

log = logging.getLogger(__name__)

# A tick that succeeded this many intervals ago (plus one call timeout for a slow call) is
# still fresh: one or two failed ticks in a row are an AWS hiccup, three are a problem.
STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class Beat:
    last_tick: float
    interval: float
    call_timeout: float

    @property
    def limit(self) -> float:
        return STALE_AFTER_INTERVALS * self.interval + self.call_timeout


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


class Heartbeat:
    """Called after each successful tick: records it for `healthcheck`."""

    def __init__(
        self,
        path: Path,
        interval: float,
        call_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.interval = interval
        self.call_timeout = call_timeout
        self.clock = clock

    def reset(self) -> None:
        """Forget a beat left by an earlier run: a restarted container keeps its /tmp."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as error:
            log.warning("cannot remove the old heartbeat file %s: %s", self.path, error)

    def __call__(self) -> None:
        beat = Beat(self.clock(), self.interval, self.call_timeout)
        try:
            _replace(self.path, json.dumps(asdict(beat)) + "\n")
        except OSError as error:
            # The tick itself succeeded; the health check will report the missing beat.
            log.warning("cannot write the heartbeat file %s: %s", self.path, error)


def _replace(path: Path, text: str) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            # Nothing secret in it; a health checker running as another user may read it.
            os.fchmod(out.fileno(), 0o644)
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


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
