"""The heartbeat each successful tick leaves for `healthcheck` (controller/runtime/health.py).

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

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Where the heartbeat goes without HEARTBEAT_FILE. Here, not in config.py, so that the health
# check reads it without importing the settings (and with them the sources of backups).
DEFAULT_HEARTBEAT_FILE = "/tmp/dynamodb-autoscaler-control.heartbeat"  # noqa: S108
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
