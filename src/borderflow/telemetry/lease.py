"""One processor per partition of the positions stream, enforced rather than assumed.

A processor consumes a partition only while it holds that partition's lease: a PostgreSQL
session advisory lock on (the stream, the partition), taken on a connection of its own and held
as long as that connection lives. A second processor given the same partition stands by,
trying every few seconds, and takes over when the first stops or its connection is lost (the
lock goes with the session: no lease can outlive a dead processor). Whatever the first had not
acknowledged is delivered again and stored once.

A processor that loses its lease (its lock connection fails) stops fetching until it holds it
again. A batch it was writing meanwhile may also be written by the new holder: that is safe,
as every write is idempotent (positions keyed by device and fix time, trip events by their
idempotency key, device rows locked in id order). On SQLite, one process: no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog
from sqlalchemy import Engine, text

log = structlog.get_logger("borderflow.telemetry")

RETRY_SECONDS = 2.0
"""How often a standing-by processor tries to take the lease."""
CHECK_SECONDS = 5.0
"""How often a holder checks that its lock connection (hence the lease) is still there."""


class PartitionLease:
    """The leases of a processor's partitions (:mod:`borderflow.telemetry.lease`)."""

    def __init__(self, engine: Engine, stream: str) -> None:
        self.engine, self.stream = engine, stream
        self._held: dict[int, Any] = {}  # partition -> its lock connection
        self._locks: dict[int, asyncio.Lock] = {}

    def _try(self, partition: int) -> Any | None:
        conn = self.engine.connect()
        try:
            got = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:s), :p)"),
                               {"s": f"borderflow.telemetry:{self.stream}", "p": partition}
                               ).scalar()
            conn.commit()  # the lock is the session's: it outlives the transaction
        except Exception:
            conn.close()
            raise
        if got:
            return conn
        conn.close()
        return None

    async def acquire(self, partition: int, stop: asyncio.Event) -> bool:
        """Wait until this processor holds the partition's lease (True), or ``stop`` is set
        (False). Several consumers of one partition share its lease."""
        lock = self._locks.setdefault(partition, asyncio.Lock())
        async with lock:
            said = False
            while partition not in self._held:
                if stop.is_set():
                    return False
                try:
                    conn = await asyncio.to_thread(self._try, partition)
                except Exception as exc:  # the database is away: tried again
                    log.warning("partition lease not taken; trying again", partition=partition,
                                reason=repr(exc)[:200])
                    conn = None
                if conn is not None:
                    self._held[partition] = conn
                    log.info("partition lease taken", stream=self.stream, partition=partition)
                    break
                if not said:
                    log.info("partition held by another processor; standing by",
                             stream=self.stream, partition=partition)
                    said = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
            return True

    async def held(self, partition: int) -> bool:
        """Whether the lease is still this processor's (its lock connection answers); a lost
        one is let go, to be taken again with :meth:`acquire`."""
        conn = self._held.get(partition)
        if conn is None:
            return False
        try:
            await asyncio.to_thread(lambda: conn.execute(text("SELECT 1")).scalar())
        except Exception as exc:
            log.warning("partition lease lost; standing by", partition=partition,
                        reason=repr(exc)[:200])
            self._drop(partition)
            return False
        return True

    def _drop(self, partition: int) -> None:
        conn = self._held.pop(partition, None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()  # never back to the pool: its session may hold the lock
                conn.close()

    def release(self) -> None:
        """Let every lease go (the processor stops)."""
        for partition in list(self._held):
            conn = self._held.pop(partition)
            with contextlib.suppress(Exception):
                conn.execute(text("SELECT pg_advisory_unlock_all()"))
                conn.commit()
            with contextlib.suppress(Exception):
                conn.close()
