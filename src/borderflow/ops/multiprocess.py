"""Prometheus multi-process mode: the directory where every process of a machine writes its
metrics (``PROMETHEUS_MULTIPROC_DIR``), set up before any metric exists.

This module imports nothing but the standard library at first, so that ``borderflow serve``
can call :func:`use_directory` before the application (and its metrics) is imported; what
``/metrics`` does with the files is in :mod:`borderflow.ops.metrics`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def directory() -> Path | None:
    """The shared directory of multi-process mode, when this process is in it."""
    found = os.environ.get(VARIABLE)
    return Path(found) if found else None


def chosen(metrics_dir: Path | None, var_dir: Path, workers: int) -> Path | None:
    """The directory ``borderflow serve`` uses: ``PROMETHEUS_MULTIPROC_DIR`` when the
    environment sets it, else ``BORDERFLOW_METRICS_DIR``, else ``VAR_DIR/metrics`` when it
    starts more than one worker; ``None``: one process, its own metrics."""
    return directory() or metrics_dir or (var_dir / "metrics" if workers > 1 else None)


def use_directory(path: Path, *, clean: bool) -> None:
    """Put this process, and the processes it starts, in multi-process mode with ``path``.

    Call it before any metric is created (before the application is imported): a metric
    created earlier would count in this process alone. ``clean`` (``borderflow serve``,
    before its workers start): remove the files of processes no longer running, so the
    counters start again from zero with the server (Prometheus's ``rate`` reads that as a
    restart); the files of processes still running (a ``borderflow worker`` beside it) are
    kept."""
    path.mkdir(parents=True, exist_ok=True)
    if clean:
        for file in path.glob("*.db"):
            pid = pid_of(file)
            if pid is None or pid == os.getpid() or not running(pid):
                file.unlink(missing_ok=True)
    os.environ[VARIABLE] = str(path.resolve())
    if "prometheus_client.values" in sys.modules:  # imported, but no metric made yet
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def pid_of(file: Path) -> int | None:
    """The process a metrics file belongs to (``counter_1234.db``, ``gauge_livesum_1234.db``)."""
    last = file.stem.rsplit("_", 1)[-1]
    return int(last) if last.isdigit() else None


def running(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # running, as another user
        return True
    return True
