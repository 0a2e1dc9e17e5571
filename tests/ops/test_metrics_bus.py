"""Bus lag per partition on /metrics: the positions each processor's consumer has not yet
taken, read from the real NATS server (``BORDERFLOW_TEST_NATS_URL``); a server away is said,
not waited for."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from borderflow.ops.metrics import bus_lag

NATS_URL = os.environ.get("BORDERFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _samples(url: str, stream: str) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("consumer", "")): s.value
            for family in bus_lag(url, stream) for s in family.samples}


def test_the_positions_a_partition_has_not_taken_show_per_consumer() -> None:
    import nats

    tag = uuid.uuid4().hex[:10]
    stream, subject = f"TEST_{tag}", f"test.{tag}.positions"

    async def situation() -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{subject}.*"])
        for p in (0, 1):
            await js.pull_subscribe(f"{subject}.{p}", durable=f"processor-{p}", stream=stream)
        for _ in range(3):
            await js.publish(f"{subject}.0", b"{}", stream=stream)
        await js.publish(f"{subject}.1", b"{}", stream=stream)
        await nc.close()

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        await nc.jetstream().delete_stream(stream)
        await nc.close()

    asyncio.run(situation())
    try:
        got = _samples(NATS_URL, stream)
    finally:
        asyncio.run(delete())
    assert got[("borderflow_bus_up", "")] == 1
    assert got[("borderflow_bus_pending_messages", "processor-0")] == 3
    assert got[("borderflow_bus_pending_messages", "processor-1")] == 1
    assert got[("borderflow_bus_ack_pending_messages", "processor-0")] == 0


def test_a_bus_that_does_not_answer_is_reported_within_seconds() -> None:
    started = time.monotonic()
    assert _samples("nats://127.0.0.1:9", "POSITIONS") == {("borderflow_bus_up", ""): 0}
    assert time.monotonic() - started < 5
