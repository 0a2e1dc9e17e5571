"""The API of accounts that serve themselves: registrations (anyone registers; admins list,
confirm and refuse), the caller's password change, and the password reset by SMS code, each
answering the house error shape with the field named and its roles in the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.clock import FixedClock
from borderflow.store.models import Account, AccountContact, AccountMessage, PasswordResetCode
from tests.conftest import PASSWORD

BODY = {"enterprise_name": "Cong ty CP Van tai Dong Dang", "tax_code": "3100000023",
        "contact_name": "Hoang Van Binh", "phone": "+84 912 555 010", "username": "dongdang",
        "password": "dong dang freight 2026", "language": "en"}
NEW = "a brand new passphrase 9"


def _fields(answer: Any) -> set[str]:
    return {f["field"] for f in answer.json()["error"]["fields"]}


def test_registration_names_the_bad_field_and_refuses_a_duplicate(client: TestClient) -> None:
    bad = client.post("/api/v1/registrations", json={**BODY, "tax_code": "3100000024"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_failed"
    assert _fields(bad) == {"tax_code"}
    assert client.post("/api/v1/registrations", json=BODY).status_code == 202
    again = client.post("/api/v1/registrations", json={**BODY, "username": "dongdang2"})
    assert again.status_code == 422
    assert _fields(again) == {"tax_code"}
    seeded = client.post("/api/v1/registrations",
                         json={**BODY, "tax_code": "0100109106", "username": "other"})
    assert seeded.status_code == 422
    assert _fields(seeded) == {"tax_code"}


def test_an_admin_confirms_and_the_account_works_and_an_sms_is_in_the_outbox(
    client: TestClient, auth: Any, db: Any
) -> None:
    made = client.post("/api/v1/registrations", json=BODY)
    assert made.status_code == 202
    assert made.json()["status"] == "pending"
    number = made.json()["id"]
    login = {"username": "dongdang", "password": BODY["password"]}
    early = client.post("/api/v1/auth/token", data=login)
    assert early.status_code == 401
    assert "waiting" in early.json()["error"]["message"]
    assert client.get("/api/v1/registrations", headers=auth("enterprise")).status_code == 403
    assert client.get("/api/v1/registrations").status_code == 401
    listed = client.get("/api/v1/registrations", headers=auth("admin"))
    assert [r["username"] for r in listed.json()] == ["dongdang"]
    done = client.post(f"/api/v1/registrations/{number}/confirm", headers=auth("admin"))
    assert done.status_code == 200
    assert done.json()["status"] == "confirmed"
    twice = client.post(f"/api/v1/registrations/{number}/confirm", headers=auth("admin"))
    assert twice.status_code == 409
    token = client.post("/api/v1/auth/token", data=login)
    assert token.status_code == 200
    me = client.get("/api/v1/me", headers={
        "Authorization": f"Bearer {token.json()['access_token']}"}).json()
    assert me["roles"] == ["enterprise"]
    assert me["enterprise_tax_code"] == "3100000023"
    sms = db.one(select(AccountMessage))
    assert (sms.phone, sms.language, sms.status) == ("+84912555010", "en", "sent")
    assert "confirmed" in sms.text


def test_a_refusal_needs_a_reason(client: TestClient, auth: Any, db: Any) -> None:
    number = client.post("/api/v1/registrations", json=BODY).json()["id"]
    blank = client.post(f"/api/v1/registrations/{number}/refuse", headers=auth("admin"),
                        json={"reason": ""})
    assert blank.status_code == 422
    assert _fields(blank) == {"reason"}
    done = client.post(f"/api/v1/registrations/{number}/refuse", headers=auth("admin"),
                       json={"reason": "The tax code belongs to another name"})
    assert done.json()["status"] == "refused"
    assert "another name" in db.one(select(AccountMessage)).text


def test_the_password_change_checks_the_current_one_and_revokes_tokens(
    client: TestClient, auth: Any
) -> None:
    headers = auth("regulator")
    wrong = client.post("/api/v1/me/password", headers=headers,
                        json={"current_password": "nope nope nope", "new_password": NEW})
    assert wrong.status_code == 422
    assert _fields(wrong) == {"current_password"}
    weak = client.post("/api/v1/me/password", headers=headers,
                       json={"current_password": PASSWORD, "new_password": "short"})
    assert weak.status_code == 422
    assert _fields(weak) == {"new_password"}
    done = client.post("/api/v1/me/password", headers=headers,
                       json={"current_password": PASSWORD, "new_password": NEW})
    assert done.status_code == 200
    assert done.json()["api_tokens"] is True
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    login = client.post("/api/v1/auth/token", data={"username": "regulator", "password": NEW})
    assert login.status_code == 200


def test_a_reset_code_is_single_use_expires_and_is_the_same_for_unknown_users(
    client: TestClient, clock: FixedClock, db: Any, settings: Any
) -> None:
    from borderflow.store.session import make_engine, make_session_factory

    engine = make_engine(settings.database_url)
    with make_session_factory(engine)() as s:
        account = s.scalar(select(Account).where(Account.username == "driver"))
        assert account is not None
        s.add(AccountContact(account_id=account.id, phone="+84912000222", language="vi",
                             team_tax_code=None, updated_at=clock.now()))
        s.commit()
    engine.dispose()
    known = client.post("/api/v1/password-resets", json={"username": "driver"})
    unknown = client.post("/api/v1/password-resets", json={"username": "nobody"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    code = re.search(r"\b(\d{6})\b", db.one(select(AccountMessage)).text)
    assert code
    assert db.one(select(PasswordResetCode)).code_hash.startswith("$argon2")
    complete = {"username": "driver", "code": code.group(1), "new_password": NEW}
    nobody = client.post("/api/v1/password-resets/complete", json={**complete,
                                                                   "username": "nobody"})
    assert nobody.status_code == 422
    assert _fields(nobody) == {"code"}
    assert client.post("/api/v1/password-resets/complete", json=complete).status_code == 200
    used = client.post("/api/v1/password-resets/complete", json=complete)
    assert used.status_code == 422
    assert _fields(used) == {"code"}
    assert nobody.json()["error"]["message"] == used.json()["error"]["message"]
    # a new code, too late
    client.post("/api/v1/password-resets", json={"username": "driver"})
    fresh = re.search(r"\b(\d{6})\b", db.scalars(select(AccountMessage).order_by(
        AccountMessage.id))[-1].text)
    assert fresh
    clock.set(clock.now() + timedelta(minutes=11))
    late = client.post("/api/v1/password-resets/complete",
                       json={**complete, "code": fresh.group(1), "new_password": NEW + "!"})
    assert late.status_code == 422
    assert _fields(late) == {"code"}


def test_the_openapi_document_states_the_roles(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "**Roles:** anyone" in paths["/api/v1/registrations"]["post"]["description"]
    assert "`admin`" in paths["/api/v1/registrations"]["get"]["description"]
    assert "`admin`" in paths["/api/v1/registrations/{registration_id}/confirm"]["post"][
        "description"]
    assert "`driver`" in paths["/api/v1/me/password"]["post"]["description"]
    for path in ("/api/v1/password-resets", "/api/v1/password-resets/complete"):
        assert "**Roles:** anyone" in paths[path]["post"]["description"]
