"""The console script: `healthcheck`, or the controller itself.

Dispatched before anything else is imported, because the two need different things. The
health check, run every 30 s by Docker or ECS, reads one small file: it needs no settings but
HEARTBEAT_FILE, no CLI runner (`sh` alone pulls in asyncio) and no rule. So each branch
imports its own module here, and the check starts in a fraction of the controller's start-up
(docs/performance.md).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from controller import PROG


def _before_start_up(signum: int, _frame: FrameType | None) -> None:
    # Nothing is changed before the first tick, so a stop this early is a clean one.
    sys.stderr.write(f"{PROG}: {signal.Signals(signum).name} during start-up; exiting\n")
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    # First of all: a `docker stop` or a rolling deploy right after a start must not read as
    # a failure (exit 143). The controller's own handlers replace these once it can stop a tick.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _before_start_up)
        # A launcher may hand its blocked signals down through exec; blocked, a SIGTERM would
        # never reach the controller and every stop would end in a SIGKILL.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGTERM, signal.SIGINT))
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["healthcheck"]:
        from controller.runtime import health  # noqa: PLC0415 (imported per branch, see above)

        return health.main(args[1:], dict(os.environ))
    from controller import cli  # noqa: PLC0415 (imported per branch, see above)

    return cli.main(args)
