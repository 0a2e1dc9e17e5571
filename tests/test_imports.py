"""The import graph of borderflow: no module imports itself back through others, and the pure
packages keep to what pyproject.toml's contracts allow.

grimp (import-linter's engine) sees imports made inside functions too, so a cycle cannot hide
behind a late import.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # no cache: grimp's cache goes by file times, which a checkout or a copy can leave behind
    return grimp.build_graph("borderflow", include_external_packages=True, cache_dir=None)


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative), each
    sorted, in sorted order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def test_cycles_finds_a_cycle_and_nothing_else() -> None:
    edges = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": [], "e": ["e"]}
    assert cycles(edges) == [["a", "b", "c"]]


def _internal_edges(graph: grimp.ImportGraph) -> dict[str, set[str]]:
    modules = {m for m in graph.modules if m == "borderflow" or m.startswith("borderflow.")}
    return {m: graph.find_modules_directly_imported_by(m) & modules for m in modules}


def test_no_import_cycles_between_modules(graph: grimp.ImportGraph) -> None:
    found = cycles(_internal_edges(graph))
    described = []
    for component in found:
        # one concrete loop through the component, with the lines that make it
        first, second = component[0], None
        chain = None
        for other in component[1:]:
            there = graph.find_shortest_chain(first, other)
            back = graph.find_shortest_chain(other, first)
            if there and back:
                chain = [*there, *back[1:]]
                second = other
                break
        loop = " -> ".join(chain) if chain else ", ".join(component)
        described.append(f"{len(component)} modules {component}: {loop}"
                         + (f" (e.g. {first} / {second})" if second else ""))
    assert not found, "import cycles:\n" + "\n".join(described)


def _contract(name_start: str) -> dict[str, object]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    return next(c for c in config["contracts"] if str(c["name"]).startswith(name_start))


ROOT_PACKAGES = {"borderflow.domain", "borderflow.forecast", "borderflow.sim"}
FOUNDATIONS = {"borderflow.errors", "borderflow.jsondoc", "borderflow.documents"}
"""Plain modules the pure packages may use: errors, JSON paths of validation errors, fonts."""

PURE_LIBRARIES = {
    "borderflow.domain": {"phonenumbers", "stdnum", "numpy", "shapely"},
    "borderflow.sim": {"numpy", "numba", "pydantic", "pydantic_core", "yaml", "holidays",
                       "matplotlib", "scipy"},  # scipy: the calibration's optimiser
    # the forecaster: frames, the holiday calendars, the statistical and the boosted models
    "borderflow.forecast": {"numpy", "pandas", "holidays", "lightgbm", "statsforecast"},
}
"""Third-party libraries each pure package may import: computation and validation, no I/O."""


@pytest.mark.parametrize("package", sorted(ROOT_PACKAGES))
def test_pure_packages_import_only_what_is_allowed(graph: grimp.ImportGraph,
                                                   package: str) -> None:
    """A whitelist: the standard library, the allowed libraries, the foundations and (for
    the simulator) the domain — whatever else appears is refused, even a new package."""
    allowed_internal = FOUNDATIONS | ({"borderflow.domain"} if package != "borderflow.domain"
                                      else set())
    members = {package} | graph.find_descendants(package)
    stray = set()
    for module in members:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported in members:
                continue
            top = imported.split(".")[0]
            if top == "borderflow":
                if not any(imported == a or imported.startswith(a + ".")
                           for a in allowed_internal):
                    stray.add(f"{module} -> {imported}")
            elif top not in sys.stdlib_module_names and top not in PURE_LIBRARIES[package]:
                stray.add(f"{module} -> {imported}")
    assert not stray, "\n".join(sorted(stray))


@pytest.mark.parametrize("package", sorted(ROOT_PACKAGES))
def test_pure_contracts_forbid_every_other_package(graph: grimp.ImportGraph,
                                                   package: str) -> None:
    """The import-linter contract of a pure package names every package of borderflow it
    must not reach, so a new feature package cannot slip past it."""
    contract = _contract(f"{package} is pure")
    forbidden = set(contract["forbidden_modules"])  # type: ignore[call-overload]
    tops = set(graph.find_children("borderflow"))
    allowed = FOUNDATIONS | ROOT_PACKAGES
    missing = sorted(tops - allowed - forbidden - {"borderflow.domain"})
    if package == "borderflow.domain":
        missing = sorted(set(missing) | ({"borderflow.sim", "borderflow.forecast"} - forbidden))
    if package == "borderflow.sim":
        missing = sorted(set(missing) | ({"borderflow.forecast"} - forbidden))
    if package == "borderflow.forecast":
        missing = sorted(set(missing) | ({"borderflow.sim"} - forbidden))
    assert not missing, f"add to the contract's forbidden_modules: {missing}"
    assert "allow_indirect_imports" not in contract
