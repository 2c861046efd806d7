"""The package's modules import each other in layers, with no cycle, imports made only for
type checking included: a cycle would make the import order matter, and a reader untangle it.
The core (the rule, the loop, the act, --release, the report, the HTTP server) names no kind:
only the lists of kinds do."""

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
    """The package's modules that `path` imports at its top level, those under
    `if TYPE_CHECKING:` too; not those inside functions (imported per branch)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    body = [
        *tree.body,
        *(inner for node in tree.body if isinstance(node, ast.If) for inner in node.body),
    ]
    for node in body:
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


# The interfaces every kind implements, which the core may see; the rest of the kinds'
# folders are the kinds themselves.
INTERFACES = {
    "controller.autoscalers.autoscaler",
    "controller.autoscalers.breaker",
    "controller.sources.backup",
}
CORE = ("decide", "loop", "act", "release", "report", "http.server", "http.metrics", "runtime.emf")


def kinds() -> set[str]:
    return {
        name
        for name in MODULES
        if name.startswith(("controller.sources.", "controller.autoscalers."))
        and name not in INTERFACES
    }


def test_the_core_names_no_kind_and_the_kinds_sit_below_it() -> None:
    for core in CORE:
        assert not GRAPH[f"controller.{core}"] & kinds(), core
        assert not GRAPH[f"controller.{core}"] & {"controller.sources", "controller.autoscalers"}
    for kind in kinds():
        assert not GRAPH[kind] & {"controller.config", "controller.loop", "controller.act"}
    # The lists of kinds are read where settings are: nowhere else in the core.
    assert {"controller.autoscalers", "controller.sources"} <= GRAPH["controller.config"]


def test_the_check_sees_an_import_for_types_as_an_edge_and_one_in_a_function_as_none(
    tmp_path: Path,
) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from controller import aws\n"
        "if TYPE_CHECKING:\n"
        "    from controller.config import Config\n"
        "def f():\n"
        "    from controller import cli\n"
    )

    assert imported_at_import_time(module) == {"controller.aws", "controller.config"}
