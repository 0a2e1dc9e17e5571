"""Multi-process mode's files: what a scrape adds up, and what `serve` clears at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import values
from prometheus_client.metrics_core import Metric

from borderflow.ops.metrics import ProcessFiles
from borderflow.ops.multiprocess import use_directory


def _ended_pid() -> int:
    """The id of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, check=True, text=True)
    return int(done.stdout)


def _write(path: Path, pid: int, kind: str, name: str, value: float, mode: str = "") -> None:
    """What process ``pid`` would have written for one metric without labels."""
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    try:
        cls = values.MultiProcessValue(process_identifier=lambda: pid)  # type: ignore[no-untyped-call]
        v = cls(kind, name, name, (), (), "help", multiprocess_mode=mode)
        v.set(value) if kind == "gauge" else v.inc(value)
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)


def _values(path: Path) -> dict[str, float]:
    found: list[Metric] = list(ProcessFiles(path).collect())  # type: ignore[arg-type]
    return {s.name + str(sorted(s.labels.items())): s.value for m in found for s in m.samples}


def test_counters_keep_ended_processes_and_live_gauges_forget_them(tmp_path: Path) -> None:
    ended, alive = _ended_pid(), os.getpid()
    for pid, n in ((ended, 3), (alive, 4)):
        _write(tmp_path, pid, "counter", "c_total", n)
        _write(tmp_path, pid, "gauge", "live", 1, "livesum")
        _write(tmp_path, pid, "gauge", "latest", n * 10.0, "max")
        _write(tmp_path, pid, "gauge", "each", n, "all")
    got = _values(tmp_path)
    assert got["c_total[]"] == 7  # the ended process's count stays counted
    assert got["live[]"] == 1  # only the running process is alive
    assert got["latest[]"] == 40  # max keeps every process's value
    assert got[f"each[('pid', '{alive}')]"] == 4
    assert f"each[('pid', '{ended}')]" not in got


def test_serve_clears_the_files_of_ended_processes_only(tmp_path: Path) -> None:
    ended = _ended_pid()
    (tmp_path / f"counter_{ended}.db").write_bytes(b"")
    (tmp_path / "counter_1.db").write_bytes(b"")  # pid 1 runs: a process still writing
    before = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    kept = values.ValueClass
    try:
        use_directory(tmp_path, clean=True)
        assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path.resolve())
    finally:
        values.ValueClass = kept
        if before is None:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_1.db"]
