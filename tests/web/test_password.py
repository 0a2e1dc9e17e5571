"""Passwords people manage themselves: a change on the account page (current password, the
policy, the other sessions ended, audited) and a forgotten one reset with a one-time code sent
by SMS (the same page whether or not the username exists; the code hashed, used once, expired
after ten minutes, refused after a few wrong tries)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.domain.account import RESET_CODE_TRIES
from borderflow.store.models import (
    Account,
    AccountMessage,
    AuditEntry,
    PasswordResetCode,
    WebSession,
)
from tests.conftest import PASSWORD
from tests.web.test_driver import _csrf, _login, visible

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

NEW = "a fresh border crossing 7"


def _phone(client: TestClient, username: str) -> None:
    """The account's phone, saved on its account page."""
    assert _login(client, username).status_code == 303
    saved = client.post("/account/phone", data={"csrf": _csrf(client, "/account"),
                                                "phone": "0912 000 111"},
                        follow_redirects=False)
    assert saved.headers["location"] == "/account?done=phone#phone"


def _forgot(client: TestClient, username: str, lang: str = "en") -> Any:
    return client.post("/password/forgot", params={"lang": lang}, data={
        "csrf": _csrf(client, "/password/forgot"), "username": username})


def _code(db: Any) -> str:
    sms = db.scalars(select(AccountMessage).where(
        AccountMessage.kind == "password_reset_code").order_by(AccountMessage.id))[-1]
    found = re.search(r"\b(\d{6})\b", sms.text)
    assert found, sms.text
    return found.group(1)


def _reset(client: TestClient, username: str, code: str, password: str = NEW) -> Any:
    return client.post("/password/reset", params={"lang": "en"}, data={
        "csrf": _csrf(client, "/password/reset"), "username": username, "code": code,
        "new_password": password, "new_password_again": password}, follow_redirects=False)


def test_a_password_change_checks_the_current_one_and_ends_the_other_sessions(
    client: TestClient, settings: Any, clock: FixedClock, db: Any
) -> None:
    with TestClient(client.app) as other:
        assert _login(other, "regulator").status_code == 303
        assert _login(client, "regulator").status_code == 303
        page = client.get("/account", params={"lang": "vi"})
        assert 'id="password-title"' in page.text
        assert "Đổi mật khẩu" in visible(page.text)
        token = _csrf(client, "/account")
        wrong = client.post("/account/password", params={"lang": "en"}, data={
            "csrf": token, "current_password": "not it at all", "new_password": NEW,
            "new_password_again": NEW})
        assert wrong.status_code == 422
        assert 'id="current_password-error"' in wrong.text
        weak = client.post("/account/password", params={"lang": "en"}, data={
            "csrf": token, "current_password": PASSWORD, "new_password": "regulator12345",
            "new_password_again": "regulator12345"})
        assert weak.status_code == 422
        assert 'id="new_password-error"' in weak.text
        differ = client.post("/account/password", params={"lang": "en"}, data={
            "csrf": token, "current_password": PASSWORD, "new_password": NEW,
            "new_password_again": NEW + "x"})
        assert differ.status_code == 422
        assert 'id="new_password_again-error"' in differ.text
        done = client.post("/account/password", data={
            "csrf": token, "current_password": PASSWORD, "new_password": NEW,
            "new_password_again": NEW}, follow_redirects=False)
        assert done.headers["location"] == "/account?done=password#password"
        assert client.get("/console").status_code == 200  # this browser stays signed in
        assert "/login" in other.get("/console", follow_redirects=False).headers["location"]
    account = db.one(select(Account).where(Account.username == "regulator"))
    live = db.scalars(select(WebSession).where(WebSession.account_id == account.id,
                                               WebSession.revoked_at.is_(None)))
    assert len(live) == 1
    actions = [a.action for a in db.scalars(select(AuditEntry).where(
        AuditEntry.target_id == str(account.id)))]
    assert "account.password_change" in actions
    assert "session.revoke_all" in actions


def test_the_forgot_page_says_the_same_whether_or_not_the_user_exists(
    client: TestClient, db: Any
) -> None:
    _phone(client, "driver")
    client.cookies.clear()
    known = _forgot(client, "driver")
    unknown = _forgot(client, "nobody-at-all")
    assert known.status_code == unknown.status_code == 200
    assert visible(known.text).replace("driver", "X") == \
        visible(unknown.text).replace("nobody-at-all", "X")
    assert len(db.scalars(select(AccountMessage))) == 1  # only the real account gets one
    code = db.one(select(PasswordResetCode))
    assert code.code_hash.startswith("$argon2")
    assert _code(db) not in code.code_hash
    zh = _forgot(client, "nobody-at-all", lang="zh")
    assert "验证码" in visible(zh.text)


def test_a_reset_code_works_once_and_the_new_password_opens_the_account(
    client: TestClient, db: Any
) -> None:
    _phone(client, "driver")
    client.cookies.clear()
    _forgot(client, "driver")
    code = _code(db)
    weak = _reset(client, "driver", code, "password1234")
    assert weak.status_code == 422
    assert 'id="new_password-error"' in weak.text
    done = _reset(client, "driver", code)
    assert done.headers["location"] == "/login?reset=1"
    assert "password was changed" in visible(client.get("/login?reset=1&lang=en").text)
    again = _reset(client, "driver", code, "another fresh password 8")
    assert again.status_code == 422
    assert 'id="code-error"' in again.text
    old = client.post("/login", data={"csrf": _csrf(client), "username": "driver",
                                      "password": PASSWORD}, follow_redirects=False)
    assert old.status_code == 401
    new = client.post("/login", data={"csrf": _csrf(client), "username": "driver",
                                      "password": NEW}, follow_redirects=False)
    assert (new.status_code, new.headers["location"]) == (303, "/driver")


def test_a_reset_code_expires_after_ten_minutes(
    client: TestClient, clock: FixedClock, db: Any
) -> None:
    _phone(client, "driver")
    client.cookies.clear()
    _forgot(client, "driver")
    code = _code(db)
    clock.set(clock.now() + timedelta(minutes=10, seconds=1))
    late = _reset(client, "driver", code)
    assert late.status_code == 422
    assert 'id="code-error"' in late.text


def test_wrong_codes_are_limited_and_an_unknown_user_gets_the_same_answer(
    client: TestClient, db: Any
) -> None:
    _phone(client, "driver")
    client.cookies.clear()
    _forgot(client, "driver")
    code = _code(db)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [_reset(client, "driver", wrong) for _ in range(RESET_CODE_TRIES)]
    assert all(a.status_code == 422 for a in answers)
    assert db.one(select(PasswordResetCode)).attempts == RESET_CODE_TRIES
    spent = _reset(client, "driver", code)  # the right code, too late: the tries are spent
    assert spent.status_code == 422
    assert 'id="code-error"' in spent.text
    nobody = _reset(client, "nobody-at-all", code)
    assert visible(nobody.text).replace("nobody-at-all", "X") == \
        visible(spent.text).replace("driver", "X")


def test_forms_are_refused_past_their_limit_when_throttling_is_on(
    settings: Any, clock: FixedClock
) -> None:
    from borderflow.app import create_app

    app = create_app(settings.model_copy(update={"throttling": True}), clock=clock)
    with TestClient(app) as client:
        codes = [_forgot(client, "driver").status_code for _ in range(6)]
        assert codes[:5] == [200] * 5
        assert codes[5] == 429
    app.state.ctx.engine.dispose()
