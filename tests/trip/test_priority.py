"""Priority classes: perishable goods and authorised economic operators from the declaration,
urgent granted by the regulator with a reason."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests import factories
from tests.factories import ENTERPRISE_TAX


def _trip(client: TestClient, auth: Any, body: dict[str, Any]) -> dict[str, Any]:
    r = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert r.status_code == 201, r.text
    ref = f"{r.json()['reference']}-1"
    return dict(client.get(f"/api/v1/trips/{ref}", headers=auth("enterprise")).json())


@pytest.mark.parametrize(
    ("aeo", "valid_until", "fruit", "expected"),
    [
        (True, None, True, "aeo_perishable"),
        (True, "2027-12-31", False, "aeo"),
        (True, "2026-11-01", False, "normal"),  # AEO status expired before the requested date
        (False, None, True, "perishable"),
        (False, None, False, "normal"),
    ],
)
def test_priority_class_comes_from_goods_and_aeo_status(
    client: TestClient, auth: Any, aeo: bool, valid_until: str | None, fruit: bool,
    expected: str,
) -> None:
    r = client.put(f"/api/v1/enterprises/{ENTERPRISE_TAX}",
                   json={"name": "Demo", "aeo": aeo, "aeo_valid_until": valid_until},
                   headers=auth("admin"))
    assert r.status_code == 200, r.text
    body = factories.fruit_declaration() if fruit else factories.declaration()
    assert _trip(client, auth, body)["priority"] == expected


def test_the_regulator_grants_urgent_priority_with_a_reason(
    client: TestClient, auth: Any
) -> None:
    trip = _trip(client, auth, factories.declaration())
    ref = trip["reference"]
    url = f"/api/v1/trips/{ref}/priority"
    no_reason = client.post(url, json={"priority": "urgent"}, headers=auth("regulator"))
    assert no_reason.status_code == 422
    assert client.post(url, json={"priority": "urgent", "reason": "medical supplies"},
                       headers=auth("customs")).status_code == 403
    r = client.post(url, json={"priority": "urgent", "reason": "medical supplies"},
                    headers=auth("regulator"))
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == "urgent"
    # an amendment before arrival keeps the granted priority
    decl_id = trip["declaration_id"]
    client.patch(f"/api/v1/declarations/{decl_id}", json={"note": "updated"},
                 headers=auth("enterprise"))
    again = client.get(f"/api/v1/trips/{ref}", headers=auth("enterprise")).json()
    assert again["priority"] == "urgent"
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    granted = [e for e in timeline["entries"] if e["type"] == "trip.prioritised"]
    assert granted[0]["payload"]["reason"] == "medical supplies"
    assert granted[0]["actor"] == "regulator"


def test_only_admins_change_aeo_status(client: TestClient, auth: Any) -> None:
    r = client.put(f"/api/v1/enterprises/{ENTERPRISE_TAX}", json={"name": "X", "aeo": True},
                   headers=auth("regulator"))
    assert r.status_code == 403
    bad = client.put("/api/v1/enterprises/0100109107", json={"name": "X", "aeo": True},
                     headers=auth("admin"))
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "tax_code"
    assert client.get("/api/v1/enterprises", headers=auth("customs")).status_code == 200
    assert client.get("/api/v1/enterprises", headers=auth("enterprise")).status_code == 403
