"""Officials' second factor: TOTP enrolled with a QR code and confirmed with a first code,
asked for after the password on the web and as ``otp`` by the API; a wrong or replayed code
refused; ten recovery codes, each working once; required for officials where the settings
say so; reset by an admin; every step audited."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from borderflow.account import second_factor
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.domain.access import Role
from borderflow.store.models import Account, AuditEntry, RecoveryCode, SecondFactor
from tests.conftest import NOW, PASSWORD, Peek


def _csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found, path
    return found.group(1)


def _login(client: TestClient, username: str) -> Any:
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf": _csrf(client)}, follow_redirects=False)


def _id(db: Peek, username: str) -> int:
    return int(db.scalar(select(Account.id).where(Account.username == username)))


def _actions(db: Peek, account_id: int) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).where(
        AuditEntry.target_type == "account", AuditEntry.target_id == str(account_id))
        .order_by(AuditEntry.seq)))


def _enrol_on_the_web(client: TestClient, clock: FixedClock) -> tuple[str, list[str]]:
    """Set up the signed-in visitor's second factor; return its secret and recovery codes."""
    r = client.post("/account/second-factor/start", data={"csrf": _csrf(client, "/account")},
                    follow_redirects=False)
    assert r.status_code == 303
    page = client.get("/account", params={"lang": "en"}).text
    assert "<svg" in page  # the QR code, drawn by the app itself
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page)
    assert secret
    wrong = client.post("/account/second-factor/confirm",
                        data={"csrf": _csrf(client, "/account"), "code": "000000"})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    done = client.post("/account/second-factor/confirm",
                       data={"csrf": _csrf(client, "/account"), "code": code})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(codes) == 10
    return secret.group(1), codes


@pytest.fixture
def strict(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The platform where officials must use a second factor (as in production)."""
    app = create_app(settings.model_copy(update={"second_factor": "required"}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def test_enrolment_then_login_with_the_code_and_a_replayed_code_refused(
    client: TestClient, clock: FixedClock, db: Peek
) -> None:
    _login(client, "customs")
    before = client.cookies.get("bf_session")
    secret, _ = _enrol_on_the_web(client, clock)
    # enrolment rotated the session: the new cookie works, the old one is ended
    assert client.cookies.get("bf_session") != before
    assert client.get("/officer", follow_redirects=False).status_code == 200
    used = pyotp.TOTP(secret).at(clock.now())
    client.post("/logout", data={"csrf": _csrf(client, "/officer")})
    asked = _login(client, "customs")
    assert asked.status_code == 200  # the password alone does not sign in
    assert 'name="code"' in asked.text
    assert client.get("/officer", follow_redirects=False).status_code == 303
    replay = client.post("/login/code", data={"csrf": _csrf(client), "code": used})
    assert replay.status_code == 401
    clock.set(clock.now() + timedelta(seconds=30))
    ok = client.post("/login/code", data={"csrf": _csrf(client),
                                          "code": pyotp.TOTP(secret).at(clock.now())},
                     follow_redirects=False)
    assert (ok.status_code, ok.headers["location"]) == (303, "/officer")
    assert client.get("/officer", follow_redirects=False).status_code == 200
    customs = _id(db, "customs")
    actions = _actions(db, customs)
    assert "mfa.enrol" in actions
    assert actions[-2:] == ["auth.login_failed", "auth.login"]
    stored = db.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.account_id == customs))
    assert len(stored) == 10
    assert all(h.startswith("$argon2id$") for h in stored)


def test_the_code_step_needs_the_password_step_first(client: TestClient) -> None:
    r = client.post("/login/code", data={"csrf": _csrf(client), "code": "123456"},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/login")


@pytest.mark.slow
def test_the_api_asks_for_the_code_refuses_a_replay_and_takes_a_recovery_code_once(
    client: TestClient, clock: FixedClock, db: Peek
) -> None:
    _login(client, "cashier")
    secret, codes = _enrol_on_the_web(client, clock)
    clock.set(clock.now() + timedelta(seconds=60))
    form = {"username": "cashier", "password": PASSWORD}
    missing = client.post("/api/v1/auth/token", data=form)
    assert missing.status_code == 401
    assert missing.json()["error"]["fields"][0]["field"] == "otp"
    code = pyotp.TOTP(secret).at(clock.now())
    assert client.post("/api/v1/auth/token", data={**form, "otp": code}).status_code == 200
    assert client.post("/api/v1/auth/token", data={**form, "otp": code}).status_code == 401
    wrong = client.post("/api/v1/auth/token", data={**form, "otp": "123456"})
    assert wrong.status_code == 401
    first = client.post("/api/v1/auth/token", data={**form, "otp": codes[3].upper()})
    assert first.status_code == 200
    assert client.post("/api/v1/auth/token", data={**form, "otp": codes[3]}).status_code == 401
    actions = _actions(db, _id(db, "cashier"))
    assert actions.count("mfa.recovery_code_used") == 1
    assert actions.count("auth.login_failed") == 3  # a missing code is only asked for


@pytest.mark.slow
def test_officials_must_enrol_where_required_and_others_need_not(
    strict: TestClient, clock: FixedClock, db: Peek
) -> None:
    refused = strict.post("/api/v1/auth/token", data={"username": "regulator",
                                                     "password": PASSWORD})
    assert refused.status_code == 401
    assert refused.json()["error"]["fields"][0]["field"] == "otp"
    r = _login(strict, "regulator")
    assert (r.status_code, r.headers["location"]) == (303, "/account")
    # nothing else opens before the second factor is set up
    assert strict.get("/console", follow_redirects=False).headers["location"] == "/account"
    page = strict.get("/account", params={"lang": "en"}).text
    assert "must log in with a second factor" in page
    secret, _ = _enrol_on_the_web(strict, clock)
    assert strict.get("/console", follow_redirects=False).status_code == 200
    clock.set(clock.now() + timedelta(seconds=30))
    token = strict.post("/api/v1/auth/token", data={
        "username": "regulator", "password": PASSWORD,
        "otp": pyotp.TOTP(secret).at(clock.now())})
    assert token.status_code == 200
    # an enterprise signs in with its password alone
    other = TestClient(strict.app)
    assert _login(other, "enterprise").headers["location"] == "/portal"


@pytest.mark.slow
def test_an_admin_resets_a_second_factor(
    client: TestClient, clock: FixedClock, db: Peek, auth: Any
) -> None:
    _login(client, "health")
    _enrol_on_the_web(client, clock)
    health = _id(db, "health")
    assert client.delete(f"/api/v1/accounts/{health}/second-factor",
                         headers=auth("regulator")).status_code == 403
    r = client.delete(f"/api/v1/accounts/{health}/second-factor", headers=auth("admin"))
    assert r.json() == {"enrolled": False, "required": False}
    assert db.scalar(select(SecondFactor).where(SecondFactor.account_id == health)) is None
    assert client.get("/officer", follow_redirects=False).status_code == 303  # sessions ended
    assert _login(client, "health").headers["location"] == "/officer"  # no code asked
    assert "mfa.reset" in _actions(db, health)


def test_second_factor_is_required_only_for_officials_and_in_production() -> None:
    auto = Settings(second_factor="auto")
    officials = {Role.ADMIN, Role.CASHIER, Role.YARD_OPERATOR, Role.CUSTOMS}
    assert not second_factor.required(auto, frozenset(officials))
    required = Settings(second_factor="required")
    for role in officials:
        assert second_factor.required(required, frozenset({role}))
    assert not second_factor.required(required, frozenset({Role.ENTERPRISE, Role.DRIVER}))


@given(offset=st.integers(min_value=-1, max_value=1), later=st.integers(min_value=0,
                                                                         max_value=5))
def test_a_code_passes_once_and_never_after_a_later_one(offset: int, later: int) -> None:
    secret = pyotp.random_base32()
    now = NOW + timedelta(seconds=15)
    step = int(now.timestamp()) // 30 + offset
    code = pyotp.TOTP(secret).at(step * 30)
    accepted = second_factor.matching_step(secret, code, now, after=0)
    assert accepted == step
    assert second_factor.matching_step(secret, code, now, after=accepted) is None
    assert second_factor.matching_step(secret, code, now, after=step + later) is None
