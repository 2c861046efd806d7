"""CONTRIBUTING's map of the code matches the folders: every module of controller/ is named in
the table of its own folder, with its job. A module added, moved or renamed without its row
fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.image import ROOT

PACKAGE = ROOT / "controller"
_FOLDER = re.compile(r"^### `(controller/(?:\w+/)?)`", re.M)


def modules() -> list[Path]:
    """Every module, less the `__init__.py` files that hold only their folder's docstring."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        body = ast.parse(path.read_text()).body
        if path.name == "__init__.py" and len(body) <= 1 and ast.get_docstring(ast.Module(body)):
            continue
        found.append(path)
    return found


def folders() -> dict[str, str]:
    """The map's text under each `### \\`controller/...\\`` heading, by folder."""
    code = (ROOT / "CONTRIBUTING.md").read_text().split("\n## Code\n", 1)[1]
    code = code.split("\n## ", 1)[0]
    parts = _FOLDER.split(code)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_map_has_a_table_per_folder() -> None:
    packages = {f"{p.parent.relative_to(ROOT)}/" for p in PACKAGE.rglob("__init__.py")}

    assert set(folders()) == packages


@pytest.mark.parametrize("module", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_has_a_row_with_its_job_under_its_folder(module: Path) -> None:
    path = str(module.relative_to(ROOT))
    table = folders().get(f"{module.parent.relative_to(ROOT)}/", "")
    # A row may name a module by its path or, after the first, by its file name alone.
    rows = [
        row
        for row in table.splitlines()
        if row.startswith("| ")
        and re.search(rf"`({re.escape(path)}|{re.escape(module.name)})`", row.split(" | ")[0])
    ]

    assert rows, f"CONTRIBUTING.md's map has no row for {path} under its folder"
    jobs = [row.strip("| ").split(" | ")[1:] for row in rows]
    assert all(job and job[0].strip() for job in jobs), f"a row for {path} says no job"
