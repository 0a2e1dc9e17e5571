"""Every write leaves an audit row: who, what, which record, when, before and after."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import AuditEntry
from tests import factories
from tests.conftest import NOW, Peek


def test_every_kind_of_write_is_audited(client: TestClient, auth: Any, db: Peek) -> None:
    admin = auth("admin")
    ent = auth("enterprise")
    d = client.post("/api/v1/declarations", json=factories.declaration(), headers=ent).json()
    assert client.patch(f"/api/v1/declarations/{d['id']}", json={"note": "n"},
                        headers=ent).status_code == 200
    assert client.patch(f"/api/v1/declarations/{d['id']}/goods/1",
                        json={"description": "Notebook computers"}, headers=ent).status_code == 200
    assert client.post(f"/api/v1/declarations/{d['id']}/cancel", json={"reason": "withdrawn"},
                       headers=ent).status_code == 200
    acct = client.post("/api/v1/accounts", json={"username": "c1", "kind": "client",
                                                 "roles": ["customs"]}, headers=admin).json()
    assert client.patch(f"/api/v1/accounts/{acct['id']}", json={"display_name": "Camera 1"},
                        headers=admin).status_code == 200
    key = client.post(f"/api/v1/accounts/{acct['id']}/api-keys", json={"name": "cam"},
                      headers=admin).json()
    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin).status_code == 200
    assert client.patch("/api/v1/network/gates/chi-ma",
                        json={"changes": {"landmarks": "1119-1120"}},
                        headers=admin).status_code == 201
    rows = db.scalars(select(AuditEntry).where(AuditEntry.actor_name != "system")
                      .order_by(AuditEntry.id))
    assert [(r.action, r.actor_name) for r in rows] == [
        ("declaration.create", "enterprise"),
        ("trip.created", "enterprise"),
        ("invoice.created", "enterprise"),
        ("fee.assessed", "enterprise"),
        ("declaration.amend", "enterprise"),
        ("declaration.amend", "enterprise"),
        ("declaration.cancel", "enterprise"),
        ("trip.cancelled", "enterprise"),
        ("invoice.voided", "enterprise"),
        ("account.create", "admin"),
        ("account.update", "admin"),
        ("api_key.create", "admin"),
        ("api_key.revoke", "admin"),
        ("network.publish", "admin"),
    ]
    assert all(r.at == NOW for r in rows)
    assert all(len(r.request_id or "") == 32 for r in rows)
    assert rows[2].after["total"] > 0  # the estimate of the trip's fee
    goods_amend = rows[5]
    assert goods_amend.before["goods"][0]["description"] == "Laptop computers"
    assert goods_amend.after["goods"][0]["description"] == "Notebook computers"
    assert rows[6].after["status"] == "cancelled"
    assert rows[7].after["status"] == "cancelled"
    assert rows[8].after["reason"].startswith("trip cancelled")
    assert rows[10].before["display_name"] != rows[10].after["display_name"]
    assert key["key"].split("_", 2)[2] not in str(rows[11].after)


def test_reads_and_refused_writes_are_not_audited(
    client: TestClient, auth: Any, db: Peek
) -> None:
    before = len(db.scalars(select(AuditEntry)))
    client.get("/api/v1/declarations", headers=auth("customs"))
    client.post("/api/v1/declarations", json=factories.declaration(requested_gate="x"),
                headers=auth("enterprise"))
    client.post("/api/v1/declarations", json=factories.declaration(), headers=auth("customs"))
    assert len(db.scalars(select(AuditEntry))) == before
