"""Compiles the scenario lab's hot path with mypyc: ``python -m borderflow.native_build``
(``make install`` runs it). What is compiled, where the build is kept and when it is used:
:mod:`borderflow.native`."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from borderflow.native import GROUP, MODULES, PACKAGE, builds_dir, digest, find_build

KEEP = 4
"""Builds kept (the newest)."""


def build(prefix: str | None = None) -> Path:
    """Compile :data:`MODULES` for the current source into :func:`builds_dir` (nothing to do
    when that build exists), keep it under its digest and remove all but the newest
    :data:`KEEP` builds. Raises when mypyc or the C compiler fails."""
    target = builds_dir(prefix)
    name = digest()
    final = target / name
    if find_build(prefix) is not None:
        return final
    from mypyc.build import mypycify  # the compiler: only here, never at run time
    from setuptools import setup  # type: ignore[import-untyped]

    target.mkdir(parents=True, exist_ok=True)
    paths = [str(PACKAGE.joinpath(*m.split(".")[1:]).with_suffix(".py")) for m in MODULES]
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="borderflow-native-") as work:
        out = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target))
        try:
            os.chdir(work)  # mypyc writes its C there, and reads no project configuration
            setup(name=GROUP, ext_modules=mypycify(paths, group_name=GROUP, opt_level="3",
                                                  debug_level="0"),
                  script_args=["--quiet", "build_ext", "--build-lib", str(out),
                               "--build-temp", str(Path(work) / "temp")])
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)
            raise
        finally:
            os.chdir(here)
        out.chmod(0o755)  # readable by the service account, as the rest of the environment
        try:
            os.replace(out, final)  # whole or not at all: a process never sees a half build
        except OSError:
            if find_build(prefix) is None:
                raise
            shutil.rmtree(out, ignore_errors=True)  # another build of the same source won
    _prune(target, keep=final)
    return final


def _prune(target: Path, keep: Path, builds: int = KEEP) -> None:
    """Remove all but the newest ``builds`` builds (``keep`` among them): another checkout
    sharing the environment, or a process started before the source changed, may still use
    one of the others."""
    hour_ago = time.time() - 3600  # a build in progress is a hidden folder younger than that
    found = sorted((p for p in target.iterdir() if p.is_dir() and p != keep
                    and not (p.name.startswith(".") and p.stat().st_mtime > hour_ago)),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    for old in found[builds - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m borderflow.native_build [build]``: compile, or say why not and go on
    (exit 0: the plain modules work everywhere); ``status``: which build the source needs
    and whether it is there."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "build"
    if command == "build":
        try:
            where = build()
        except (Exception, SystemExit) as exc:  # any failure: run uncompiled
            print(f"borderflow-native: not compiled ({type(exc).__name__}: {exc}); the "
                  "scenario lab runs as plain Python, slower", file=sys.stderr)
            return 0
        print(f"borderflow-native: compiled modules in {where}")
        return 0
    if command == "status":
        files = find_build()
        print(f"source digest {digest()}: "
              + ("compiled build present" if files else "no build (plain Python)"))
        return 0
    print("usage: python -m borderflow.native_build [build|status]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
