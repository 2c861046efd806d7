"""The package's modules import each other in layers, with no cycle at import time: a module
may see another only as a type (under TYPE_CHECKING) when that one imports it. A cycle would
make the import order matter, and a new kind could break start-up by where it is listed."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "controller"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_at_import_time(path: Path) -> set[str]:
    """The package's modules that `path` imports when it is imported: its top-level imports,
    not those under `if TYPE_CHECKING:` nor those inside functions (imported per branch)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from controller.sources import emr` is the module emr; `from controller.decide
            # import Observed` is the module decide.
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in MODULES else node.module)
    # A module's own packages are imported before it, whatever it says: no edge of its own.
    name = module_name(path) if path.is_relative_to(PACKAGE) else ""
    return {other for other in found if other in MODULES and not name.startswith(f"{other}.")}


GRAPH = {name: imported_at_import_time(path) - {name} for name, path in MODULES.items()}


def test_the_import_graph_has_no_cycle() -> None:
    try:
        order = list(TopologicalSorter(GRAPH).static_order())
    except CycleError as error:  # pragma: no cover - the failure message
        pytest.fail(f"an import cycle: {' -> '.join(error.args[1])}")
    assert set(order) == set(MODULES)


def test_the_kinds_and_their_declarations_sit_below_the_rule_and_the_config() -> None:
    # config, settings and decide import the kinds' lists; a kind sees them only as types.
    for kind in ("controller.sources", "controller.autoscalers"):
        below = {name for name in MODULES if name == kind or name.startswith(f"{kind}.")}
        for name in below:
            assert not GRAPH[name] & {"controller.config", "controller.decide", "controller.loop"}
    assert "controller.autoscalers" in GRAPH["controller.config"]
    assert "controller.autoscalers.dynamodb" in GRAPH["controller.decide"]


def test_the_check_sees_an_import_hidden_from_types_as_no_edge(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from controller import aws\n"
        "if TYPE_CHECKING:\n"
        "    from controller.config import Config\n"
        "def f():\n"
        "    from controller import cli\n"
    )

    assert imported_at_import_time(module) == {"controller.aws"}
