"""The scenario lab's hot path compiled to C with mypyc, used only while it matches the source.

The simulation engine (:mod:`borderflow.sim.engine`) runs the live dispatch rules
(:mod:`borderflow.domain.dispatch`) and the slot planner
(:mod:`borderflow.domain.dispatch_planner`) every cycle of a simulated year. Compiled together
by mypyc (part of mypy), the same source runs about a quarter faster, with identical results
(``tests/sim/test_native.py`` compares them truck by truck).

``make install`` runs ``python -m borderflow.native_build``, which compiles the three modules
into ``<venv>/borderflow-native/<digest>/`` (``sys.prefix``); the digest covers every source
file of ``borderflow.domain`` and ``borderflow.sim`` (a compiled module may have taken a
constant from another), this module and :mod:`borderflow.native_build` (what is compiled,
and how), and the interpreter. On import of :mod:`borderflow`,
:func:`install` looks for the build of the source as it is now: when it exists, those three
modules are imported from it; when it does not (a source file edited since the last build, no
C compiler on the machine, ``BORDERFLOW_NATIVE=0``), the plain Python modules are, and
everything works the same, only slower. A stale build is never used.

This module imports nothing of Borderflow: :mod:`borderflow`'s ``__init__`` runs it first.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

MODULES = ("borderflow.domain.dispatch", "borderflow.domain.dispatch_planner",
           "borderflow.sim.engine")
"""The modules compiled, as one group (they call each other directly in C)."""
GROUP = "borderflow_native"
"""The name of the library the group shares (``<GROUP>__mypyc``)."""
COVERED = ("domain", "sim")
"""The packages whose source the build's digest covers."""
ENV = "BORDERFLOW_NATIVE"
"""``0`` turns the compiled modules off."""

PACKAGE = Path(__file__).resolve().parent


def builds_dir(prefix: str | None = None) -> Path:
    """Where the builds are kept: in the environment Borderflow is installed in."""
    return Path(prefix or sys.prefix) / "borderflow-native"


def digest(package: Path = PACKAGE) -> str:
    """What a build is valid for: the source of the covered packages and the interpreter (a
    build holds mypyc's run-time library, so it does not depend on the installed mypy)."""
    h = hashlib.sha256()
    h.update(sys.implementation.cache_tag.encode())
    h.update(importlib.machinery.EXTENSION_SUFFIXES[0].encode())
    files = [package / "native.py", package / "native_build.py"]  # what is compiled, how
    for sub in COVERED:
        files += sorted((package / sub).rglob("*.py"))
    for path in files:
        h.update(str(path.relative_to(package)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:20]


def _module_file(root: Path, name: str) -> Path | None:
    """The compiled file of module ``name`` under ``root``, if it is there."""
    *parents, last = name.split(".")
    folder = root.joinpath(*parents)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"{last}{suffix}"
        if path.is_file():
            return path
    return None


def find_build(prefix: str | None = None, package: Path = PACKAGE) -> dict[str, Path] | None:
    """The compiled files of the build of the source as it is now, by module name (the group's
    shared library included); None when there is none, or not every file is there."""
    root = builds_dir(prefix) / digest(package)
    files = {}
    for name in (*MODULES, f"{GROUP}__mypyc"):
        path = _module_file(root, name)
        if path is None:
            return None
        files[name] = path
    return files


class _Finder(MetaPathFinder):
    """Imports the compiled modules from their build, before the path's plain modules."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        found = self.files.get(fullname)
        if found is None:
            return None
        return importlib.util.spec_from_file_location(fullname, found)


_installed: _Finder | None = None


def install() -> bool:
    """Import the compiled modules from now on, when a build of the current source exists and
    ``BORDERFLOW_NATIVE`` is not ``0``. Whether they will be."""
    global _installed
    if _installed is not None:
        return True
    if os.environ.get(ENV, "1").strip() == "0":
        return False
    try:
        files = find_build()
    except OSError:
        return False
    if files is None or any(name in sys.modules for name in MODULES):
        return False  # the plain modules are in use already: never mix the two
    _installed = _Finder(files)
    sys.meta_path.insert(0, _installed)
    return True


def active(module: ModuleType) -> bool:
    """Whether ``module`` (one of :data:`MODULES`) is the compiled one."""
    origin = getattr(module, "__file__", "") or ""
    return origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def load_source(name: str) -> ModuleType:
    """A fresh copy of module ``name`` from its Python source, whatever is imported under that
    name (for a test that replaces a function the module calls: a compiled module calls its
    own functions directly). Its imports are the usual ones."""
    path = PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")
    spec = importlib.util.spec_from_file_location(f"{name}_source", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"no source for {name}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look a module up by name
    spec.loader.exec_module(module)
    return module
