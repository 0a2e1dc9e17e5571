"""The scenario lab's compiled modules (:mod:`borderflow.native`): used only for the source
they were built from, turned off by ``BORDERFLOW_NATIVE=0``, and giving the trucks of the
Python source, truck by truck."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import numpy as np
import pytest

from borderflow import native
from borderflow.config import DEFAULT_SCENARIOS_DIR
from borderflow.sim import engine as shipped
from borderflow.sim import scenario as scenarios
from borderflow.sim.model import compile_model

SUFFIX = EXTENSION_SUFFIXES[0]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _compiled_or_skip() -> None:
    if native.active(shipped):
        return
    reason = ("the scenario lab's modules are not compiled for this source: `make install` "
              "compiles them (python -m borderflow.native_build)")
    if IN_CI:  # CI runs on the machine kind that compiles them: a missing build is a fault
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.parametrize(("name", "days", "seed"), [
    ("lang-son-baseline", 12, 1), ("lang-son-baseline", 8, 5), ("booked-slots", 6, 2),
    ("gate-closure", 6, 3), ("secondary-gate", 6, 4), ("pre-tet-surge", 6, 6),
    ("priority-off", 5, 7), ("no-regulation", 5, 8),
])
def test_the_compiled_engine_gives_the_sources_trucks_truck_by_truck(
        name: str, days: int, seed: int) -> None:
    _compiled_or_skip()
    source = native.load_source("borderflow.sim.engine")
    assert not native.active(source)
    sc, network = scenarios.load(DEFAULT_SCENARIOS_DIR / f"{name}.yaml")
    sc = sc.model_copy(update={"days": days})
    # a run moves trucks between gates and draws their new steps: a model each
    fast = shipped.simulate(compile_model(sc, network, np.random.default_rng(seed)))
    slow = source.simulate(compile_model(sc, network, np.random.default_rng(seed)))
    assert np.isfinite(fast.leave).sum() > 100  # trucks went through
    for f in dataclasses.fields(fast):
        if f.name == "model":
            continue
        mine, theirs = getattr(fast, f.name), getattr(slow, f.name)
        if isinstance(mine, np.ndarray):
            np.testing.assert_array_equal(mine, theirs, err_msg=f.name)
        else:
            assert mine == theirs, f.name
    if name == "lang-son-baseline":
        assert fast.rerouted.any()  # the re-routing planner ran, compiled, and moved trucks


def _package_copy(tmp_path: Path) -> Path:
    """The source the digest covers, copied (the same digest: the same content)."""
    copy = tmp_path / "borderflow"
    copy.mkdir()
    for name in ("native.py", "native_build.py"):
        shutil.copy2(native.PACKAGE / name, copy / name)
    for sub in native.COVERED:
        shutil.copytree(native.PACKAGE / sub, copy / sub,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _fake_build(prefix: Path, package: Path) -> Path:
    """Files where a build of ``package``'s source would be (empty: only found, not loaded)."""
    root = native.builds_dir(str(prefix)) / native.digest(package)
    for name in (*native.MODULES, f"{native.GROUP}__mypyc"):
        *parents, last = name.split(".")
        _mk_parents(root.joinpath(*parents) / f"{last}{SUFFIX}").touch()
    return root


def _mk_parents(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_a_build_is_used_only_for_the_source_it_was_built_from(tmp_path: Path) -> None:
    package = _package_copy(tmp_path)
    assert native.digest(package) == native.digest()
    prefix = tmp_path / "venv"
    root = _fake_build(prefix, package)
    found = native.find_build(str(prefix), package)
    assert found is not None
    assert set(found) == {*native.MODULES, f"{native.GROUP}__mypyc"}
    assert all(path.parent.is_relative_to(root) for path in found.values())

    # an edit anywhere in the simulator or the domain (a constant the engine took): stale
    model = package / "sim" / "model.py"
    model.write_text(model.read_text() + "\n# edited\n")
    assert native.find_build(str(prefix), package) is None
    # ... and so is a change to what is compiled
    model.write_text(model.read_text().removesuffix("\n# edited\n"))
    assert native.find_build(str(prefix), package) is not None
    (package / "native.py").write_text((package / "native.py").read_text() + "\n")
    assert native.find_build(str(prefix), package) is None


def test_a_build_missing_a_module_is_not_used(tmp_path: Path) -> None:
    package = _package_copy(tmp_path)
    prefix = tmp_path / "venv"
    root = _fake_build(prefix, package)
    next(root.rglob(f"engine{SUFFIX}")).unlink()
    assert native.find_build(str(prefix), package) is None


def _engine_file(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import borderflow.sim.engine as e; print(e.__file__)"],
        env=env, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_borderflow_native_0_runs_the_python_source() -> None:
    env = {k: v for k, v in os.environ.items() if k != native.ENV}
    assert _engine_file({**env, native.ENV: "0"}).endswith("engine.py")
    if native.find_build() is not None:  # the build is taken by default
        assert not _engine_file(env).endswith(".py")
