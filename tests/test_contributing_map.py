"""Every path CONTRIBUTING names exists, and every name it gives an interface or a registry
by is defined where it says: a contributor who follows the map must not reach a dead end.
The map may leave modules out; renaming one it names fails here."""

from __future__ import annotations

import re

import pytest

from tests.support.image import ROOT

PAGE = ROOT / "CONTRIBUTING.md"
# A path in a code span: a file or a folder of this repository.
_PATH = re.compile(r"`((?:controller|tests|scripts|deploy|docs)(?:/[\w.-]+)*/?)`")


def paths() -> list[str]:
    return sorted(set(_PATH.findall(PAGE.read_text())))


def test_the_page_names_paths() -> None:
    # The pattern must keep finding them, or the test below checks nothing.
    assert {"controller/sources/", "controller/autoscalers/__init__.py"} <= set(paths())


@pytest.mark.parametrize("path", paths())
def test_every_path_it_names_exists(path: str) -> None:
    assert (ROOT / path).exists()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("controller/autoscalers/autoscaler.py", "class Autoscaler("),
        ("controller/sources/backup.py", "class Source("),
        ("controller/sources/backup.py", "class JobRuns("),
        ("controller/autoscalers/__init__.py", "ALL:"),
        ("controller/sources/__init__.py", "ALL:"),
    ],
)
def test_the_interfaces_and_registries_it_names_are_there(module: str, name: str) -> None:
    assert f"`{name.rsplit(maxsplit=1)[-1].rstrip('(:')}`" in PAGE.read_text()
    assert name in (ROOT / module).read_text()
