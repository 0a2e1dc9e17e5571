"""The pool that runs the scenario lab's jobs, in the background work (``borderflow worker``,
or next to the API with ``BORDERFLOW_BACKGROUND=all``, as ``make run`` does): every
:data:`POLL_SECONDS` it claims as many queued jobs as it has free places
(``BORDERFLOW_SIM_WORKERS``), and runs each on a thread of its own:

- the claim's lease (``BORDERFLOW_SIM_LEASE_SECONDS``) is renewed every third of it while the
  job runs, and moved on with each progress write (after each replication, or each run of a
  search); a runner that finds its claim lost (it stalled past its lease and another runner
  took the job) stops at its next progress and writes nothing more;
- the outcome (results, or the failure as a code the page says in words) is written with its
  audit row; a job whose runner dies is claimed again by any runner once its lease has run
  out (:mod:`borderflow.sim_jobs.service`);
- when the process stops, each running job stops at its next progress and goes back to the
  queue, for another runner (or this one when it is back) to start again.

Several processes running the pool share the queue: each job runs once at a time."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio
import structlog
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from borderflow.api.background import periodic
from borderflow.api.context import AppContext
from borderflow.sim_jobs import service, work
from borderflow.store.session import make_engine, make_session_factory

log = structlog.get_logger("borderflow.sim_jobs")

POLL_SECONDS = 1.0
"""How often a pool with a free place looks for queued jobs."""


class Stopped(Exception):
    """The process is stopping: the job goes back to the queue."""


class Lost(Exception):
    """Another runner holds the job now: this one writes nothing more."""


class _Lease:
    """Renews a claim's lease every third of it until the job ends (on a thread of its own,
    so a long replication does not let it run out)."""

    def __init__(self, ctx: AppContext, job: service.Claim, lease: timedelta) -> None:
        self.ctx, self.job, self.lease = ctx, job, lease
        self.lost = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._renew, daemon=True,
                                        name=f"sim-lease-{job.job_id}")
        self._thread.start()

    def _renew(self) -> None:
        while not self._done.wait(self.lease.total_seconds() / 3):
            try:
                if not service.renew(self.ctx.sessions, self.job,
                                     self.ctx.clock.now() + self.lease):
                    self.lost = True
                    return
            except Exception:  # the database is away for a moment: try again next time
                log.warning("simulation lease not renewed", job=self.job.job_id,
                            exc_info=True)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def execute(ctx: AppContext, job: service.Claim, stopping: threading.Event | None = None,
            lease: timedelta | None = None) -> str:
    """Run one claimed job to its outcome: ``done``, ``failed``, ``released`` (the process
    is stopping) or ``lost`` (another runner took it over)."""
    lease = lease or timedelta(seconds=ctx.settings.sim_lease_seconds)
    held = _Lease(ctx, job, lease)
    ran = [0]

    def progress(done: int, total: int) -> None:
        if stopping is not None and stopping.is_set():
            raise Stopped
        ran[0] = done
        if held.lost:
            raise Lost
        try:
            kept = service.progress(ctx.sessions, job, done, total, ctx.clock.now() + lease)
        except SQLAlchemyError:  # the database away for a moment: the run goes on
            log.warning("simulation progress not written", job=job.job_id, exc_info=True)
            return
        if not kept:
            raise Lost

    log.info("simulation started", job=job.job_id, kind=job.kind, attempt=job.attempt)
    try:
        result = work.run(job.kind, job.params, ctx.settings.scenarios_dir, progress)
    except Stopped:
        service.release(ctx.sessions, job)
        log.info("simulation given back to the queue", job=job.job_id)
        return "released"
    except Lost:
        log.warning("simulation lost to another runner", job=job.job_id, attempt=job.attempt)
        return "lost"
    except Exception as exc:  # any failure of a job is its outcome, told on its page
        if not isinstance(exc, work.Invalid):
            log.exception("simulation failed", job=job.job_id)
        kept = service.fail(ctx.sessions, job, work.failure(exc), now=ctx.clock.now())
        return "failed" if kept else "lost"
    finally:
        held.stop()
    kept = service.finish(ctx.sessions, job, result, runs=max(ran[0], 1),
                          now=ctx.clock.now())
    log.info("simulation done", job=job.job_id, kept=kept)
    return "done" if kept else "lost"


class Pool:
    """At most ``size`` jobs at once, each on a thread of its own. It looks for queued jobs
    every :data:`POLL_SECONDS` on a connection of its own (the look takes no place in the
    API's pool of connections, and nothing is locked unless a job is there to claim)."""

    def __init__(self, ctx: AppContext, size: int) -> None:
        self.ctx, self.size = ctx, size
        self.name = f"{socket.gethostname()}:{os.getpid()}"[:100]
        self.stopping = threading.Event()
        self._running: set[Future[str]] = set()
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(max_workers=max(1, size),
                                           thread_name_prefix="sim-job")
        url = make_url(ctx.settings.database_url)
        in_memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
        self._look_engine = None if in_memory else make_engine(
            ctx.settings.database_url, pool_size=1, max_overflow=0)
        self._look = (ctx.read_sessions if self._look_engine is None
                      else make_session_factory(self._look_engine, write=False))

    def fill(self) -> int:
        """Claim as many jobs as there are free places and start them; how many."""
        with self._lock:
            self._running = {f for f in self._running if not f.done()}
            free = self.size - len(self._running)
        if free <= 0 or self.stopping.is_set():
            return 0
        lease = timedelta(seconds=self.ctx.settings.sim_lease_seconds)
        claims = service.claim(self.ctx.sessions, self._look,
                               now=self.ctx.clock.now(), limit=free, lease=lease,
                               runner=self.name)
        with self._lock:
            for job in claims:
                self._running.add(self._threads.submit(execute, self.ctx, job,
                                                       self.stopping, lease))
        return len(claims)

    def close(self) -> None:
        """Stop: running jobs go back to the queue at their next progress."""
        self.stopping.set()
        self._threads.shutdown(wait=True)
        if self._look_engine is not None:
            self._look_engine.dispose()


@asynccontextmanager
async def lifespan_with_sim_jobs(app: FastAPI) -> AsyncIterator[None]:
    ctx: AppContext = app.state.ctx
    size = ctx.settings.sim_workers
    if size <= 0:
        yield
        return
    pool = Pool(ctx, size)
    app.state.sim_pool = pool
    try:
        async with periodic(POLL_SECONDS, pool.fill, "simulations"):
            yield
    finally:
        await anyio.to_thread.run_sync(pool.close)
