"""The scenario lab's runs are queued by the pages and run by the background work's pool, never
in the request: a run's progress is written as it goes and shown on its page, two runners
never run the same job, a dead runner's job is taken over when its lease has run out, a
failure is said in the page's language, a visitor sees only their own runs, and finished runs
are purged."""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from borderflow.api.context import AppContext
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.domain.access import Principal, Role
from borderflow.ops.worker import build_context, create_worker, run_worker
from borderflow.privacy.loop import purge_expired
from borderflow.sim_jobs import loop, service, work
from borderflow.store.models import Account, AuditEntry, SimJob
from borderflow.store.session import make_engine, make_session_factory
from tests.cli.test_worker import STARTUP, Worker, _environment
from tests.conftest import NOW, Database, Peek
from tests.web.test_driver import _csrf, _login

GOLDEN = Path(__file__).parent / "golden"
LEASE = timedelta(seconds=60)
COMPARISON = {"scenarios": ["small-regulated.yaml", "small-unregulated.yaml"], "days": 2,
              "replications": 2, "seed": 3}


@pytest.fixture
def settings(database: Database, tmp_path: Path) -> Settings:
    """The API answers HTTP only (``BORDERFLOW_BACKGROUND=none``): whatever runs a job is a
    worker's pool."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    for path in GOLDEN.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    return Settings(database_url=database.url, var_dir=tmp_path / "var",
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="WARNING", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    retention_interval_seconds=0, telemetry_bus="inline",
                    scenarios_dir=folder, background="none")


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(settings, clock)
    yield context
    context.engine.dispose()


def _who(db: Peek, username: str, role: Role) -> Principal:
    account = db.one(select(Account).where(Account.username == username))
    return Principal(id=account.id, username=username, kind="user", roles=frozenset({role}))


def _queue(ctx: AppContext, who: Principal, params: dict[str, Any] | None = None,
           kind: str = "compare") -> str:
    params = dict(COMPARISON if params is None else params)
    with ctx.sessions() as session:
        job = service.submit(session, actor=who, kind=kind, params=params,
                             runs_total=work.runs_total(kind, params), now=ctx.clock.now())
        session.commit()
        return job.id


def _job(db: Peek, job_id: str) -> SimJob:
    return db.one(select(SimJob).where(SimJob.id == job_id))


def _claim(ctx: AppContext, runner: str, at: timedelta = timedelta(0), limit: int = 1
           ) -> list[service.Claim]:
    return service.claim(ctx.sessions, ctx.read_sessions, now=NOW + at, limit=limit,
                         lease=LEASE, runner=runner)


def test_the_page_queues_a_comparison_and_a_workers_pool_runs_it(
        settings: Settings, clock: FixedClock, db: Peek) -> None:
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        token = _csrf(client, "/sim")
        started = time.perf_counter()
        asked = client.post("/sim", params={"lang": "vi"}, follow_redirects=False, data={
            "scenario": COMPARISON["scenarios"], "days": "2", "replications": "2",
            "seed": "3", "csrf": token})
        answered = time.perf_counter() - started
        assert asked.status_code == 303, asked.text
        where = asked.headers["location"]
        job_id = where.split("run=")[1].split("&")[0]
        # the request answered before anything ran: the job waits for a worker
        job = _job(db, job_id)
        assert (job.status, job.runs_done, job.runs_total, job.attempts) == ("queued", 0, 4, 0)
        waiting = client.get(where).text
        assert 'http-equiv="refresh"' in waiting
        assert "Đang chờ chạy" in waiting  # the state by its label
        assert "queued" not in waiting
        submitted = db.one(select(AuditEntry).where(AuditEntry.target_id == job_id))
        assert (submitted.action, submitted.actor_name) == ("sim.job_submitted", "regulator")
        assert submitted.after["params"] == COMPARISON  # not the plots' words

        worker = create_worker(settings.model_copy(update={"background": "all"}), clock)

        async def until_done() -> None:
            stop = asyncio.Event()

            async def watch() -> None:
                deadline = time.monotonic() + 120
                while _job(db, job_id).status in service.UNFINISHED:
                    assert time.monotonic() < deadline, "the worker did not run the job"
                    await asyncio.sleep(0.2)
                stop.set()

            await asyncio.gather(run_worker(worker, stop), watch())

        asyncio.run(until_done())
        job = _job(db, job_id)
        assert (job.status, job.runs_done, job.runs_total, job.attempts) == ("done", 4, 4, 1)
        assert job.runner is not None
        assert job.runner.endswith(":" + str(__import__("os").getpid()))  # this process
        shown = client.get(where).text
    app.state.ctx.engine.dispose()
    assert 'http-equiv="refresh"' not in shown
    assert "Đã xong" in shown
    assert "Nhỏ có điều tiết" in shown or "Small regulated" in shown
    assert shown.count('src="data:image/png;base64,') == 3
    assert answered < 5, answered  # a run of 4 replications would not fit
    finished = db.scalars(select(AuditEntry.action).where(AuditEntry.target_id == job_id))
    assert list(finished) == ["sim.job_submitted", "sim.job_finished"]


def test_progress_is_written_as_each_run_ends_and_shown_in_the_pages_language(
        settings: Settings, clock: FixedClock, ctx: AppContext, db: Peek,
        monkeypatch: pytest.MonkeyPatch) -> None:
    job_id = _queue(ctx, _who(db, "regulator", Role.REGULATOR))
    [held] = _claim(ctx, "here:1")
    assert service.progress(ctx.sessions, held, 1, 4, NOW + LEASE)
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        en = client.get("/sim", params={"run": job_id, "lang": "en"}).text
        zh = client.get("/sim", params={"run": job_id, "lang": "zh"}).text
    app.state.ctx.engine.dispose()
    assert "Running: 1 of 4 runs done." in en
    assert '<progress value="1" max="4"' in en
    assert "运行中：已完成 1 次，共 4 次。" in zh
    assert 'http-equiv="refresh"' in zh
    # a real run writes each replication as it ends, and moves the lease on each time
    seen: list[tuple[int, int]] = []
    write = service.progress

    def spy(sessions: Any, job: service.Claim, done: int, total: int, until: Any) -> bool:
        seen.append((done, total))
        return write(sessions, job, done, total, until)

    monkeypatch.setattr(service, "progress", spy)
    assert loop.execute(ctx, held, lease=LEASE) == "done"
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert _job(db, job_id).runs_done == 4


def test_two_runners_claiming_at_once_never_take_the_same_job(
        ctx: AppContext, db: Peek) -> None:
    who = _who(db, "regulator", Role.REGULATOR)
    queued = {_queue(ctx, who) for _ in range(12)}
    taken: dict[str, list[str]] = {"a": [], "b": []}
    ready = threading.Barrier(2)

    def runner(name: str) -> None:
        ready.wait()
        while True:
            got = _claim(ctx, name, limit=2)
            if not got:
                return
            taken[name] += [c.job_id for c in got]

    threads = [threading.Thread(target=runner, args=(n,)) for n in taken]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    both = taken["a"] + taken["b"]
    assert sorted(both) == sorted(queued)  # each job once, none twice
    assert {j.attempts for j in db.scalars(select(SimJob))} == {1}


@pytest.mark.postgres
def test_on_postgresql_a_job_another_session_holds_is_skipped_not_waited_for(
        ctx: AppContext, db: Peek, database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    who = _who(db, "regulator", Role.REGULATOR)
    first, second = _queue(ctx, who), _queue(ctx, who)
    with ctx.sessions() as holder:  # another runner's claim, not yet committed
        holder.execute(select(SimJob).where(SimJob.id == first).with_for_update())
        holder.execute(text("SELECT 1"))
        started = time.monotonic()
        got = _claim(ctx, "other:2", limit=2)
        assert time.monotonic() - started < 5  # skipped, not waited for
        assert [c.job_id for c in got] == [second]
        holder.rollback()
    assert [c.job_id for c in _claim(ctx, "other:2")] == [first]


def test_a_dead_runners_job_is_taken_over_when_its_lease_runs_out(
        ctx: AppContext, db: Peek) -> None:
    job_id = _queue(ctx, _who(db, "regulator", Role.REGULATOR))
    [dead] = _claim(ctx, "dead:1")  # its process is killed: no renewal, no outcome
    assert _claim(ctx, "live:2", at=timedelta(seconds=59)) == []  # still leased
    [live] = _claim(ctx, "live:2", at=timedelta(seconds=61))
    assert (live.job_id, live.attempt, dead.attempt) == (job_id, 2, 1)
    took = db.one(select(AuditEntry).where(AuditEntry.action == "sim.job_taken_over"))
    assert (took.target_id, took.before["runner"], took.after["runner"]) == (
        job_id, "dead:1", "live:2")
    # the first runner, were it only stalled, is fenced off: it writes nothing more
    assert not service.progress(ctx.sessions, dead, 3, 4, NOW + LEASE)
    assert not service.finish(ctx.sessions, dead, {"x": 1}, runs=4, now=NOW)
    assert loop.execute(ctx, live, lease=LEASE) == "done"
    job = _job(db, job_id)
    assert (job.status, job.runner, job.runs_done) == ("done", "live:2", 4)


def test_a_job_whose_runners_keep_dying_fails_with_a_message_in_the_pages_language(
        settings: Settings, clock: FixedClock, ctx: AppContext, db: Peek) -> None:
    job_id = _queue(ctx, _who(db, "regulator", Role.REGULATOR))
    for k in range(service.MAX_ATTEMPTS):
        assert [c.job_id for c in _claim(ctx, f"dying:{k}", at=LEASE * 2 * k)] == [job_id]
    assert _claim(ctx, "late:9", at=LEASE * 2 * service.MAX_ATTEMPTS) == []
    job = _job(db, job_id)
    assert (job.status, job.error["code"]) == ("failed", "runner_lost")
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        vi = client.get("/sim", params={"run": job_id, "lang": "vi"}).text
    app.state.ctx.engine.dispose()
    assert "Lượt chạy đã bị bỏ: tiến trình chạy nó lần nào cũng dừng giữa chừng." in vi
    assert "Không chạy được" in vi
    assert "runner_lost" not in vi
    assert 'http-equiv="refresh"' not in vi


def test_a_scenario_file_broken_after_the_run_was_asked_for_is_said_in_chinese(
        settings: Settings, clock: FixedClock, ctx: AppContext, db: Peek) -> None:
    job_id = _queue(ctx, _who(db, "regulator", Role.REGULATOR))
    (settings.scenarios_dir / "small-unregulated.yaml").write_text(
        "extends: small-regulated.yaml\nname: {vi: Hỏng, fr: Cassé}\n", encoding="utf-8")
    [held] = _claim(ctx, "here:1")
    assert loop.execute(ctx, held, lease=LEASE) == "failed"
    assert _job(db, job_id).error["code"] == "scenario_invalid"
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        zh = client.get("/sim", params={"run": job_id, "lang": "zh"}).text
    app.state.ctx.engine.dispose()
    assert "此情景文件无法使用：" in zh
    assert "small-unregulated.yaml，name：" in zh  # the file and the field, said in Chinese
    assert "运行失败" in zh  # the state by its label


def test_a_visitor_sees_their_own_runs_and_an_administrator_every_one(
        settings: Settings, clock: FixedClock, ctx: AppContext, db: Peek) -> None:
    job_id = _queue(ctx, _who(db, "admin", Role.ADMIN))
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        other = client.get("/sim", params={"run": job_id, "lang": "en"})
        listed = client.get("/sim", params={"lang": "en"}).text
        client.cookies.clear()
        _login(client, "admin")
        own = client.get("/sim", params={"run": job_id, "lang": "en"})
    app.state.ctx.engine.dispose()
    assert other.status_code == 404
    assert "No such run." in other.text
    assert job_id not in listed
    assert own.status_code == 200
    assert "Waiting to run" in own.text


def test_a_visitor_has_at_most_three_runs_waiting(
        settings: Settings, clock: FixedClock, ctx: AppContext, db: Peek) -> None:
    who = _who(db, "regulator", Role.REGULATOR)
    for _ in range(service.MAX_UNFINISHED):
        _queue(ctx, who)
    app = create_app(settings, clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _login(client, "regulator")
        token = _csrf(client, "/sim")
        refused = client.post("/sim", params={"lang": "en"}, follow_redirects=False, data={
            "scenario": ["small-regulated.yaml"], "days": "2", "replications": "1",
            "seed": "1", "csrf": token})
    app.state.ctx.engine.dispose()
    assert refused.status_code == 429
    assert "You already have three runs waiting or running" in refused.text


def test_a_runner_stopping_gives_its_job_back_to_the_queue(
        ctx: AppContext, db: Peek) -> None:
    job_id = _queue(ctx, _who(db, "regulator", Role.REGULATOR))
    [held] = _claim(ctx, "stopping:1")
    stopping = threading.Event()
    stopping.set()
    assert loop.execute(ctx, held, stopping, lease=LEASE) == "released"
    job = _job(db, job_id)
    assert (job.status, job.attempts, job.runs_done, job.lease_until) == ("queued", 0, 0, None)
    assert [c.job_id for c in _claim(ctx, "next:2")] == [job_id]


def test_finished_runs_are_purged_after_their_retention_and_unfinished_ones_kept(
        settings: Settings, ctx: AppContext, db: Peek) -> None:
    who = _who(db, "regulator", Role.REGULATOR)
    queued = {_queue(ctx, who), _queue(ctx, who)}
    [held] = _claim(ctx, "here:1")
    [waiting] = queued - {held.job_id}
    assert service.fail(ctx.sessions, held, {"code": "failed"}, now=NOW)
    kept = purge_expired(ctx.sessions, settings, NOW + timedelta(days=29))
    assert kept["sim_jobs"] == 0
    gone = purge_expired(ctx.sessions, settings, NOW + timedelta(days=31))
    assert gone["sim_jobs"] == 1
    assert [j.id for j in db.scalars(select(SimJob))] == [waiting]


def test_the_api_queues_a_comparison_and_answers_its_figures_when_done(
        client: TestClient, auth: Any, ctx: AppContext, db: Peek) -> None:
    asked = client.post("/api/v1/sim/comparisons", headers=auth("regulator"),
                        json=COMPARISON)
    assert asked.status_code == 202, asked.text
    job = asked.json()
    assert (job["status"], job["runs_done"], job["runs_total"]) == ("queued", 0, 4)
    assert asked.headers["location"] == f"/api/v1/sim/jobs/{job['id']}"
    assert client.get(asked.headers["location"], headers=auth("regulator")).json()[
        "status"] == "queued"  # nothing ran in the request
    [held] = _claim(ctx, "here:1")
    assert loop.execute(ctx, held, lease=LEASE) == "done"
    done = client.get(asked.headers["location"], headers=auth("regulator")).json()
    assert (done["status"], done["runs_done"], done["error"]) == ("done", 4, None)
    [regulated, _] = done["result"]["scenarios"]
    assert regulated["source"] == "small-regulated.yaml"
    assert regulated["figures"]["time_in_system.mean"]["n"] == 2
    assert "plot_texts" not in done["params"]
    # the administrator sees it too; another caller's run is not found for a regulator
    assert client.get(asked.headers["location"], headers=auth("admin")).status_code == 200
    theirs = client.post("/api/v1/sim/comparisons", headers=auth("admin"),
                         json=COMPARISON).json()
    hidden = client.get(f"/api/v1/sim/jobs/{theirs['id']}", headers=auth("regulator"))
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"


def test_the_api_refuses_a_scenario_file_the_lab_does_not_offer(
        client: TestClient, auth: Any, db: Peek) -> None:
    refused = client.post("/api/v1/sim/comparisons", headers=auth("regulator"),
                          json={**COMPARISON, "scenarios": ["../../secret.yaml"]})
    assert refused.status_code == 422
    assert refused.json()["error"]["fields"][0]["field"] == "scenarios"
    too_long = client.post("/api/v1/sim/comparisons", headers=auth("regulator"),
                           json={**COMPARISON, "days": 40})
    assert too_long.status_code == 422
    assert db.scalars(select(SimJob)) == []


def test_the_api_answers_a_callers_search_while_it_waits_instead_of_a_second(
        client: TestClient, auth: Any, db: Peek) -> None:
    first = client.post("/api/v1/sim/searches", headers=auth("regulator"),
                        json={"trucks": 1600, "hours": 2})
    again = client.post("/api/v1/sim/searches", headers=auth("regulator"),
                        json={"trucks": 2500, "hours": 3})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["kind"] == "levers"
    assert first.json()["params"] == {"trucks": 1600, "hours": 2}
    assert len(db.scalars(select(SimJob))) == 1


@pytest.mark.slow
def test_a_worker_killed_mid_run_leaves_its_job_to_another_once_the_lease_runs_out(
        database: Database, tmp_path: Path, db: Peek) -> None:
    """Two real ``borderflow worker`` processes: the one running a comparison is killed
    (SIGKILL: no clean stop, no release), the other takes the job over when its lease has
    run out and finishes it."""
    env = {**_environment(database.url, tmp_path), "BORDERFLOW_SIM_LEASE_SECONDS": "3",
           "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": "0"}
    engine = make_engine(database.url)
    with make_session_factory(engine)() as session:
        account = session.scalars(select(Account).where(Account.username == "regulator")).one()
        who = Principal(id=account.id, username="regulator", kind="user",
                        roles=frozenset({Role.REGULATOR}))
        params = {"scenarios": ["lang-son-baseline.yaml", "priority-off.yaml"], "days": 7,
                  "replications": 5, "seed": 1}
        job = service.submit(session, actor=who, kind="compare", params=params,
                             runs_total=work.compare_runs(params), now=datetime.now(UTC))
        job_id = job.id
        session.commit()
    engine.dispose()
    workers: list[Worker] = []
    try:
        for _ in range(2):
            process = subprocess.Popen(  # this interpreter, a fixed command
                [sys.executable, "-c", "from borderflow.cli.main import app; app()", "worker"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            workers.append(Worker(process))
            threading.Thread(target=workers[-1].read, daemon=True).start()
        for w in workers:
            w.wait_for("worker started", STARTUP)
        deadline = time.monotonic() + STARTUP
        while _job(db, job_id).runs_done < 1:  # running, its progress written
            assert time.monotonic() < deadline, "nobody ran the job"
            time.sleep(0.05)
        first, second = sorted(workers, key=lambda w: not w.seen("simulation started"))
        assert second.seen("simulation started") == []  # one runner
        first.process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        took = second.wait_for("simulation taken over", 30, job=job_id)
        second.wait_for("simulation done", 120, job=job_id)
    finally:
        for w in workers:
            if w.process.poll() is None:
                w.process.kill()
            w.process.wait(10)
    done = _job(db, job_id)
    assert (done.status, done.attempts, done.runs_done) == ("done", 2, 10)
    print(f"taken over {took - killed:.2f} s after the kill (lease 3 s)")
    assert took - killed < 3 + loop.POLL_SECONDS + 2
