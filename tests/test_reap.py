"""The reaper on its own (controller/runtime/reap.py), with real child processes and a stand-in for
the runner. tests/test_pid1.py runs it as PID 1 with the real runner.

Each case runs in a fresh Python: the reaper takes any exited child that nobody claims, and
pytest's process has children of its own (moto_server) whose statuses it must keep.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import os, subprocess, threading, time
    from controller.runtime import reap

    class Runner:
        '''Claims the children it registers, as the CLI runner claims its calls.'''
        def __init__(self):
            self.children = threading.Condition()
            self.started = 0
            self.own = set()
        def waits_for(self, pid):
            return pid in self.own

    def gone(pid):
        try:
            os.kill(pid, 0)  # a zombie still answers; a reaped process does not
        except ProcessLookupError:
            return True
        return False

    def exited(child):
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # waits, reaps nothing

    runner = Runner()
    # Both exit before the reaper starts, the stray first: the reaper looks at the oldest
    # exited child first, and waits while that one is claimed.
    stray = subprocess.Popen(["sh", "-c", "exit 3"])
    exited(stray)
    with runner.children:
        own = subprocess.Popen(["sh", "-c", "exit 7"])
        runner.own.add(own.pid)
        runner.started += 1
    exited(own)
    reap.start(runner)

    deadline = time.monotonic() + 20
    while not gone(stray.pid):
        assert time.monotonic() < deadline, "the stray child was not reaped"
        time.sleep(0.01)
    # The claimed child exited long ago too, and is still there for its owner to collect.
    assert not gone(own.pid), "the reaper took a child it was told was claimed"
    assert own.wait() == 7
    with runner.children:
        runner.own.discard(own.pid)
        runner.children.notify_all()

    # With no child left, the reaper sleeps until the runner starts one; then it reaps an
    # unclaimed child again.
    with runner.children:
        later = subprocess.Popen(["true"])
        runner.started += 1
        runner.children.notify_all()
    deadline = time.monotonic() + 20
    while not gone(later.pid):
        assert time.monotonic() < deadline, "no reaping after the runner started a child"
        time.sleep(0.01)
    print("ok")
    """
)


def test_the_reaper_reaps_unclaimed_children_and_leaves_claimed_ones_to_their_owner() -> None:
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"
