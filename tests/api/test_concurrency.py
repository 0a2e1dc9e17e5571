"""Writes racing each other: one effect per Idempotency-Key, no lost amendment."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.store.models import AuditEntry, Declaration
from tests import factories
from tests.conftest import Peek

URL = "/api/v1/declarations"


def test_concurrent_retries_with_one_key_create_one_declaration(
    client: TestClient, auth: Any, db: Peek
) -> None:
    headers = auth("enterprise", **{"Idempotency-Key": "race-1"})

    def submit(_: int) -> Any:
        return client.post(URL, json=factories.declaration(), headers=headers)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(submit, range(6)))
    assert {r.status_code for r in responses} <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    assert created, [r.text for r in responses]
    assert len({r.json()["id"] for r in created}) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "idempotency_in_progress"
    assert db.scalar(select(func.count()).select_from(Declaration)) == 1


def test_concurrent_amendments_with_if_match_lose_nothing(
    client: TestClient, auth: Any, db: Peek
) -> None:
    d = client.post(URL, json=factories.declaration(), headers=auth("enterprise")).json()

    def amend(i: int) -> Any:
        return client.patch(f"{URL}/{d['id']}", json={"note": f"amendment {i}"},
                            headers=auth("enterprise", **{"If-Match": '"1"'}))

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(amend, range(4)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 412, 412, 412]
    final = client.get(f"{URL}/{d['id']}", headers=auth("enterprise")).json()
    winner = next(r for r in responses if r.status_code == 200).json()
    assert final["revision"] == 2
    assert final["note"] == winner["note"]
    amendments = db.scalar(select(func.count()).select_from(AuditEntry)
                           .where(AuditEntry.action == "declaration.amend"))
    assert amendments == 1
