"""Health, readiness, metrics, request ids, OpenAPI and the one error shape."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"


def test_readiness_fails_when_the_schema_is_missing(client: TestClient) -> None:
    engine = client.app.state.ctx.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE alembic_version RENAME TO alembic_version_away"))
    try:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["status"] == "unavailable"
    finally:  # the PostgreSQL pass shares one schema per worker: put it back
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE alembic_version_away RENAME TO alembic_version"))


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/api/v1/network/gates/huu-nghi")
    body = client.get("/metrics").text
    assert 'borderflow_http_requests_total{method="GET",route="/api/v1/network/{section}/{code}"' \
        in body


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = client.delete("/api/v1/network")
    assert r.status_code == 405
    assert set(r.json()["error"]) == {"code", "message", "fields"}


def test_openapi_states_the_roles_of_every_endpoint(client: TestClient) -> None:
    spec: dict[str, Any] = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "**Roles:**" in op.get("description", ""), f"{method.upper()} {path}"


def test_readiness_answers_while_every_request_thread_is_busy(client: TestClient) -> None:
    """A process whose request threads are all taken by a burst still answers the load
    balancer's readiness check (a check queued behind the burst would take the process out
    of the pool just when it is busiest)."""
    import anyio
    import anyio.to_thread
    import httpx

    app = client.app

    async def check() -> httpx.Response:
        limiter = anyio.to_thread.current_default_thread_limiter()
        holders = [object() for _ in range(int(limiter.total_tokens))]
        for holder in holders:
            await limiter.acquire_on_behalf_of(holder)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                with anyio.fail_after(5):
                    return await c.get("/readyz")
        finally:
            for holder in holders:
                limiter.release_on_behalf_of(holder)

    r = anyio.run(check)
    assert r.status_code == 200
    assert r.json()["checks"]["database"] == "ok"


def test_readiness_says_unavailable_when_the_database_does_not_answer_in_time(
        client: TestClient, monkeypatch: Any) -> None:
    import time

    from borderflow.ops import endpoints

    def hangs(engine: Any) -> str:
        time.sleep(2)
        return "never"

    monkeypatch.setattr(endpoints, "schema_revision", hangs)
    monkeypatch.setattr(endpoints, "READY_TIMEOUT_SECONDS", 0.3)
    started = time.monotonic()
    r = client.get("/readyz")
    assert r.status_code == 503
    assert time.monotonic() - started < 1.5
    assert "no answer within" in r.json()["checks"]["database"]
