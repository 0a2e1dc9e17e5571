"""`borderflow serve --workers 2` as a real server: whichever worker answers a scrape, the
request counters are the sum over both workers, and a worker killed and replaced takes
nothing away from them. On PostgreSQL, /metrics says whether a dispatcher leader holds its
lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from tests.conftest import Database
from tests.services import free_port

BORDERFLOW = str(Path(sys.executable).with_name("borderflow"))
REQUESTS = 40
STARTUP_SECONDS = 90  # two processes importing the platform on a loaded machine


def _children(pid: int) -> set[int]:
    """The server's worker processes (not multiprocessing's resource tracker)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:  # a thread of the server that ended meanwhile
            continue
    workers = set()
    for child in found:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            workers.add(child)
    return workers


def _healthz_count(base: str) -> float:
    """``borderflow_http_requests_total`` of GET /healthz 200, from one scrape (a new
    connection each time, so the kernel hands it to either worker)."""
    answer = httpx.get(f"{base}/metrics", headers={"Connection": "close"}, timeout=30)
    assert answer.status_code == 200
    for family in text_string_to_metric_families(answer.text):
        for s in family.samples:
            if s.name == "borderflow_http_requests_total" and s.labels == {
                    "method": "GET", "route": "/healthz", "status": "200"}:
                return s.value
    return 0.0


@pytest.fixture
def server(database: Database, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes],
                                                                  Path]]:
    port = free_port()
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999999.db").write_bytes(b"")  # a file of an ended server
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": database.url,
           "BORDERFLOW_VAR_DIR": str(tmp_path / "var"), "BORDERFLOW_BACKGROUND": "none",
           "BORDERFLOW_METRICS_DIR": str(metrics_dir), "BORDERFLOW_LOG_LEVEL": "WARNING",
           "BORDERFLOW_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
           "BORDERFLOW_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
           "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": "0", "BORDERFLOW_NOTIFY_INTERVAL_SECONDS": "0",
           "BORDERFLOW_METRICS_DATABASE_SECONDS": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log = (tmp_path / "serve.log").open("wb")
    popen = subprocess.Popen([BORDERFLOW, "serve", "--workers", "2", "--port", str(port)],  # noqa: S603
                             env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while len(_children(popen.pid)) < 2 or not _answers(base):
            assert popen.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        yield base, popen, metrics_dir
    finally:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(10)
        log.close()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_every_scrape_counts_the_requests_of_both_workers(
    server: tuple[str, subprocess.Popen[bytes], Path]
) -> None:
    base, popen, metrics_dir = server
    assert not (metrics_dir / "counter_999999999.db").exists()  # emptied at start
    both = _both_workers_ready(base, popen)
    for _ in range(REQUESTS):
        assert httpx.get(f"{base}/healthz", headers={"Connection": "close"},
                         timeout=30).status_code == 200
    counted = {p.stem for p in metrics_dir.glob("counter_*.db")}
    assert {f"counter_{pid}" for pid in both} <= counted  # both workers answered something
    assert [_healthz_count(base) for _ in range(8)] == [REQUESTS] * 8

    killed = sorted(both)[0]  # a worker dies: what it counted stays counted
    os.kill(killed, signal.SIGKILL)
    deadline = time.monotonic() + STARTUP_SECONDS
    while killed in _children(popen.pid) or len(_children(popen.pid)) < 2 \
            or not _answers(base):
        assert time.monotonic() < deadline
        time.sleep(0.3)
    assert [_healthz_count(base) for _ in range(4)] == [REQUESTS] * 4


def _both_workers_ready(base: str, popen: subprocess.Popen[bytes]) -> set[int]:
    """The two workers' process ids, once each has answered (and written its files)."""
    workers = _children(popen.pid)
    assert len(workers) == 2
    deadline = time.monotonic() + STARTUP_SECONDS
    while not all(_answers(base) for _ in range(6)):
        assert time.monotonic() < deadline
    return workers


@pytest.mark.postgres
def test_the_dispatcher_leaders_lock_shows_on_the_metrics(
    settings: Settings, clock: FixedClock
) -> None:
    app = create_app(settings.model_copy(update={
        "dispatch_interval_seconds": 1, "metrics_database_seconds": 0}), clock=clock)
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while "borderflow_dispatcher_leader_elected 1.0" not in client.get("/metrics").text:
            assert time.monotonic() < deadline, client.get("/metrics").text
            time.sleep(0.3)
    app.state.ctx.engine.dispose()
    other = create_app(settings.model_copy(update={"metrics_database_seconds": 0}), clock=clock)
    with TestClient(other) as client:
        assert "borderflow_dispatcher_leader_elected 0.0" in client.get("/metrics").text
    other.state.ctx.engine.dispose()
