"""Process roles: ``borderflow serve`` with ``BORDERFLOW_BACKGROUND=none`` answers HTTP and
leaves the background work alone; ``borderflow worker`` runs it without HTTP and stops cleanly
on SIGTERM; on PostgreSQL one worker dispatches at a time and another takes over within one
interval when the leader is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from borderflow import production
from borderflow.app import create_app
from borderflow.cli import main
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.dispatch.loop import Leadership
from borderflow.store.models import Trip
from borderflow.store.session import make_engine
from tests.conftest import Database, Peek
from tests.trip.test_dispatcher import _at_staging

INTERVAL = 1
"""The dispatch interval the workers of these tests run with (seconds)."""
STARTUP = 60
"""How long a worker process may take to start (a bound: on a 2-core machine running other
tests, importing the package alone takes up to 10 s)."""


def _status(db: Peek, ref: str) -> str:
    return str(db.scalar(select(Trip.status).where(Trip.reference == ref)))


@pytest.mark.parametrize(("background", "called"), [("all", True), ("none", False)])
def test_the_api_dispatches_only_when_it_runs_the_background_work(
    settings: Settings, clock: FixedClock, auth: Any, db: Peek, background: str, called: bool
) -> None:
    configured = settings.model_copy(update={"background": background,
                                             "dispatch_interval_seconds": INTERVAL})
    app = create_app(configured, clock=clock)
    try:
        with TestClient(app) as client:
            ref = _at_staging(client, auth, "29C-700.01")
            deadline = time.monotonic() + 3 * INTERVAL
            while time.monotonic() < deadline and _status(db, ref) != "called":
                time.sleep(0.1)
            assert client.get("/healthz").status_code == 200  # HTTP either way
    finally:
        app.state.ctx.engine.dispose()
    assert (_status(db, ref) == "called") is called


@pytest.mark.postgres
def test_a_change_committed_by_the_api_wakes_the_workers_dispatcher_at_once(
    settings: Settings, clock: FixedClock, auth: Any, db: Peek, database: Database
) -> None:
    if database.backend != "postgresql":
        pytest.skip("across processes the dispatcher is woken by PostgreSQL's NOTIFY")
    # the worker's next cycle is a minute away: only the API's notice can call the truck now
    worker = create_app(settings.model_copy(update={"dispatch_interval_seconds": 60}),
                        clock=clock)
    api = create_app(settings.model_copy(update={"background": "none"}), clock=clock)
    try:
        with TestClient(worker), TestClient(api) as client:
            ref = _at_staging(client, auth, "29C-700.02")
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _status(db, ref) != "called":
                time.sleep(0.1)
            assert _status(db, ref) == "called"
    finally:
        worker.state.ctx.engine.dispose()
        api.state.ctx.engine.dispose()


@pytest.mark.postgres
def test_a_leader_whose_session_ends_loses_the_lead_and_another_takes_it(
    database: Database
) -> None:
    if database.backend != "postgresql":
        pytest.skip("leaders are elected on PostgreSQL; SQLite has one process")
    first, second = Leadership(database.url), Leadership(database.url)
    try:
        assert first.hold()
        assert first.hold()  # still the leader on its next try
        assert not second.hold()
        pid = first._conn.execute(text("SELECT pg_backend_pid()")).scalar()  # type: ignore[union-attr]
        engine = make_engine(database.url)
        with engine.connect() as admin:  # the leader's connection is cut
            admin.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        engine.dispose()
        assert second.hold()
        assert not first.hold()  # it noticed, tried again and found another leading
        second.release()  # a clean stop gives the lead up at once
        assert first.hold()
    finally:
        first.release()
        second.release()


def test_the_worker_command_is_documented() -> None:
    result = CliRunner().invoke(main.app, ["worker", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for words in ("without HTTP", "SIGTERM", "dispatcher", "notification sender",
                  "BORDERFLOW_BACKGROUND=none"):
        assert words in text
    serve = " ".join(CliRunner().invoke(main.app, ["serve", "--help"]).output.split())
    assert "BORDERFLOW_BACKGROUND=none" in serve


def test_production_refuses_serve_workers_sharing_an_mqtt_client_id_only() -> None:
    base = {"env": "production", "mqtt_url": "mqtt://broker.example:1883"}
    shared = Settings(**base, mqtt_client_id="gate-1")
    assert production.unsafe_topology(shared, 1) == []
    [problem] = production.unsafe_topology(shared, 4)
    assert "BORDERFLOW_MQTT_CLIENT_ID" in problem
    assert "--workers 4" in problem
    # safe: the workers leave the background work to `borderflow worker`, or each has a
    # fresh MQTT session, or there is no subscriber; the rest is safe on PostgreSQL
    assert production.unsafe_topology(
        Settings(**base, mqtt_client_id="gate-1", background="none"), 4) == []
    assert production.unsafe_topology(Settings(**base), 4) == []
    assert production.unsafe_topology(Settings(env="production"), 4) == []
    with pytest.raises(production.UnsafeForProduction, match="MQTT_CLIENT_ID"):
        production.check(shared, workers=4)


# --- real worker processes ---------------------------------------------------------------------


@dataclass
class Worker:
    """A ``borderflow worker`` process and the JSON log lines it wrote, with when they came."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            self.lines.append((time.monotonic(), entry))

    def seen(self, event: str, since: float = 0.0, **fields: Any) -> list[float]:
        return [at for at, e in list(self.lines) if e.get("event") == event and at >= since
                and all(e.get(k) == v for k, v in fields.items())]

    def wait_for(self, event: str, timeout: float, since: float = 0.0, **fields: Any) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.seen(event, since, **fields)
            if found:
                return found[0]
            assert self.process.poll() is None, f"worker exited: {self.lines[-5:]}"
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} within {timeout} s: {self.lines[-5:]}")


def _environment(url: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BORDERFLOW_")}
    env.update({
        "BORDERFLOW_DATABASE_URL": url, "BORDERFLOW_VAR_DIR": str(tmp_path / "var"),
        "BORDERFLOW_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
        "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": str(INTERVAL),
        "BORDERFLOW_NOTIFY_INTERVAL_SECONDS": "0", "BORDERFLOW_RETENTION_INTERVAL_SECONDS": "0",
        "BORDERFLOW_SITUATION_REPORT_TIME": "", "BORDERFLOW_LOG_LEVEL": "DEBUG",
        "BORDERFLOW_LOG_FORMAT": "json", "BORDERFLOW_TELEMETRY_BUS": "inline",
    })
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Any]:
    started: list[Worker] = []

    def start(url: str) -> Worker:
        process = subprocess.Popen(  # this interpreter, a fixed command
            [sys.executable, "-c", "from borderflow.cli.main import app; app()", "worker"],
            env=_environment(url, tmp_path), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        worker = Worker(process)
        threading.Thread(target=worker.read, daemon=True).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            worker.process.kill()
        worker.process.wait(10)


@pytest.mark.slow
@pytest.mark.any_database  # on PostgreSQL the election test below stops its worker with SIGTERM
def test_a_worker_runs_the_background_work_and_stops_on_sigterm(
    database: Database, start_worker: Any
) -> None:
    worker = start_worker(database.url)
    worker.wait_for("worker started", STARTUP)
    worker.wait_for("dispatch cycle ran", 5 * INTERVAL + 5, skipped=False)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(30) == 0
    worker.wait_for("worker stopped", 2)


@pytest.mark.slow
@pytest.mark.postgres
def test_one_worker_dispatches_and_another_takes_over_within_an_interval_of_a_kill(
    database: Database, start_worker: Any
) -> None:
    if database.backend != "postgresql":
        pytest.skip("leaders are elected on PostgreSQL; SQLite has one process")
    workers = [start_worker(database.url), start_worker(database.url)]  # starting together
    deadline = time.monotonic() + STARTUP
    while not any(w.seen("dispatcher leader") for w in workers):
        assert time.monotonic() < deadline, "no leader"
        time.sleep(0.05)
    first, second = sorted(workers, key=lambda w: not w.seen("dispatcher leader"))
    refused = second.wait_for("dispatcher standby", STARTUP)  # it tried: another leads
    first.wait_for("dispatch cycle ran", 5 * INTERVAL, since=refused, skipped=False)
    assert second.seen("dispatch cycle ran") == []
    assert second.seen("dispatcher leader") == []

    first.process.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    first.process.wait(10)
    elected = second.wait_for("dispatcher leader", 10 * INTERVAL, since=killed)
    took_over = second.wait_for("dispatch cycle ran", 5 * INTERVAL, since=elected,
                                skipped=False)
    # its first or second try after the kill (one may have been under way) took the lead:
    # tries start an interval apart, so the lead is taken within one interval (plus the time
    # a loaded machine takes to schedule the process and read its log)
    assert len(second.seen("dispatcher standby", killed)) <= 1
    assert elected - killed <= INTERVAL + 1.0, f"elected after {elected - killed:.2f} s"
    assert took_over - killed <= INTERVAL + 2.0, f"dispatched after {took_over - killed:.2f} s"
    print(f"elected {elected - killed:.2f} s and dispatched {took_over - killed:.2f} s "
          "after the kill")  # the figures, with -s

    second.process.send_signal(signal.SIGTERM)
    assert second.process.wait(30) == 0
    assert second.seen("dispatcher leadership given up")
