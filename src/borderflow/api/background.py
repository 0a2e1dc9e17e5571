"""Work that runs every few seconds in the background (the dispatcher, the notification sender,
the purges), in ``borderflow worker`` or next to the API: one task per job, the work itself in
a worker thread, runs starting one interval apart (a run that takes longer is followed by the
next at once), a failed run logged and the next one tried, the task cancelled when the
process stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog

log = structlog.get_logger("borderflow.background")

SETTLE_SECONDS = 0.5
"""After a wake-up, wait this long so that a burst of changes makes one run, not many."""


async def _every(interval: float, work: Callable[[], Any], name: str,
                 wake: asyncio.Event | None) -> None:
    loop = asyncio.get_running_loop()
    due = loop.time() + interval
    while True:
        if wake is None:
            await asyncio.sleep(max(0.0, due - loop.time()))
        else:
            try:
                await asyncio.wait_for(wake.wait(), max(0.0, due - loop.time()))
                await asyncio.sleep(SETTLE_SECONDS)  # woken: a burst of changes makes one run
            except TimeoutError:
                pass  # the interval is up
            wake.clear()  # whatever woke it is seen by this run
        due = loop.time() + interval  # runs start an interval apart, however long they take
        try:
            await anyio.to_thread.run_sync(work)
        except Exception:  # the loop must survive any one bad run; it is logged
            log.exception("background run failed", job=name)


@asynccontextmanager
async def periodic(interval: float, work: Callable[[], Any], name: str,
                   wake: asyncio.Event | None = None) -> AsyncIterator[None]:
    """Run ``work`` every ``interval`` seconds while the context is open, and as soon as
    ``wake`` is set; 0 turns it off."""
    task = asyncio.create_task(_every(interval, work, name, wake)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
