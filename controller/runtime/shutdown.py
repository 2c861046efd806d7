"""SIGTERM and SIGINT, acted on in a thread of their own, never inside a signal handler.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread holds a lock: the stop Event's own lock inside `Event.wait`, or the CLI runner's. A
handler that took the same lock (`stop.set()` does) would wait for itself for ever, and the
process would ignore every later SIGTERM. So the Python-level handlers do nothing; the
interpreter's C-level handler writes the signal number to a wakeup pipe (`set_wakeup_fd`),
and a daemon thread reading that pipe runs the callback in ordinary context.

The do-nothing handlers still matter: the kernel never applies a signal's default action to
PID 1 (the controller in a container), so without a handler SIGTERM would be dropped.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _deliver_only(_signum: int, _frame: FrameType | None) -> None:
    """Installed so that the signal is delivered (and written to the wakeup pipe)."""


def on_signal(
    callback: Callable[[signal.Signals], None], signals: Iterable[signal.Signals] = SIGNALS
) -> None:
    """Run `callback(signal)` in a watcher thread for each of `signals`. Main thread only."""
    wanted = {int(sig) for sig in signals}
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # set_wakeup_fd requires it

    def watch() -> None:
        while True:
            for signum in os.read(read_end, 64):
                if signum in wanted:
                    callback(signal.Signals(signum))

    threading.Thread(target=watch, name="signals", daemon=True).start()
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    for signum in wanted:
        signal.signal(signum, _deliver_only)
