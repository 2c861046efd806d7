"""PID 1's other duty: reap the orphans it inherits, and never a child someone else waits for.

In a container the controller is PID 1, and every process in the container whose parent dies
becomes its child: a credential_process, or a wrapper's child, left behind by a CLI call killed
at its timeout. Nobody else will ever wait for those, so unless PID 1 does, each stays a zombie
(a slot in the process table) for as long as the container runs.

The CLI runner waits for its own processes (sh's wait), and reaping one of those here would
steal its exit status: a failed call would look like a vanished process. So the reaper only
peeks (waitid with WNOWAIT) and reaps a pid only after the runner, asked under its lock, says
the pid is not one of its calls. The runner starts and registers each CLI under that same lock,
so a pid it does not know there cannot be one it is about to wait for.

Nothing polls: the reaper thread sleeps in waitid until a child exits. With no child at all it
sleeps until the runner starts a call, since (in a container) orphans come from the calls'
process trees; one adopted from elsewhere (a `docker exec` that left something behind) is
reaped at the next call. See docs/operations-pid1.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Parent(Protocol):
    """The part of the program that starts child processes and waits for each itself."""

    @property
    def children(self) -> threading.Condition:
        """Held while a child is started and registered; notified when one starts or ends."""

    @property
    def started(self) -> int:
        """How many children were started so far (read with `children` held)."""

    def waits_for(self, pid: int) -> bool:
        """Whether `pid` is a child it started and has not yet waited for (`children` held)."""


def start(parent: Parent) -> threading.Thread:
    """Reap, in a daemon thread, every exited child that `parent` does not wait for itself."""
    thread = threading.Thread(target=reap_forever, args=(parent,), name="reaper", daemon=True)
    thread.start()
    return thread


def reap_forever(parent: Parent) -> None:
    while True:
        reap_next(parent)


def reap_next(parent: Parent) -> None:
    """Wait for the next child to exit; reap it unless `parent` waits for it itself."""
    with parent.children:
        started = parent.started
    try:
        # WNOWAIT: look at the exited child, leave it waitable (its status may not be ours).
        exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:
        # No child at all: the next orphan can only come from a call started after this.
        with parent.children:
            parent.children.wait_for(lambda: parent.started != started)
        return
    if exited is None:  # only with WNOHANG, which is not asked for
        return
    pid = exited.si_pid
    with parent.children:
        if parent.waits_for(pid):
            # One of the runner's calls, about to be collected by its own wait. Waiting for
            # that here keeps waitid from returning the same zombie again and again.
            parent.children.wait_for(lambda: not parent.waits_for(pid))
            return
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    log.debug("reaped orphaned process %d (%s)", pid, _status(exited))


def _status(exited: os.waitid_result) -> str:
    if exited.si_code == os.CLD_EXITED:
        return f"exit status {exited.si_status}"
    return f"killed by signal {exited.si_status}"
