"""Background runs (the dispatcher, the sender, the purges) start one interval apart, however
long a run takes, so a standby worker tries for the dispatcher's lead every interval; a wake-up
runs one at once."""

from __future__ import annotations

import asyncio
import time

from borderflow.api.background import SETTLE_SECONDS, periodic


def test_runs_start_an_interval_apart_and_a_wake_up_runs_one_at_once() -> None:
    starts: list[float] = []

    def work() -> None:
        starts.append(time.monotonic())
        time.sleep(0.1)

    async def main() -> float:
        wake = asyncio.Event()
        async with periodic(0.4, work, "test", wake):
            await asyncio.sleep(2.1)  # runs due at 0.4, 0.8 … 2.0
            woken = time.monotonic()
            wake.set()
            await asyncio.sleep(SETTLE_SECONDS + 0.3)
        return woken

    woken = asyncio.run(main())
    assert len([s for s in starts if s < woken]) >= 4  # not one per interval + run + settle
    assert any(woken < s <= woken + SETTLE_SECONDS + 0.25 for s in starts)
