"""Bursts of concurrent requests against the platform on a real port: every request is
served or refused at once (429/503 with ``Retry-After`` in the error shape), none waits long,
none answers 500, and reads stay fast while writes queue."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import Declaration, IdempotencyRecord
from tests import factories
from tests.conftest import Peek, served

pytestmark = pytest.mark.alone
"""These tests measure how long requests take under a burst: make test runs them by themselves,
after the others, so that no other test shares the machine's cores with them."""

LONGEST_WAIT = 5.0
"""No request of a burst may be inside the server longer than this (seconds), from its
arrival to its answer, as the server's request-duration histogram sees it."""
LONGEST_ROUND_TRIP = 15.0
"""Nor wait longer than this at the client, which shares the machine's cores with the server
(and, in a test run, with other tests): a stall was 30 to 60 s."""
CLIENT_TIMEOUT = 60.0
"""How long the test client waits before it counts a request as unanswered."""
REFUSALS = frozenset({429, 503})
QUOTE = {"payload_tonnes": "1.5", "goods_groups": ["fresh-vegetables"], "regime": "import",
         "flow": "import"}


@dataclass(frozen=True)
class Answer:
    kind: str
    status: int  # 0: no answer before CLIENT_TIMEOUT
    seconds: float
    headers: httpx.Headers | None
    body: Any


def burst(base_url: str, requests: list[tuple[str, str, str, dict[str, Any]]]
          ) -> list[Answer]:
    """Send every request at once, each on a connection of its own opened beforehand, and
    wait for all the answers. The requests are sent from another process, so that the
    client does not share the server's interpreter lock."""
    order = json.dumps({"base_url": base_url, "timeout": CLIENT_TIMEOUT,
                        "requests": requests})
    done = subprocess.run([sys.executable, "-c", _CLIENT], input=order, text=True,  # noqa: S603
                          capture_output=True, check=True, timeout=CLIENT_TIMEOUT + 30)
    return [Answer(kind, status, seconds, httpx.Headers(headers) if status else None, body)
            for kind, status, seconds, headers, body in json.loads(done.stdout)]


_CLIENT = """
import asyncio, json, sys, time
import httpx

order = json.load(sys.stdin)

async def send(client, kind, method, url, kwargs):
    start = time.perf_counter()
    try:
        r = await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        return [kind, 0, time.perf_counter() - start, {}, repr(exc)]
    seconds = time.perf_counter() - start
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return [kind, r.status_code, seconds, dict(r.headers), body]

async def main():
    requests = order["requests"]
    n = len(requests)
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=order["base_url"], timeout=order["timeout"],
                                 limits=limits) as client:
        # One open connection per request first, as clients that are already connected.
        await asyncio.gather(*(client.get("/healthz") for _ in range(n)))
        return await asyncio.gather(*(send(client, *r) for r in requests))

json.dump(asyncio.run(main()), sys.stdout)
"""


def figures(answers: list[Answer]) -> str:
    """p50/p99/max latency and status counts per kind, for the failure message."""
    lines = []
    for kind in sorted({a.kind for a in answers}):
        mine = sorted(a.seconds for a in answers if a.kind == kind)
        statuses: dict[int, int] = {}
        for a in answers:
            if a.kind == kind:
                statuses[a.status] = statuses.get(a.status, 0) + 1
        lines.append(f"{kind}: n={len(mine)} p50={mine[len(mine) // 2]:.2f}s "
                     f"p99={mine[min(len(mine) - 1, len(mine) * 99 // 100)]:.2f}s "
                     f"max={mine[-1]:.2f}s statuses={dict(sorted(statuses.items()))}")
    return "\n".join(lines)


def assert_refusal_shape(a: Answer) -> None:
    assert a.headers is not None
    assert int(a.headers["Retry-After"]) >= 1, a
    assert set(a.body) == {"error"}, a.body
    assert {"code", "message", "fields"} <= set(a.body["error"]), a.body


def slower_than(seconds: float) -> float:
    """How many requests the server has answered so far in more than ``seconds`` (a bucket
    bound of its request-duration histogram), over every route."""
    over = 0.0
    for metric in REGISTRY.collect():
        if metric.name != "borderflow_http_request_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_bucket") and sample.labels["le"] == "+Inf":
                over += sample.value
            elif sample.name.endswith("_bucket") and float(sample.labels["le"]) == seconds:
                over -= sample.value
    return over


def timed_burst(base_url: str, requests: list[tuple[str, str, str, dict[str, Any]]]
                ) -> tuple[list[Answer], float]:
    """:func:`burst`, and how many of its requests were inside the server longer than
    LONGEST_WAIT."""
    before = slower_than(LONGEST_WAIT)
    answers = burst(base_url, requests)
    return answers, slower_than(LONGEST_WAIT) - before


def assert_served_or_refused_at_once(answers: list[Answer], slow: float) -> None:
    report = figures(answers)
    unanswered = [a.body for a in answers if a.status == 0]
    assert not unanswered, f"unanswered requests: {unanswered[:3]}\n{report}"
    assert all(a.status < 500 or a.status == 503 for a in answers), report
    assert slow == 0, f"{slow:.0f} requests inside the server over {LONGEST_WAIT} s\n{report}"
    assert max(a.seconds for a in answers) <= LONGEST_ROUND_TRIP, report
    for a in answers:
        if a.status in REFUSALS:
            assert_refusal_shape(a)


@pytest.fixture
def enterprise(auth: Any) -> dict[str, str]:
    headers: dict[str, str] = auth("enterprise")
    return headers


@pytest.mark.slow
def test_a_burst_of_300_mixed_requests_is_served_or_refused_at_once(
    settings: Settings, clock: FixedClock, enterprise: dict[str, str], db: Peek
) -> None:
    requests: list[tuple[str, str, str, dict[str, Any]]] = []
    for i in range(300):
        match i % 3:
            case 0:
                requests.append(("declaration", "POST", "/api/v1/declarations", {
                    "json": factories.declaration(),
                    "headers": {**enterprise, "Idempotency-Key": f"burst-{i}"}}))
            case 1:
                requests.append(("quote", "POST", "/api/v1/tariffs/quote", {"json": QUOTE}))
            case _:
                requests.append(("read", "GET", "/api/v1/occupancy", {}) if i % 2 else
                                ("read", "GET", "/api/v1/declarations", {"headers": enterprise}))
    with served(settings, clock) as client:
        answers, slow = timed_burst(str(client.base_url), requests)
    print("\n" + figures(answers))
    assert_served_or_refused_at_once(answers, slow)
    by_kind = {kind: [a for a in answers if a.kind == kind] for kind in
               ("declaration", "quote", "read")}
    assert {a.status for a in by_kind["declaration"]} <= {201} | REFUSALS, figures(answers)
    assert {a.status for a in by_kind["quote"]} <= {200} | REFUSALS, figures(answers)
    assert {a.status for a in by_kind["read"]} <= {200} | REFUSALS, figures(answers)
    stored = sum(a.status == 201 for a in by_kind["declaration"])
    assert stored >= 1, figures(answers)
    assert db.scalar(select(func.count()).select_from(Declaration)) == stored
    # Reads never queue behind the writers: not one is turned away for want of the database.
    assert all(a.status != 503 for a in by_kind["read"] + by_kind["quote"]), figures(answers)


@pytest.mark.slow
def test_100_concurrent_declarations_with_one_key_store_one(
    settings: Settings, clock: FixedClock, enterprise: dict[str, str], db: Peek
) -> None:
    headers = {**enterprise, "Idempotency-Key": "one-key-for-a-burst"}
    body = factories.declaration()
    requests = [("declaration", "POST", "/api/v1/declarations",
                 {"json": body, "headers": headers})] * 100
    with served(settings, clock) as client:
        answers, slow = timed_burst(str(client.base_url), requests)
        print("\n" + figures(answers))
        assert_served_or_refused_at_once(answers, slow)
        assert db.scalar(select(func.count()).select_from(Declaration)) == 1
        assert db.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
        stored = db.one(select(Declaration))
        created = [a for a in answers if a.status == 201]
        assert created, figures(answers)
        assert {a.body["id"] for a in created} == {stored.id}
        assert sum(a.headers is not None and "Idempotent-Replayed" not in a.headers
                   for a in created) == 1
        for a in answers:
            assert a.status in {201, 409}, figures(answers)
            if a.status == 409:
                assert a.body["error"]["code"] == "idempotency_in_progress", a.body
        # Once the first has answered, a retry is a replay of the same answer.
        again = client.post("/api/v1/declarations", json=body, headers=headers)
        assert again.status_code == 201
        assert again.headers["Idempotent-Replayed"] == "true"
        assert again.json() == next(a.body for a in created)
