"""--help, the README's settings table, docs/configuration.md and config.py name the same
settings: one added to one of them and not the others fails here."""

from __future__ import annotations

import re
import subprocess
import sys

from controller import config as settings
from tests.support.image import ROOT
from tests.test_deploy import documented_settings

# Left to the AWS CLI itself: the README names them so that people know they are never logged.
CLI_OWN = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}


def read_by_config() -> set[str]:
    """The settings config.py and the kinds (each reads its own) name."""
    package = ROOT / "controller"
    files = [package / "config.py", *(package / "sources").glob("*.py")]
    files += (package / "autoscalers").glob("*.py")
    text = "\n".join(path.read_text() for path in files)
    # An EMR step state is written like a setting, and is none.
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"', text)) - {"CANCEL_PENDING"}


def test_help_lists_every_setting_config_reads() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "controller", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert read_by_config() == set(settings.names())
    missing = [name for name in settings.names() if not re.search(rf"^\s+{name}\s", shown, re.M)]
    assert not missing, f"--help does not list {missing}:\n{shown}"


def test_the_readme_table_names_exactly_the_settings() -> None:
    assert documented_settings() - CLI_OWN == set(settings.names())


def test_the_configuration_page_says_what_each_setting_accepts() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text()
    table = page.split("\n## Odd values", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row)}

    assert named == set(settings.names())
