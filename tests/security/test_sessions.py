"""Browser sessions kept server-side: a logout ends the session at once (the old cookie
opens nothing), "log out everywhere" ends every session and API token, sessions end after
their idle time, the session and CSRF tokens are new at every login, a password or role
change ends the account's sessions, and each of these is audited."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import Account, AuditEntry, WebSession
from tests.conftest import PASSWORD, Peek


def _csrf(client: TestClient, path: str = "/login") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found
    return found.group(1)


def _login(client: TestClient, username: str) -> Any:
    return client.post("/login", data={"username": username, "password": PASSWORD,
                                       "csrf": _csrf(client)}, follow_redirects=False)


def _actions(db: Peek, account_id: int) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).where(
        AuditEntry.target_type == "account", AuditEntry.target_id == str(account_id))
        .order_by(AuditEntry.seq)))


def _account_id(db: Peek, username: str) -> int:
    return int(db.scalar(select(Account.id).where(Account.username == username)))


def test_logout_ends_the_session_at_once_and_the_old_cookie_opens_nothing(
    client: TestClient, db: Peek, clock: FixedClock
) -> None:
    assert _login(client, "customs").status_code == 303
    old_cookie = client.cookies.get("bf_session")
    assert old_cookie
    clock.set(clock.now() + timedelta(minutes=2))  # the last request time is written again
    assert client.get("/officer", follow_redirects=False).status_code == 200
    csrf = _csrf(client, "/officer")
    clock.set(clock.now() + timedelta(minutes=2))  # and again, by the form's own transaction
    out = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    # the browser dropped the cookie; an attacker who kept it gets nothing either
    client.cookies.set("bf_session", old_cookie)
    again = client.get("/officer", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/login?next=/officer")
    row = db.one(select(WebSession).where(WebSession.account_id == _account_id(db, "customs")))
    assert row.revoked_reason == "logout"
    assert row.token_sha256 != old_cookie  # only a digest of the token is kept
    assert _actions(db, _account_id(db, "customs"))[-3:] == [
        "auth.login", "session.revoke", "auth.logout"]


def test_login_gives_new_session_and_csrf_tokens_and_ends_the_previous_session(
    client: TestClient, db: Peek
) -> None:
    before = _csrf(client)
    assert client.cookies.get("bf_csrf") == before
    _login(client, "regulator")
    first_session = client.cookies.get("bf_session")
    after = client.cookies.get("bf_csrf")
    assert after
    assert after != before
    # the form shown before the login no longer passes
    stale = client.post("/logout", data={"csrf": before}, follow_redirects=False)
    assert stale.status_code == 403
    # logging in again (same browser) opens a new session and ends the old one
    _login(client, "regulator")
    second_session = client.cookies.get("bf_session")
    assert second_session
    assert second_session != first_session
    client.cookies.set("bf_session", first_session or "")
    assert client.get("/console", follow_redirects=False).status_code == 303
    client.cookies.set("bf_session", second_session)
    assert client.get("/console", follow_redirects=False).status_code == 200


def test_log_out_everywhere_ends_every_browser_session_and_api_token(
    client: TestClient, db: Peek, settings: Any, clock: FixedClock
) -> None:
    other = TestClient(client.app)
    _login(other, "regulator")
    _login(client, "regulator")
    token = client.post("/api/v1/auth/token", data={"username": "regulator",
                                                   "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    listed = client.get("/api/v1/me/sessions", headers=bearer).json()
    assert len(listed) == 2
    assert "token" not in str(listed[0]).lower().replace("token_", "")
    page = client.get("/account", params={"lang": "en"})
    assert page.status_code == 200
    assert "this browser" in page.text
    assert len(re.findall(r'id="session-\d+"', page.text)) == 2
    ended = client.post("/account/sessions/end-all", data={"csrf": _csrf(client, "/account")},
                        follow_redirects=False)
    assert ended.status_code == 303
    assert other.get("/console", follow_redirects=False).status_code == 303
    assert client.get("/console", follow_redirects=False).status_code == 303
    refused = client.get("/api/v1/me", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "this token was revoked; log in again"
    assert "session.revoke_all" in _actions(db, _account_id(db, "regulator"))


def test_one_session_is_ended_from_the_list_by_the_api_and_by_an_admin(
    client: TestClient, auth: Any, db: Peek
) -> None:
    other = TestClient(client.app)
    _login(other, "cashier")
    _login(client, "cashier")
    cashier = _account_id(db, "cashier")
    rows = client.get(f"/api/v1/accounts/{cashier}/sessions", headers=auth("admin")).json()
    assert len(rows) == 2
    assert client.get(f"/api/v1/accounts/{cashier}/sessions",
                      headers=auth("regulator")).status_code == 403
    # the cashier ends the other browser's session from the page
    other_id = min(r["id"] for r in rows)
    r = client.post(f"/account/sessions/{other_id}/end", data={"csrf": _csrf(client, "/account")},
                    follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, "/account?done=ended")
    assert other.get("/officer", follow_redirects=False).status_code == 303
    assert client.get("/officer", follow_redirects=False).status_code == 200
    # a session of someone else is not found
    mine = client.post("/api/v1/auth/token", data={"username": "customs",
                                                  "password": PASSWORD}).json()
    assert client.delete(f"/api/v1/me/sessions/{other_id}", headers={
        "Authorization": f"Bearer {mine['access_token']}"}).status_code == 404
    # an admin ends the rest
    done = client.post(f"/api/v1/accounts/{cashier}/sessions/revoke-all",
                       headers=auth("admin")).json()
    assert done == {"sessions": 1, "api_tokens": True}
    assert client.get("/officer", follow_redirects=False).status_code == 303


def test_an_officials_session_ends_after_its_idle_time_and_lasts_while_used(
    client: TestClient, clock: FixedClock, settings: Any
) -> None:
    assert settings.web_idle_minutes_officials == 30
    _login(client, "borderguard")
    start = clock.now()
    for minutes in (20, 40, 60):  # used every 20 minutes: still open after an hour
        clock.set(start + timedelta(minutes=minutes))
        assert client.get("/officer", follow_redirects=False).status_code == 200
    clock.set(start + timedelta(minutes=60 + 31))
    idle = client.get("/officer", follow_redirects=False)
    assert idle.status_code == 303
    assert idle.headers["location"].startswith("/login")


def test_a_drivers_session_has_the_longer_idle_time_and_the_absolute_lifetime(
    client: TestClient, clock: FixedClock
) -> None:
    _login(client, "driver")
    start = clock.now()
    clock.set(start + timedelta(minutes=200))
    assert client.get("/driver", follow_redirects=False).status_code == 200
    for hours in range(4, 12, 3):
        clock.set(start + timedelta(hours=hours))
        assert client.get("/driver", follow_redirects=False).status_code == 200
    clock.set(start + timedelta(hours=12, minutes=1))  # web_session_hours
    assert client.get("/driver", follow_redirects=False).status_code == 303


def test_a_password_or_role_change_or_disabling_ends_the_accounts_sessions_and_tokens(
    client: TestClient, auth: Any, db: Peek
) -> None:
    quarantine = _account_id(db, "quarantine")
    for change, action in (({"password": "a-new-Long-passphrase-42"}, "account.password_change"),
                           ({"roles": ["quarantine", "health"]}, "account.roles_change"),
                           ({"active": False}, "account.disable")):
        client.cookies.clear()
        if action != "account.disable":
            password = PASSWORD if action == "account.password_change" else \
                "a-new-Long-passphrase-42"
            client.post("/login", data={"username": "quarantine", "password": password,
                                        "csrf": _csrf(client)}, follow_redirects=False)
            assert client.get("/officer", follow_redirects=False).status_code == 200
            token = client.post("/api/v1/auth/token", data={"username": "quarantine",
                                                            "password": password}).json()
            bearer = {"Authorization": f"Bearer {token['access_token']}"}
            assert client.get("/api/v1/me", headers=bearer).status_code == 200
        r = client.patch(f"/api/v1/accounts/{quarantine}", json=change, headers=auth("admin"))
        assert r.status_code == 200, r.text
        assert action in _actions(db, quarantine)
        if action != "account.disable":
            assert client.get("/officer", follow_redirects=False).status_code == 303
            assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_logins_and_failures_are_audited(client: TestClient, db: Peek) -> None:
    client.post("/login", data={"username": "customs", "password": "wrong-password",
                                "csrf": _csrf(client)})
    client.post("/api/v1/auth/token", data={"username": "nobody", "password": "x"})
    client.post("/api/v1/auth/token", data={"username": "customs", "password": PASSWORD})
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action.like("auth.%"))
                      .order_by(AuditEntry.seq))
    seen = [(r.action, r.actor_name, (r.after or {}).get("channel"),
             (r.after or {}).get("reason")) for r in rows]
    assert seen == [("auth.login_failed", "public", "web", "password"),
                    ("auth.login_failed", "public", "api", "unknown user"),
                    ("auth.login", "customs", "api", None)]
