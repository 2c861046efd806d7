"""A shutdown signal is acted on even when it lands while the main thread holds a lock."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.support.image import ROOT

# The signal arrives while the main thread holds a lock the shutdown work needs, as when it
# lands inside Event.wait (which holds the Event's lock) and the work calls Event.set().
# Work done inside the Python-level handler would wait for its own thread for ever.
PROGRAM = """
import os, signal, sys, threading
from controller.runtime.shutdown import on_signal

held = threading.Lock()
handled = threading.Event()

def callback(received):
    with held:
        print("handled", received.name, flush=True)
        handled.set()

on_signal(callback)
with held:
    os.kill(os.getpid(), signal.{name})
    for _ in range(10000):  # bytecodes: the Python-level handler runs in here
        pass
sys.exit(0 if handled.wait(30) else 1)
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_landing_while_the_main_thread_holds_a_lock_is_handled(
    sig: signal.Signals,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM.format(name=sig.name)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (result.returncode, result.stdout) == (0, f"handled {sig.name}\n"), result.stderr
