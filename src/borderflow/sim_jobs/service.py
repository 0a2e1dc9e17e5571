"""The scenario lab's jobs as rows: submitted by a page in the request's transaction (audited),
claimed by a runner under a lease, their progress and outcome written by that runner only.

**Claims.** A job is claimable while ``queued``, or ``running`` with its lease run out (its
runner died or lost the database). A claim is a conditional update (``attempts = attempts + 1``
where ``attempts`` and ``status`` are still what was read); on PostgreSQL the candidates are
read ``FOR UPDATE SKIP LOCKED``, so concurrent runners pass each other by, and on SQLite the
single writer and the condition do the same: of several runners exactly one gets each job.
The attempt number is the claim's fencing token: progress, lease renewals and the outcome are
written only while ``attempts`` is still the runner's, so a runner that was taken over (it
stalled past its lease) writes nothing more. A job claimed :data:`MAX_ATTEMPTS` times without
an outcome fails for good ("its runners stopped"), so one that kills its runner is not retried
for ever.

**Who sees which.** A job is seen by the account that submitted it, and by administrators
(:func:`visible`); another regulator's job is "not found".

**Audit.** Submitting, the outcome (done or failed) and a take-over of a dead runner's job are
audited; claims, lease renewals and progress are the runners' bookkeeping (as the notification
sender's claims are) and only logged.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from borderflow import audit
from borderflow.domain.access import SYSTEM, Principal, Role
from borderflow.errors import N_
from borderflow.store.models import SimJob

log = structlog.get_logger("borderflow.sim_jobs")

KINDS = ("compare", "levers")
UNFINISHED = ("queued", "running")
MAX_ATTEMPTS = 3
"""Claims without an outcome after which a job fails for good."""
MAX_UNFINISHED = 3
"""Jobs one account may have queued or running at once."""
RECENT = 10
"""Jobs a page lists (the latest of the account)."""

Job = SimJob
"""A job's row, as the pages read it."""

FAILURES = {
    "failed": N_("The run failed; the log of the process that ran it says why."),
    "runner_lost": N_("The run was given up: the process running it stopped every time."),
}
"""A failed job's reason, by its code (``scenario_invalid`` lists the scenario file's problems
instead)."""
TOO_MANY = N_("You already have three runs waiting or running: wait until one has finished.")


@dataclass(frozen=True)
class Claim:
    """A job a runner holds: what to run, and the attempt that fences its writes."""

    job_id: str
    kind: str
    params: dict[str, Any]
    attempt: int
    runs_total: int
    runner: str


def visible(who: Principal) -> ColumnElement[bool]:
    """The jobs ``who`` may see: their own, every one for an administrator."""
    if Role.ADMIN in who.roles:
        return SimJob.id.is_not(None)
    return SimJob.account_id == who.id if who.id is not None else SimJob.id.is_(None)


def submit(session: Session, *, actor: Principal, kind: str, params: dict[str, Any],
           runs_total: int, now: datetime, audited: dict[str, Any] | None = None) -> SimJob:
    """Queue a job (in the caller's transaction, with its audit row); ``audited`` is what the
    audit row keeps of the parameters (default: all of them)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    job = SimJob(id=secrets.token_hex(8), kind=kind, status="queued", account_id=actor.id,
                 params=params, runs_done=0, runs_total=runs_total, attempts=0,
                 created_at=now)
    session.add(job)
    audit.record(session, actor=actor, action="sim.job_submitted", target_type="sim_job",
                 target_id=job.id, at=now,
                 after={"kind": kind, "params": params if audited is None else audited})
    return job


def unfinished(session: Session, who: Principal, kind: str | None = None) -> list[SimJob]:
    """The account's jobs still queued or running (oldest first)."""
    q = select(SimJob).where(SimJob.account_id == who.id, SimJob.status.in_(UNFINISHED))
    if kind is not None:
        q = q.where(SimJob.kind == kind)
    return list(session.scalars(q.order_by(SimJob.created_at, SimJob.id).limit(MAX_UNFINISHED + 1)))


def get(session: Session, who: Principal, job_id: str, kind: str) -> SimJob | None:
    """A job of ``kind`` that ``who`` may see, or None."""
    return session.scalar(select(SimJob).where(SimJob.id == job_id, SimJob.kind == kind,
                                               visible(who)))


def recent(session: Session, who: Principal, kind: str, limit: int = RECENT
           ) -> Sequence[Any]:
    """The latest jobs of ``kind`` that ``who`` may see, newest first, without their
    results: (id, status, runs done, runs total, created at, params)."""
    return session.execute(
        select(SimJob.id, SimJob.status, SimJob.runs_done, SimJob.runs_total,
               SimJob.created_at, SimJob.params)
        .where(SimJob.kind == kind, visible(who))
        .order_by(SimJob.created_at.desc(), SimJob.id.desc()).limit(limit)).all()


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(SimJob.status == "queued",
               and_(SimJob.status == "running", SimJob.lease_until < now))


def _give_up(session: Session, now: datetime) -> None:
    """Jobs whose runners stopped every time: failed for good, never claimed again."""
    dead = session.execute(
        select(SimJob.id, SimJob.attempts).where(
            SimJob.status == "running", SimJob.lease_until < now,
            SimJob.attempts >= MAX_ATTEMPTS).with_for_update(skip_locked=True)).all()
    for job_id, attempts in dead:
        error = {"code": "runner_lost", "attempts": attempts}
        gone = session.execute(
            update(SimJob).where(SimJob.id == job_id, SimJob.attempts == attempts,
                                 SimJob.status == "running")
            .values(status="failed", error=error, finished_at=now, lease_until=None)
            .execution_options(synchronize_session=False))
        if gone.rowcount == 1:  # type: ignore[attr-defined]
            audit.record(session, actor=SYSTEM, action="sim.job_failed", target_type="sim_job",
                         target_id=job_id, at=now, after={"error": error})


def claim(sessions: sessionmaker[Session], read_sessions: sessionmaker[Session], *,
          now: datetime, limit: int, lease: timedelta, runner: str) -> list[Claim]:
    """Claim up to ``limit`` claimable jobs, oldest first, each for ``lease``."""
    if limit <= 0:
        return []
    with read_sessions() as look:  # a cheap look first: no write lock when nothing is due
        if look.scalar(select(SimJob.id).where(_claimable(now)).limit(1)) is None:
            return []
    claims = []
    with sessions() as session:
        _give_up(session, now)
        due = session.execute(
            select(SimJob.id, SimJob.kind, SimJob.params, SimJob.attempts, SimJob.status,
                   SimJob.runner, SimJob.runs_total)
            .where(_claimable(now), SimJob.attempts < MAX_ATTEMPTS)
            .order_by(SimJob.created_at, SimJob.id).limit(limit)
            .with_for_update(skip_locked=True)).all()
        for job_id, kind, params, attempts, status, before, total in due:
            taken = session.execute(
                update(SimJob)
                .where(SimJob.id == job_id, SimJob.attempts == attempts,
                       SimJob.status == status, _claimable(now))
                .values(status="running", attempts=attempts + 1, lease_until=now + lease,
                        runner=runner, started_at=now, runs_done=0)
                .execution_options(synchronize_session=False))
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue
            claims.append(Claim(job_id, kind, dict(params), attempts + 1, total, runner))
            if status == "running":  # its runner's lease ran out: it died or was cut off
                audit.record(session, actor=SYSTEM, action="sim.job_taken_over",
                             target_type="sim_job", target_id=job_id, at=now,
                             before={"runner": before, "attempt": attempts},
                             after={"runner": runner, "attempt": attempts + 1})
                log.warning("simulation taken over", job=job_id, runner=runner,
                            previous=before)
        session.commit()
    return claims


def _held(job: Claim) -> ColumnElement[bool]:
    return and_(SimJob.id == job.job_id, SimJob.attempts == job.attempt,
                SimJob.status == "running")


def _write(sessions: sessionmaker[Session], job: Claim, **values: Any) -> bool:
    with sessions() as session:
        kept = session.execute(update(SimJob).where(_held(job)).values(**values)
                               .execution_options(synchronize_session=False))
        session.commit()
    return int(kept.rowcount) == 1  # type: ignore[attr-defined]


def renew(sessions: sessionmaker[Session], job: Claim, until: datetime) -> bool:
    """Move the lease of a job still held to ``until``; False: the claim was lost."""
    return _write(sessions, job, lease_until=until)


def progress(sessions: sessionmaker[Session], job: Claim, done: int, total: int,
             until: datetime) -> bool:
    """Runs done so far (and the lease moved on); False: the claim was lost."""
    return _write(sessions, job, runs_done=done, runs_total=max(total, done),
                  lease_until=until)


def release(sessions: sessionmaker[Session], job: Claim) -> bool:
    """Give a job back to the queue (its runner is stopping): another runner starts it again
    at once, and this claim does not count as one without an outcome."""
    return _write(sessions, job, status="queued", lease_until=None, runs_done=0,
                  attempts=job.attempt - 1, runner=None)


def _outcome(sessions: sessionmaker[Session], job: Claim, now: datetime, action: str,
             values: dict[str, Any], audited: dict[str, Any]) -> bool:
    with sessions() as session:
        kept = session.execute(update(SimJob).where(_held(job))
                               .values(finished_at=now, lease_until=None, **values)
                               .execution_options(synchronize_session=False))
        if kept.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            return False
        audit.record(session, actor=SYSTEM, action=action, target_type="sim_job",
                     target_id=job.job_id, at=now, after=audited)
        session.commit()
    return True


def finish(sessions: sessionmaker[Session], job: Claim, result: dict[str, Any], *,
           runs: int, now: datetime) -> bool:
    """The job done with its results; False: the claim was lost (nothing written)."""
    return _outcome(sessions, job, now, "sim.job_finished",
                    {"status": "done", "result": result, "runs_done": runs,
                     "runs_total": max(runs, job.runs_total)},
                    {"status": "done", "runs": runs, "runner": job.runner})


def fail(sessions: sessionmaker[Session], job: Claim, error: dict[str, Any], *,
         now: datetime) -> bool:
    """The job failed for good with ``error`` (a code a page says in words, and its
    details); False: the claim was lost (nothing written)."""
    return _outcome(sessions, job, now, "sim.job_failed",
                    {"status": "failed", "error": error},
                    {"error": error, "runner": job.runner})
