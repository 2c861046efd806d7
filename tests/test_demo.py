"""scripts/demo: what a person running it sees, against the session's moto_server."""

from __future__ import annotations

import importlib.util
import re
from types import ModuleType

import pytest

from tests.support.image import ROOT
from tests.support.moto import MotoServer

pytestmark = pytest.mark.integration


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo", ROOT / "scripts" / "demo.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The demo waits for the controller's ticks, two POLL_INTERVALs of 20 s, plus the ticks
# themselves, which take several times longer on a busy machine than on a quiet one.
@pytest.mark.timeout(300)
def test_demo_shows_both_modes_paused_during_the_backup_and_resumed_after(
    moto_server: MotoServer, capsys: pytest.CaptureFixture[str]
) -> None:
    moto_server.reset()

    code = load_demo().main(moto_server.url)

    out = capsys.readouterr().out
    assert code == 0, out
    controller = [line for line in out.splitlines() if line.startswith("    controller | ")]
    pause = next(line for line in controller if "action: pause:" in line)
    resume = next(line for line in controller if "action: resume:" in line)
    assert "pause: desired 2 -> 0" in pause
    assert "pause: table orders-demo, 2 of 2 scalable targets" in pause
    assert "resume: desired 0 -> 2" in resume
    assert "resume: table orders-demo, 2 of 2 scalable targets" in resume
    assert controller.index(pause) < controller.index(resume)
    # What the demo says it saw, from the fake AWS itself rather than from the log.
    assert re.search(r"paused-desired-count:[0-9a-f]{12}=2", out), "a record of that pause's own"
    assert "reads: suspended (scale-in, scale-out, scheduled)" in out
    assert "writes: suspended (scale-in, scale-out, scheduled)" in out
    assert "auto scaling is back (reads: not suspended, writes: not suspended)" in out
    assert "clean exit (status 0)" in out
    # Nothing a user would have to act on: a warning in a demo run is a demo that is wrong.
    assert [line for line in out.splitlines() if "WARNING" in line] == []
