"""An enterprise registers itself and waits for an admin: a bad or already registered tax code
is named next to its field with what was typed kept; the username cannot sign in until an
admin confirms (a clear message, not "wrong password"); the confirmation creates the
enterprise account for that tax code and an SMS goes out; a refusal carries its reason. The
enterprise then adds its own drivers and users, never for another tax code."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import Account, AccountMessage, AuditEntry, EnterpriseRegistration
from tests.conftest import PASSWORD
from tests.web.test_driver import _csrf, _login, visible

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

NEW_TAX = "3100000016"
NEW_PASSWORD = "lang son dragon fruit 2026"
FORM = {"enterprise_name": "Cong ty TNHH Thanh Long Lang Son", "tax_code": NEW_TAX,
        "contact_name": "Tran Thi Mai", "phone": "0912 345 678", "username": "thanhlong",
        "password": NEW_PASSWORD, "password_again": NEW_PASSWORD}


def _register(client: TestClient, lang: str = "vi", **changes: str) -> Any:
    token = _csrf(client, "/register")
    return client.post("/register", data={**FORM, **changes, "csrf": token},
                       params={"lang": lang}, follow_redirects=False)


def _sign_in(client: TestClient, username: str, password: str, lang: str = "en") -> Any:
    token = _csrf(client)
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf": token}, params={"lang": lang},
                       follow_redirects=False)


def _confirm_as_admin(client: TestClient, registration_id: int) -> Any:
    assert _login(client, "admin").status_code == 303
    page = client.get("/admin/registrations", params={"lang": "vi"})
    assert page.status_code == 200
    assert f'id="registration-{registration_id}"' in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    return client.post(f"/admin/registrations/{registration_id}/confirm",
                       data={"csrf": token.group(1)}, follow_redirects=False)


def test_a_bad_tax_code_is_named_next_to_its_field_and_what_was_typed_is_kept(
    client: TestClient
) -> None:
    answer = _register(client, lang="en", tax_code="0100109107", phone="12")
    assert answer.status_code == 422
    assert 'id="tax_code-error"' in answer.text
    assert 'id="phone-error"' in answer.text
    assert "check digit" in visible(answer.text)
    assert 'value="Cong ty TNHH Thanh Long Lang Son"' in answer.text
    assert NEW_PASSWORD not in answer.text  # a password is never sent back
    vi = _register(client, lang="vi", tax_code="12345")
    assert vi.status_code == 422
    assert 'id="tax_code-error"' in vi.text
    assert "Mã số thuế" in visible(vi.text)


def test_a_weak_password_and_different_passwords_are_refused(client: TestClient) -> None:
    weak = _register(client, lang="en", password="password123", password_again="password123")
    assert weak.status_code == 422
    assert 'id="password-error"' in weak.text
    differ = _register(client, lang="en", password_again=NEW_PASSWORD + "!")
    assert differ.status_code == 422
    assert 'id="password_again-error"' in differ.text


def test_an_already_registered_tax_code_or_a_waiting_one_is_refused(
    client: TestClient, db: Any
) -> None:
    taken = _register(client, lang="en", tax_code="0100109106")  # the seeded enterprise's
    assert taken.status_code == 422
    assert 'id="tax_code-error"' in taken.text
    assert "already registered" in visible(taken.text)
    assert _register(client).status_code == 303
    again = _register(client, lang="en", username="thanhlong2")
    assert again.status_code == 422
    assert "waiting for confirmation" in visible(again.text)
    same_name = _register(client, lang="en", tax_code="3100000023")
    assert same_name.status_code == 422
    assert 'id="username-error"' in same_name.text
    assert len(db.scalars(select(EnterpriseRegistration))) == 1


def test_unconfirmed_cannot_sign_in_then_the_admin_confirms_and_an_sms_goes_out(
    client: TestClient, db: Any
) -> None:
    sent = _register(client)
    assert sent.headers["location"] == "/register/sent"
    refused = _sign_in(client, "thanhlong", NEW_PASSWORD)
    assert refused.status_code == 401
    assert "waiting for an admin's confirmation" in visible(refused.text)
    assert _sign_in(client, "thanhlong", "wrong password here").status_code == 401
    row = db.one(select(EnterpriseRegistration))
    assert row.status == "pending"
    assert row.password_hash.startswith("$argon2")
    # other roles may not see the queue
    assert _login(client, "enterprise").status_code == 303
    assert client.get("/admin/registrations").status_code == 403
    done = _confirm_as_admin(client, row.id)
    assert done.headers["location"] == "/admin/registrations?done=confirmed"
    account = db.one(select(Account).where(Account.username == "thanhlong"))
    assert account.roles == ["enterprise"]
    assert account.enterprise_tax_code == NEW_TAX
    sms = db.one(select(AccountMessage).where(AccountMessage.account_id == account.id))
    assert sms.kind == "registration_confirmed"
    assert sms.phone == "+84912345678"
    assert sms.status == "sent"
    assert "thanhlong" in sms.text
    assert "xác nhận" in sms.text
    actions = {a.action for a in db.scalars(select(AuditEntry))}
    assert {"registration.submit", "registration.confirm", "account.create"} <= actions
    # a second confirmation is refused: it was decided
    again = client.post(f"/admin/registrations/{row.id}/confirm",
                        data={"csrf": _csrf(client, "/admin/registrations")})
    assert again.status_code == 409
    signed = _sign_in(client, "thanhlong", NEW_PASSWORD)
    assert (signed.status_code, signed.headers["location"]) == (303, "/portal")


def test_a_refusal_needs_a_reason_and_tells_the_applicant(client: TestClient, db: Any) -> None:
    assert _register(client, lang="zh").status_code == 303
    row = db.one(select(EnterpriseRegistration))
    assert row.language == "zh"
    assert _login(client, "admin").status_code == 303
    token = _csrf(client, "/admin/registrations")
    blank = client.post(f"/admin/registrations/{row.id}/refuse",
                        data={"csrf": token, "reason": " "})
    assert blank.status_code == 422
    done = client.post(f"/admin/registrations/{row.id}/refuse",
                       data={"csrf": token, "reason": "Mã số thuế không khớp tên"},
                       follow_redirects=False)
    assert done.headers["location"] == "/admin/registrations?done=refused"
    sms = db.one(select(AccountMessage))
    assert sms.kind == "registration_refused"
    assert "拒绝" in sms.text
    assert "Mã số thuế không khớp tên" in sms.text
    assert db.scalar(select(Account.id).where(Account.username == "thanhlong")) is None
    assert _sign_in(client, "thanhlong", NEW_PASSWORD).status_code == 401


def test_an_enterprise_adds_a_driver_and_cannot_add_a_user_of_another_tax_code(
    client: TestClient, db: Any
) -> None:
    assert _login(client, "enterprise").status_code == 303
    page = client.get("/portal/team", params={"lang": "vi"})
    assert page.status_code == 200
    assert 'id="member-enterprise"' in page.text
    token = _csrf(client, "/portal/team")
    driver = client.post("/portal/team", data={
        "csrf": token, "kind": "driver", "username": "taixe.an", "display_name": "Le Van An",
        "phone": "0987654321", "driver_document": "001089099999"}, follow_redirects=False)
    assert driver.headers["location"] == "/portal/team?done=added"
    account = db.one(select(Account).where(Account.username == "taixe.an"))
    assert account.roles == ["driver"]
    assert account.driver_document == "001089099999"
    assert account.password_hash is None  # they set it themselves, from the SMS
    invite = db.one(select(AccountMessage).where(AccountMessage.account_id == account.id))
    assert invite.kind == "team_invitation"
    assert "taixe.an" in invite.text
    listed = client.get("/portal/team")
    assert 'id="member-taixe.an"' in listed.text
    other = client.post("/portal/team", data={
        "csrf": token, "kind": "user", "username": "spy", "display_name": "Someone Else",
        "phone": "0987654322", "enterprise_tax_code": "0101245486"}, params={"lang": "en"})
    assert other.status_code == 422
    assert 'id="enterprise_tax_code-error"' in other.text
    assert db.scalar(select(Account.id).where(Account.username == "spy")) is None
    user = client.post("/portal/team", data={
        "csrf": token, "kind": "user", "username": "ketoan", "display_name": "Ke Toan",
        "phone": "0987654323"}, follow_redirects=False)
    assert user.status_code == 303
    added = db.one(select(Account).where(Account.username == "ketoan"))
    assert added.roles == ["enterprise"]
    assert added.enterprise_tax_code == "0100109106"
    # the other enterprise does not see them, nor may it disable them
    assert _login(client, "enterprise2").status_code == 303
    theirs = client.get("/portal/team")
    assert "taixe.an" not in theirs.text
    assert "ketoan" not in theirs.text
    refused = client.post(f"/portal/team/{account.id}/disable",
                          data={"csrf": _csrf(client, "/portal/team")})
    assert refused.status_code == 404
    assert db.one(select(Account).where(Account.id == account.id)).active
    # its own enterprise disables the driver, audited
    assert _login(client, "enterprise").status_code == 303
    off = client.post(f"/portal/team/{account.id}/disable",
                      data={"csrf": _csrf(client, "/portal/team")}, follow_redirects=False)
    assert off.headers["location"] == "/portal/team?done=disabled"
    assert not db.one(select(Account).where(Account.id == account.id)).active
    actions = [a.action for a in db.scalars(select(AuditEntry).where(
        AuditEntry.target_id == str(account.id)))]
    assert "team.add" in actions
    assert "team.disable" in actions


def test_the_team_page_is_for_enterprises(client: TestClient) -> None:
    assert client.get("/portal/team", follow_redirects=False).status_code == 303
    assert _login(client, "driver").status_code == 303
    assert client.get("/portal/team").status_code == 403
    assert PASSWORD  # the seeded accounts' password signs the roles in
