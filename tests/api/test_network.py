"""The reference network API: anyone reads it, admins change it from a stated time, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.store.models import AuditEntry, NetworkVersion
from tests import factories
from tests.conftest import NOW, Peek

URL = "/api/v1/network"


def test_anyone_reads_the_network_without_logging_in(client: TestClient) -> None:
    r = client.get(URL)
    assert r.status_code == 200
    doc = r.json()["document"]
    codes = {g["code"] for g in doc["gates"]}
    assert {"huu-nghi", "tan-thanh-dedicated", "tan-thanh-clearance", "coc-nam", "chi-ma"} <= codes
    huu_nghi = client.get(f"{URL}/gates/huu-nghi").json()
    assert huu_nghi["name"]["vi"]
    assert huu_nghi["name"]["zh"]
    assert huu_nghi["partner"]["name"]["zh"]
    assert {c["direction"] for c in huu_nghi["capacity"]} == {"export", "import"}
    assert huu_nghi["yards"]
    assert all(y["capacity"] > 0 for y in huu_nghi["yards"])
    park = client.get(f"{URL}/staging_areas").json()[0]
    assert park["vehicles_per_day"] == 1500
    assert client.get(f"{URL}/gates/nowhere").status_code == 404


def test_goods_lookup_names_the_group_and_the_gates(client: TestClient) -> None:
    r = client.get(f"{URL}/goods/lookup", params={"hs": "0810.90", "flow": "export"})
    assert r.status_code == 200
    body = r.json()
    assert body["hs_code"] == "081090"
    assert body["group"]["perishable"] is True
    assert body["group"]["quarantine"] == "plant"
    assert "huu-nghi" in body["gates"]
    bad = client.get(f"{URL}/goods/lookup", params={"hs": "77"})
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"] == "hs"


def test_calendar_hours_day_by_day(client: TestClient) -> None:
    gate = client.get(f"{URL}/gates/huu-nghi").json()
    r = client.get(f"{URL}/calendars/{gate['calendar']}/hours",
                   params={"from": "2026-11-23", "days": 3})
    assert r.status_code == 200
    days = r.json()
    assert [d["date"] for d in days] == ["2026-11-23", "2026-11-24", "2026-11-25"]
    assert all(d["intervals"] for d in days)
    assert client.get(f"{URL}/calendars/nope/hours").status_code == 404


def _capacity_patch(per_hour: int) -> dict[str, Any]:
    return {"capacity": [{"direction": "export", "lanes": 2, "vehicles_per_hour": per_hour,
                          "procedure": "export-staged-24h"},
                         {"direction": "import", "lanes": 4, "vehicles_per_hour": 90,
                          "procedure": "import-standard"}]}


def test_admin_changes_a_gate_from_a_stated_time_and_it_is_audited(
    client: TestClient, auth: Any, db: Peek
) -> None:
    tomorrow = (NOW + timedelta(days=1)).isoformat()
    r = client.patch(f"{URL}/gates/huu-nghi",
                     json={"changes": _capacity_patch(33), "effective_from": tomorrow,
                           "note": "second export lane staffed"},
                     headers=auth("admin"))
    assert r.status_code == 201, r.text
    version = r.json()
    now_doc = client.get(f"{URL}/gates/huu-nghi").json()
    later = client.get(f"{URL}/gates/huu-nghi",
                       params={"at": (NOW + timedelta(days=2)).isoformat()}).json()
    export_now = next(c for c in now_doc["capacity"] if c["direction"] == "export")
    export_later = next(c for c in later["capacity"] if c["direction"] == "export")
    assert export_now["vehicles_per_hour"] != 33
    assert export_later["vehicles_per_hour"] == 33
    assert later["yards"] == now_doc["yards"]  # the rest of the gate is untouched
    entry = db.one(select(AuditEntry).where(AuditEntry.action == "network.publish",
                                            AuditEntry.actor_name == "admin"))
    assert entry.target_id == str(version["id"])
    assert "gates: changed huu-nghi" in entry.after["changes"]
    assert entry.after["note"] == "second export lane staffed"
    versions = client.get(f"{URL}/versions").json()
    assert len(versions) == 2


def test_network_changes_are_validated_and_name_the_field(
    client: TestClient, auth: Any, db: Peek
) -> None:
    bad = client.patch(f"{URL}/gates/huu-nghi",
                       json={"changes": {"calendar": "no-such-calendar", "yards": [
                           {"code": "y", "name": {"vi": "a", "en": "b", "zh": "c"},
                            "operator": "x", "capacity": 0,
                            "area": {"center": {"lat": 21.9, "lon": 106.7}, "radius_m": 50}}]}},
                       headers=auth("admin"))
    assert bad.status_code == 422
    fields = {f["field"]: f["reason"] for f in bad.json()["error"]["fields"]}
    assert fields == {"yards[0]": "capacity must be at least 1 vehicle"}
    past = client.patch(f"{URL}/gates/huu-nghi",
                        json={"changes": _capacity_patch(40),
                              "effective_from": (NOW - timedelta(days=1)).isoformat()},
                        headers=auth("admin"))
    assert past.status_code == 422
    assert past.json()["error"]["fields"][0]["field"] == "effective_from"
    renamed = client.patch(f"{URL}/gates/huu-nghi", json={"changes": {"code": "x"}},
                           headers=auth("admin"))
    assert renamed.status_code == 422
    assert len(db.scalars(select(NetworkVersion))) == 1


def test_unknown_calendar_reference_is_reported(client: TestClient, auth: Any) -> None:
    r = client.patch(f"{URL}/gates/huu-nghi", json={"changes": {"calendar": "missing"}},
                     headers=auth("admin"))
    assert r.status_code == 422
    reasons = [f["reason"] for f in r.json()["error"]["fields"]]
    assert any("unknown calendar 'missing'" in x for x in reasons)


def test_whole_document_put_round_trips(client: TestClient, auth: Any) -> None:
    current = client.get(URL).json()
    doc = current["document"]
    doc["version"] = "2026.2"
    r = client.put(URL, json={"document": doc, "note": "re-publish"}, headers=auth("admin"))
    assert r.status_code == 201, r.text
    again = client.get(URL).json()
    assert again["version"]["version"] == "2026.2"
    assert again["document"] == doc


def test_only_admins_change_the_network(client: TestClient, auth: Any) -> None:
    body = {"changes": _capacity_patch(20)}
    assert client.patch(f"{URL}/gates/huu-nghi", json=body).status_code == 401
    for role in ("regulator", "enterprise", "customs", "liaison"):
        r = client.patch(f"{URL}/gates/huu-nghi", json=body, headers=auth(role))
        assert r.status_code == 403, role


def test_a_network_change_affects_declarations_from_its_time(
    client: TestClient, auth: Any
) -> None:
    """Closing a gate to a goods group refuses new declarations for it."""
    gate = client.get(f"{URL}/gates/coc-nam").json()
    laptops = client.get(f"{URL}/goods/lookup", params={"hs": "847130"}).json()["group"]["code"]
    goods = [g for g in gate["goods"] if g != laptops] if "*" not in gate["goods"] else []
    r = client.patch(f"{URL}/gates/coc-nam", json={"changes": {"goods": goods or ["fresh-fruit"]}},
                     headers=auth("admin"))
    assert r.status_code == 201, r.text
    decl = client.post("/api/v1/declarations",
                       json=factories.declaration(requested_gate="coc-nam"),
                       headers=auth("enterprise"))
    assert decl.status_code == 422
    assert "may not pass gate 'coc-nam'" in decl.json()["error"]["fields"][0]["reason"]
