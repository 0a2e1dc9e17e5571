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
