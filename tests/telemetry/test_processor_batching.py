"""What a processor puts in one transaction, against the real NATS JetStream and PostgreSQL: what
is waiting on its partition up to a bound counted in positions (and one in messages), many
one-position messages (OsmAnd) in one transaction, a message never split, every message
acknowledged only once its transaction is committed, and a transaction that fails taken apart
as before (the message that fails alone is delivered again or set aside, the others stored
once)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import nats
import pytest
from sqlalchemy.exc import OperationalError

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.session import make_session_factory
from borderflow.telemetry import wire
from borderflow.telemetry.bus import FenceCache, Processor
from borderflow.telemetry.decoders import Fix, Rejection
from borderflow.telemetry.nats_bus import DURABLE, Batching, RetryPolicy
from tests.conftest import NOW, Peek
from tests.telemetry import test_real_resilience as resilience
from tests.telemetry.test_real_bus import NATS_URL, wait_for
from tests.telemetry.test_real_resilience import _delete, _info, _publish, dead, fix, stored

pytestmark = pytest.mark.postgres


@pytest.fixture
def stream() -> Iterator[tuple[str, str]]:
    """A stream of the test's own, deleted afterwards (the server is shared)."""
    tag = uuid.uuid4().hex[:10]
    yield f"TEST_{tag}", f"test.{tag}.positions"
    with contextlib.suppress(Exception):  # never made
        asyncio.run(_delete(f"TEST_{tag}"))


def message(device: str, n: int, start: int = 0) -> bytes:
    """One message of ``n`` positions of one device."""
    return wire.encode([fix(device, start + i) for i in range(n)], NOW)


async def _pending(stream: str) -> int:
    """Messages of partition 0 delivered to its processor and not acknowledged yet."""
    nc = await nats.connect(NATS_URL)
    try:
        info = await nc.jetstream().consumer_info(stream, f"{DURABLE}-0")
        return int(info.num_ack_pending)
    finally:
        await nc.close()


class Recording:
    """The real processor, recording each transaction: its positions, the rows stored once it
    committed, and the messages then still unacknowledged."""

    def __init__(self, db: Peek, stream: str, fail: Any = None) -> None:
        self.real = Processor(make_session_factory(db.engine), FixedClock(NOW), FenceCache(30))
        self.db, self.stream, self.fail = db, stream, fail
        self.calls: list[dict[str, int]] = []

    def __call__(self, items: list[Fix | Rejection], received: list[Any]) -> Any:
        call = {"positions": len(items)}
        self.calls.append(call)
        if self.fail is not None:
            self.fail(items, len(self.calls))
        report = self.real(items, received)
        call["stored"] = stored(self.db)  # committed
        call["unacknowledged"] = asyncio.run(_pending(self.stream))
        return report


class Running(resilience.Running):
    """The resilience tests' processor thread with ``handle`` and the given bounds (by
    default one delivery, then set aside); leaving it fails the test if it raised."""

    def __init__(self, db: Peek, stream: tuple[str, str], handle: Any, *, positions: int,
                 messages: int = 1000, retry: RetryPolicy | None = None) -> None:
        super().__init__(db, stream, retry or RetryPolicy(max_deliver=1, backoff_seconds=(0.2,)),
                         handle=handle, messages=messages, positions=positions)

    def __exit__(self, *_: object) -> None:
        super().__exit__()
        assert not self.error


def test_the_bounds_ask_for_as_many_messages_as_fill_a_transaction() -> None:
    bounds = Batching(positions=4000, messages=1000, first=8)
    assert bounds.want(0, 0, None) == 8  # nothing seen yet
    assert bounds.want(0, 0, 1.0) == 1000  # one position a message: the message bound
    assert bounds.want(0, 0, 500.0) == 8
    assert bounds.want(3, 1500, 500.0) == 5
    assert bounds.want(999, 3999, 1.0) == 1
    assert bounds.want(2, 3900, 500.0) == 1  # never less than one
    with pytest.raises(ValueError, match="at least 1"):
        Batching(positions=0)


def test_many_one_position_messages_go_in_one_transaction_up_to_the_bound(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """Fifty OsmAnd-like messages of one position waiting: transactions of 20, 20 and 10
    positions (the positions bound, not one transaction per eight messages), each message
    acknowledged only after its transaction committed, the stream empty at the end."""
    asyncio.run(_publish(stream, [message(f"phone-{i}", 1) for i in range(50)]))
    handle = Recording(db, stream[0])
    with Running(db, stream, handle, positions=20):
        wait_for(lambda: stored(db) == 50, timeout=20)
        wait_for(lambda: asyncio.run(_pending(stream[0])) == 0, timeout=10)
    assert [c["positions"] for c in handle.calls] == [20, 20, 10]
    assert [c["stored"] for c in handle.calls] == [20, 40, 50]
    # committed, and not one of the transaction's messages acknowledged yet
    assert all(c["unacknowledged"] >= c["positions"] for c in handle.calls)
    assert asyncio.run(_info(stream[0])).state.messages == 0


def test_the_positions_bound_holds_and_a_message_is_never_split(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """Messages of 7, 7, 7, 30 and 7 positions under a bound of 20: two messages fit (a third
    would make 21), a message larger than the bound is a transaction of its own."""
    sizes = [7, 7, 7, 30, 7]
    asyncio.run(_publish(stream, [message(f"unit-{i}", n) for i, n in enumerate(sizes)]))
    handle = Recording(db, stream[0])
    with Running(db, stream, handle, positions=20):
        wait_for(lambda: stored(db) == sum(sizes), timeout=20)
    assert [c["positions"] for c in handle.calls] == [14, 7, 30, 7]
    assert all(c["unacknowledged"] >= 1 for c in handle.calls)


def test_the_message_bound_holds_too(settings: Settings, db: Peek,
                                     stream: tuple[str, str]) -> None:
    asyncio.run(_publish(stream, [message(f"phone-{i}", 1) for i in range(12)]))
    handle = Recording(db, stream[0])
    with Running(db, stream, handle, positions=1000, messages=5):
        wait_for(lambda: stored(db) == 12, timeout=20)
    assert [c["positions"] for c in handle.calls] == [5, 5, 2]


def test_a_failing_transaction_is_taken_apart_and_the_others_stored_once(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """Sixteen messages in one transaction, one of them a value no store takes: the
    transaction fails, its messages are written in halves until the bad one is alone, which
    is set aside (after its one delivery here) and acknowledged; the fifteen others are stored
    once and the stream is left empty."""
    poisoned = wire.encode([fix("poison", 1, lat="not a number")], NOW)
    messages = [message(f"phone-{i}", 1, start=10) for i in range(16)]
    messages[5] = poisoned
    asyncio.run(_publish(stream, messages))
    handle = Recording(db, stream[0])
    with Running(db, stream, handle, positions=100):
        wait_for(lambda: stored(db) == 15 and len(dead(db)) == 1, timeout=20)
        wait_for(lambda: asyncio.run(_pending(stream[0])) == 0, timeout=10)
    assert handle.calls[0]["positions"] == 16
    assert "stored" not in handle.calls[0]  # failed, nothing committed
    assert len(handle.calls) <= 1 + 2 * 4  # halves: a few transactions, not one per message
    (letter,) = dead(db)
    assert letter.payload == poisoned
    assert asyncio.run(_info(stream[0])).state.messages == 0


def test_a_transaction_failing_because_the_database_is_away_comes_again_whole(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """The database away (a transient failure): nothing is acknowledged, every message of the
    failed transaction comes again after the back-off, and each position is stored once. (The
    first transaction holds what the stream had waiting when it was taken: all ten, or on a
    busy machine fewer, the rest following in the next one.)"""

    def away_once(_items: list[Any], call: int) -> None:
        if call == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    asyncio.run(_publish(stream, [message(f"phone-{i}", 1) for i in range(10)]))
    handle = Recording(db, stream[0], fail=away_once)
    with Running(db, stream, handle, positions=100):
        wait_for(lambda: stored(db) == 10, timeout=20)
        wait_for(lambda: asyncio.run(_pending(stream[0])) == 0, timeout=10)
    assert 1 <= handle.calls[0]["positions"] <= 10
    # the failed transaction's positions came again, and none twice
    assert sum(c["positions"] for c in handle.calls[1:]) == 10
    assert dead(db) == []
    assert stored(db) == 10


def test_a_message_of_several_requests_that_keeps_failing_sets_aside_only_its_failing_position(
        settings: Settings, db: Peek, stream: tuple[str, str]) -> None:
    """Phones' requests gathered into one message, one of them a value no store takes: after
    its deliveries the message is taken apart, the other phones' positions are stored, and
    only the failing one is set aside, with the time its own request was received."""
    from datetime import timedelta

    later = NOW + timedelta(milliseconds=7)
    gathered = wire.encode_groups([([fix("phone-a", 1)], NOW),
                                   ([fix("poison", 1, lat="not a number")], later),
                                   ([fix("phone-b", 1), fix("phone-b", 2)], later)])
    asyncio.run(_publish(stream, [gathered]))
    handle = Recording(db, stream[0])
    with Running(db, stream, handle, positions=100):
        wait_for(lambda: stored(db) == 3 and len(dead(db)) == 1, timeout=20,
                 what=lambda: f"{stored(db)} stored, {len(dead(db))} dead letters")
        wait_for(lambda: asyncio.run(_pending(stream[0])) == 0, timeout=10)
    (letter,) = dead(db)
    items, received = wire.decode(letter.payload)
    assert [i.device_id for i in items] == ["poison"]
    assert received == [later]
    assert letter.positions == 1
    assert "not a number" in letter.reason  # the store's own words for the failing value
    assert asyncio.run(_info(stream[0])).state.messages == 0
