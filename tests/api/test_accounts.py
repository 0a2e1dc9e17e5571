"""Login, tokens, API keys, account administration, audit log, roles and the error shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.account import security
from borderflow.store.models import Account, ApiKey, AuditEntry
from tests.conftest import NOW, PASSWORD, Peek


def login(client: TestClient, username: str, password: str = PASSWORD) -> Any:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_login_issues_a_short_lived_token(client: TestClient) -> None:
    r = login(client, "customs")
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 15 * 60
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "customs"
    assert me.json()["roles"] == ["customs"]


@pytest.mark.parametrize(("username", "password"), [("customs", "wrong password!"),
                                                    ("nobody", PASSWORD)])
def test_wrong_credentials_are_refused_the_same_way(
    client: TestClient, username: str, password: str
) -> None:
    r = login(client, username, password)
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "wrong username or password"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_passwords_are_stored_as_argon2_hashes(db: Peek) -> None:
    account = db.one(select(Account).where(Account.username == "admin"))
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash


def test_expired_forged_and_garbage_tokens_are_refused(
    client: TestClient, db: Peek, settings: Any
) -> None:
    account = db.one(select(Account).where(Account.username == "admin"))
    expired = security.issue_token(account.id, "admin", key=settings.resolved_secret_key(),
                                   now=NOW - timedelta(hours=1), minutes=15)
    forged = security.issue_token(account.id, "admin", key="another-key-of-sufficient-length!!",
                                  now=NOW, minutes=15)
    for token, reason in ((expired, "expired"), (forged, "invalid"), ("garbage", "invalid")):
        r = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        assert reason in r.json()["error"]["message"]


def test_disabled_accounts_lose_access_at_once(client: TestClient, auth: Any) -> None:
    headers = auth("customs")
    me = client.get("/api/v1/me", headers=headers).json()
    r = client.patch(f"/api/v1/accounts/{me['id']}", json={"active": False},
                     headers=auth("admin"))
    assert r.status_code == 200
    assert r.json()["active"] is False
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert login(client, "customs").status_code == 401


def test_admin_creates_accounts_with_scopes_and_it_is_audited(
    client: TestClient, auth: Any, db: Peek
) -> None:
    r = client.post("/api/v1/accounts", json={
        "username": "cashier-cn", "password": "a long enough password", "roles": ["cashier"],
        "gate_scope": ["chi-ma"]}, headers=auth("admin"))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["gate_scope"] == ["chi-ma"]
    entry = db.one(select(AuditEntry).where(AuditEntry.action == "account.create",
                                            AuditEntry.target_id == str(created["id"])))
    assert entry.actor_name == "admin"
    assert "password_hash" not in entry.after
    assert "$argon2" not in str(entry.after)
    assert login(client, "cashier-cn", "a long enough password").status_code == 200


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"roles": ["enterprise"]}, "enterprise_tax_code", "required"),
        ({"roles": ["enterprise"], "enterprise_tax_code": "0100109107"},
         "enterprise_tax_code", "check digit"),
        ({"roles": ["cashier"]}, "gate_scope", "at least one gate"),
        ({"roles": ["cashier"], "gate_scope": ["atlantis"]}, "gate_scope[0]", "unknown gate"),
        ({"roles": ["yard_operator"], "yard_scope": ["nowhere"]}, "yard_scope[0]", "unknown yard"),
        ({"roles": ["driver"]}, "driver_document", "required"),
        ({"roles": ["public"]}, "roles", "anonymous"),
        ({"roles": ["customs"], "password": "short"}, "password", "at least 12"),
        ({"roles": ["wizard"]}, "roles[0]", "Input should be"),
    ],
)
def test_account_rules(client: TestClient, auth: Any, body: dict[str, Any], field: str,
                       reason: str) -> None:
    payload = {"username": "new-user", "password": "a long enough password", **body}
    r = client.post("/api/v1/accounts", json=payload, headers=auth("admin"))
    assert r.status_code == 422, r.text
    fields = {f["field"]: f["reason"] for f in r.json()["error"]["fields"]}
    assert field in fields
    assert reason in fields[field]


def test_duplicate_username_is_a_conflict(client: TestClient, auth: Any) -> None:
    r = client.post("/api/v1/accounts", json={"username": "customs",
                                              "password": "a long enough password",
                                              "roles": ["customs"]}, headers=auth("admin"))
    assert r.status_code == 409
    assert r.json()["error"]["fields"][0]["field"] == "username"


def test_machine_clients_use_api_keys_shown_once_and_revocable(
    client: TestClient, auth: Any, db: Peek
) -> None:
    r = client.post("/api/v1/accounts", json={"username": "camera-huu-nghi-1", "kind": "client",
                                              "roles": ["border_guard"]}, headers=auth("admin"))
    assert r.status_code == 201, r.text
    account_id = r.json()["id"]
    k = client.post(f"/api/v1/accounts/{account_id}/api-keys", json={"name": "lane 1 camera"},
                    headers=auth("admin"))
    assert k.status_code == 201
    key = k.json()["key"]
    stored = db.one(select(ApiKey).where(ApiKey.id == k.json()["id"]))
    assert key.split("_", 2)[2] not in stored.secret_sha256
    assert client.get("/api/v1/me", headers={"X-API-Key": key}).json()["kind"] == "client"
    listed = client.get(f"/api/v1/accounts/{account_id}/api-keys", headers=auth("admin")).json()
    assert "key" not in listed[0]
    assert client.delete(f"/api/v1/api-keys/{k.json()['id']}",
                         headers=auth("admin")).status_code == 200
    refused = client.get("/api/v1/me", headers={"X-API-Key": key})
    assert refused.status_code == 401
    assert client.get("/api/v1/me", headers={"X-API-Key": "bfk_nope"}).status_code == 401


def test_clients_cannot_log_in_with_a_password(client: TestClient, auth: Any) -> None:
    r = client.post("/api/v1/accounts", json={"username": "fleet", "kind": "client",
                                              "roles": ["enterprise"], "password": "x" * 12,
                                              "enterprise_tax_code": "0100109106"},
                    headers=auth("admin"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "password"


def test_admin_cannot_lock_themselves_out(client: TestClient, auth: Any) -> None:
    me = client.get("/api/v1/me", headers=auth("admin")).json()
    r = client.patch(f"/api/v1/accounts/{me['id']}", json={"active": False},
                     headers=auth("admin"))
    assert r.status_code == 422
    r = client.patch(f"/api/v1/accounts/{me['id']}", json={"roles": ["customs"]},
                     headers=auth("admin"))
    assert r.status_code == 422


@pytest.mark.parametrize("role", ["regulator", "enterprise", "customs", "cashier", "driver",
                                  "liaison", "yard", "police", "health", "quarantine"])
def test_only_admins_manage_accounts_and_read_the_audit_log(
    client: TestClient, auth: Any, role: str
) -> None:
    h = auth(role)
    assert client.get("/api/v1/accounts", headers=h).status_code == 403
    assert client.get("/api/v1/audit", headers=h).status_code == 403
    assert client.post("/api/v1/accounts", json={"username": "x", "roles": ["customs"],
                                                 "password": "x" * 12},
                       headers=h).status_code == 403


def test_audit_log_is_filterable(client: TestClient, auth: Any) -> None:
    client.post("/api/v1/accounts", json={"username": "q1", "password": "a long enough password",
                                          "roles": ["quarantine"]}, headers=auth("admin"))
    page = client.get("/api/v1/audit", params={"action": "account.create"},
                      headers=auth("admin")).json()
    assert page["total"] == 1
    item = page["items"][0]
    assert item["actor_name"] == "admin"
    assert item["after"]["username"] == "q1"
    assert item["at"].startswith("2026-11-23T01:00")
    assert client.get("/api/v1/audit", params={"actor": "nobody"},
                      headers=auth("admin")).json()["total"] == 0


def test_explicit_nulls_in_an_account_change_clear_scopes_and_keep_the_rest(
    client: TestClient, auth: Any
) -> None:
    accounts = client.get("/api/v1/accounts", headers=auth("admin")).json()
    health = next(a for a in accounts if a["username"] == "health")
    r = client.patch(f"/api/v1/accounts/{health['id']}",
                     json={"gate_scope": None, "display_name": None, "roles": None,
                           "active": False}, headers=auth("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["gate_scope"] == []
    assert body["display_name"] == health["display_name"]
    assert body["roles"] == ["health"]
    assert body["active"] is False
