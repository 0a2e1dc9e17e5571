"""Who a credential is, remembered for a moment: a burst with one token looks the account up
once, and nothing that ends or changes an account's rights waits for the memory to fade."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from borderflow.account.remembered import Remembered
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.domain.access import Principal, Role
from tests.conftest import PASSWORD


@pytest.fixture
def client(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The platform remembering callers for a minute: on a busy machine twenty requests can
    outlast the default second, and what is checked must not depend on the machine's speed."""
    app = create_app(settings.model_copy(update={"caller_memory_seconds": 60}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _account_reads(engine: Engine) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM accounts" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    return seen


def test_twenty_requests_with_one_token_look_the_account_up_once(
        client: TestClient, auth: Any) -> None:
    headers = auth("enterprise")
    reads = _account_reads(client.app.state.ctx.engine)  # type: ignore[attr-defined]
    for _ in range(20):
        assert client.get("/api/v1/declarations", headers=headers).status_code == 200
    assert len(reads) == 1


def test_a_changed_role_and_a_disabled_account_count_at_once(
        client: TestClient, auth: Any) -> None:
    regulator = auth("regulator")
    assert client.get("/api/v1/dispatch/queue", headers=regulator).status_code == 200
    admin = auth("admin")
    accounts = client.get("/api/v1/accounts", headers=admin).json()
    reg = next(a for a in (accounts["items"] if isinstance(accounts, dict) else accounts)
               if a["username"] == "regulator")
    changed = client.patch(f"/api/v1/accounts/{reg['id']}", headers=admin,
                           json={"roles": ["partner_liaison"]})
    assert changed.status_code == 200, changed.text
    # A role change revokes the account's tokens: the remembered one is refused at once.
    assert client.get("/api/v1/dispatch/queue", headers=regulator).status_code == 401
    login = client.post("/api/v1/auth/token",
                        data={"username": "regulator", "password": PASSWORD})
    assert login.status_code == 200, login.text
    again = {"Authorization": f"Bearer {login.json()['access_token']}"}  # now a liaison
    assert client.get("/api/v1/dispatch/queue", headers=again).status_code == 403
    assert client.get("/api/v1/exchange/bulletins", headers=again).status_code == 200
    off = client.patch(f"/api/v1/accounts/{reg['id']}", headers=admin, json={"active": False})
    assert off.status_code == 200, off.text
    refused = client.get("/api/v1/exchange/bulletins", headers=again)
    assert refused.status_code == 401
    assert "disabled" in refused.json()["error"]["message"]


def test_a_password_change_revokes_the_remembered_token_at_once(
        client: TestClient, auth: Any) -> None:
    headers = auth("enterprise")
    assert client.get("/api/v1/declarations", headers=headers).status_code == 200
    r = client.post("/api/v1/me/password", headers=headers,
                    json={"current_password": PASSWORD,
                          "new_password": "another long enough passphrase 42"})
    assert r.status_code == 200, r.text
    assert client.get("/api/v1/declarations", headers=headers).status_code == 401


def test_a_remembered_token_still_expires_on_the_platforms_clock(
        client: TestClient, auth: Any, clock: FixedClock) -> None:
    headers = auth("enterprise")
    assert client.get("/api/v1/declarations", headers=headers).status_code == 200
    clock.set(clock.now() + timedelta(hours=2))
    expired = client.get("/api/v1/declarations", headers=headers)
    assert expired.status_code == 401


def test_what_is_remembered_is_forgotten_after_its_time() -> None:
    now = [100.0]
    memory = Remembered(1.0, monotonic=lambda: now[0])
    who = Principal(id=1, username="e", kind="user", roles=frozenset({Role.ENTERPRISE}))
    memory.put("token", "abc", who)
    assert memory.get("token", "abc") == who
    assert memory.get("token", "abd") is None
    assert memory.get("key", "abc") is None  # an API key is never taken for a token
    now[0] += 1.0
    assert memory.get("token", "abc") is None
    off = Remembered(0.0, monotonic=lambda: now[0])
    off.put("token", "abc", who)
    assert off.get("token", "abc") is None
