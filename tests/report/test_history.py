"""Importing past crossings and daily totals: all rows or none, each bad line named, the same
file once, and an import can be taken out again."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

CROSSINGS = (
    "crossed_at,gate,direction,goods_group,enterprise_tax_code,weight_kg,value_usd,"
    "time_in_system_minutes\n"
    "2025-06-01 09:15,huu-nghi,export,fresh-fruit,0100109106,20000,35000.50,95\n"
    "2025-06-01T10:40:00+07:00,huu-nghi,import,wood,0101245486,25000,12000,180\n"
    "2025-06-02 07:05,chi-ma,export,,,,,\n"
)
DAILY = ("date,gate,direction,vehicles,weight_kg,value_usd,declarations\n"
         "2025-06-01,tan-thanh-dedicated,import,600,15000000,2500000,540\n"
         "2025-06-02,tan-thanh-dedicated,import,580,,,\n")


def _upload(client: TestClient, auth: Any, kind: str, text: str | bytes, who: str = "admin"
            ) -> Any:
    data = text.encode() if isinstance(text, str) else text
    return client.post("/api/v1/reports/history", data={"kind": kind},
                       files={"file": (f"{kind}.csv", data, "text/csv")},
                       headers=auth(who))


def _june(client: TestClient, auth: Any, **params: str) -> dict[str, Any]:
    r = client.get("/api/v1/reports/traffic", params={"from": "2025-06-01", "to": "2025-06-30",
                                                      **params}, headers=auth("regulator"))
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_history_feeds_the_reports_and_can_be_removed(client: TestClient, auth: Any) -> None:
    r = _upload(client, auth, "crossings", CROSSINGS)
    assert r.status_code == 201, r.text
    assert (r.json()["rows"], r.json()["vehicles"]) == (3, 3)
    assert (r.json()["period_from"], r.json()["period_to"]) == ("2025-06-01", "2025-06-02")
    daily = _upload(client, auth, "daily", DAILY)
    assert daily.status_code == 201, daily.text
    total = _june(client, auth)["total"]
    assert total["vehicles_crossed"]["value"] == 3 + 600 + 580
    assert total["export_crossed"]["value"] == 2
    assert total["declarations"]["value"] == 540
    assert total["tonnage_kg"]["value"] == 45000 + 15000000
    assert total["turnover_usd_cents"]["value"] == 4700050 + 250000000
    times = client.get("/api/v1/reports/times", params={"from": "2025-06-01",
                                                        "to": "2025-06-30"},
                       headers=auth("regulator")).json()["total"]
    assert times["system"]["n"] == 2
    assert times["system"]["mean_minutes"] == (95 + 180) / 2
    peaks = client.get("/api/v1/reports/peaks", params={"from": "2025-06-01",
                                                        "to": "2025-06-30"},
                       headers=auth("regulator")).json()
    assert peaks["peak_day"] == {"date": "2025-06-01", "vehicles": 602}
    assert peaks["peak_hour"]["vehicles"] == 1  # daily totals have no hour
    # a year later the same month compares against this history
    doc = client.get("/api/v1/reports/traffic", params={"from": "2026-06-01",
                                                        "to": "2026-06-30"},
                     headers=auth("regulator")).json()
    assert doc["total"]["vehicles_crossed"]["previous"] == 1183

    again = _upload(client, auth, "daily", DAILY)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_imported"
    listed = client.get("/api/v1/reports/history", headers=auth("admin")).json()
    assert [i["kind"] for i in listed] == ["daily", "crossings"]
    assert client.delete(f"/api/v1/reports/history/{listed[0]['id']}",
                         headers=auth("admin")).status_code == 204
    assert _june(client, auth)["total"]["vehicles_crossed"]["value"] == 3
    audit = client.get("/api/v1/audit", params={"action": "history.removed"},
                       headers=auth("admin")).json()
    assert audit["items"], audit


def test_a_file_with_bad_rows_is_refused_whole(client: TestClient, auth: Any) -> None:
    bad = CROSSINGS + ("2025-06-03 08:00,nowhere,export,,,,,\n"
                       "2025-06-03 08:00,huu-nghi,sideways,,,,,\n"
                       "yesterday,huu-nghi,export,,,-5,1.234,\n"
                       "2099-01-01 08:00,huu-nghi,export,,,,,\n")
    r = _upload(client, auth, "crossings", bad)
    assert r.status_code == 422
    fields = {(f["field"]) for f in r.json()["error"]["fields"]}
    assert {"line 5: gate", "line 6: direction", "line 7: crossed_at", "line 7: weight_kg",
            "line 7: value_usd", "line 8: crossed_at"} <= fields
    assert _june(client, auth)["total"]["vehicles_crossed"]["value"] == 0  # nothing imported
    header = _upload(client, auth, "daily", "date,gate,direction,vehicle\n2025-06-01,x,y,1\n")
    assert header.status_code == 422
    reasons = " ".join(f["reason"] for f in header.json()["error"]["fields"])
    assert "missing column(s): vehicles" in reasons
    assert "unknown column(s): vehicle" in reasons
    latin = _upload(client, auth, "daily", "date,gate\nLạng Sơn\n".encode("utf-16"))
    assert latin.status_code == 422
    assert latin.json()["error"]["fields"][0] == {"field": "file", "reason": "is not UTF-8 text"}
    assert _upload(client, auth, "crossings", CROSSINGS, who="regulator").status_code == 403
    assert client.post("/api/v1/reports/history", data={"kind": "weather"},
                       files={"file": ("x.csv", b"a\n", "text/csv")},
                       headers=auth("admin")).status_code == 422
