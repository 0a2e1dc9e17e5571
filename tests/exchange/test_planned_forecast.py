"""Our bulletin's next-day plans (schema version 2): the trucks declared for the day plus the
newest stored forecast's trucks beyond them, with the forecast's 80 % and 95 % intervals never
below the declared; the declarations alone when no forecast run covers the day. Version 1
bulletins stay readable, the plans' rules are checked on receipt, and the CSV and the
bilingual PDF show the new figures."""

from __future__ import annotations

import base64
import copy
import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

import pypdf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow.app import create_app
from borderflow.config import Settings
from borderflow.domain import exchange as rules
from borderflow.errors import ValidationFailed
from borderflow.exchange import schema
from borderflow.exchange.signing import SigningKey
from borderflow.forecast import model
from borderflow.store.models import Bulletin, Forecast, ForecastRun
from tests import factories
from tests.conftest import NOW, TODAY, Peek
from tests.demand.test_forecasts import _daily_csv
from tests.exchange.test_exchange import register, send
from tests.exchange.test_rules_docs_and_cli import DOC
from tests.web.test_driver import _login, visible

API = "/api/v1/exchange"
TOMORROW = TODAY + timedelta(days=1)
MADE = datetime(2026, 11, 22, 19, 0, 41, tzinfo=NOW.tzinfo)


def _store_run(session: Session, rows: list[tuple[str, str, float, float, float, float, float]],
               *, origin: Any = TOMORROW, created_at: datetime = MADE) -> int:
    """A stored forecast run with one day's forecast per (gate, direction, mean, lo80, hi80,
    lo95, hi95), on ``origin``."""
    run = ForecastRun(created_at=created_at, model_version="gbm-ratio-1", origin=origin,
                      horizon=28, trained_from=TODAY - timedelta(days=400),
                      trained_to=TODAY - timedelta(days=1), series=len(rows), seconds=2.5,
                      trigger="on_demand", actor="regulator")
    session.add(run)
    session.flush()
    for gate, direction, mean, lo80, hi80, lo95, hi95 in rows:
        session.add(Forecast(run_id=run.id, gate=gate, direction=direction, day=origin,
                             horizon=1, mean=mean, lo80=lo80, hi80=hi80, lo95=lo95, hi95=hi95,
                             declared=0))
    session.commit()
    return run.id


def _declare(client: TestClient, auth: Any, plates: list[str]) -> None:
    """One declaration for tomorrow at Huu Nghi (export), one truck per plate."""
    body = factories.declaration(requested_date=factories.day(1))
    vehicle = body["vehicles"][0]
    body["vehicles"] = [dict(copy.deepcopy(vehicle), plate=p) for p in plates]
    r = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert r.status_code == 201, r.text


def _ours(client: TestClient, auth: Any) -> dict[str, Any]:
    r = client.get(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert r.status_code == 200, r.text
    envelope: dict[str, Any] = r.json()
    return envelope


def _plan(body: dict[str, Any], gate: str, direction: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in body["planned"]
                                 if (p["gate"], p["direction"]) == (gate, direction))
    return found


def _verified(client: TestClient, envelope: dict[str, Any]) -> None:
    """Valid against its schema version, within the bulletin rules, and signed by our key."""
    assert schema.validate(envelope) is envelope
    assert rules.problems(envelope["bulletin"], our_side="CN") == []
    key = client.get(f"{API}/public-key").json()
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public.verify(base64.b64decode(envelope["signature"]["value"]),
                  rules.canonical(envelope["bulletin"]))


def _pdf_text(client: TestClient, auth: Any) -> str:
    r = client.get(f"{API}/bulletins/ours", params={"format": "pdf"}, headers=auth("liaison"))
    assert r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    return " ".join(text.split())  # table headings wrap within their cells


# --- the figures ---------------------------------------------------------------------------------


def test_the_plan_is_declared_plus_the_forecast_rest_with_bounds_never_below_declared() -> None:
    got = rules.planned_figures(40, {"mean": 61.6, "lo80": 50.2, "hi80": 70.1, "lo95": 30.9,
                                     "hi95": 80.01})
    assert got == {"planned": 62, "forecast_rest": 22, "basis": "declarations+forecast",
                   "planned_lo80": 50, "planned_hi80": 71, "planned_lo95": 40,
                   "planned_hi95": 81}


def test_more_declared_than_forecast_leaves_no_rest_and_a_narrowed_interval() -> None:
    got = rules.planned_figures(100, {"mean": 61.6, "lo80": 50.2, "hi80": 70.1, "lo95": 30.9,
                                      "hi95": 120.0})
    assert (got["planned"], got["forecast_rest"]) == (100, 0)
    assert (got["planned_lo95"], got["planned_lo80"], got["planned_hi80"],
            got["planned_hi95"]) == (100, 100, 100, 120)


def test_without_a_forecast_the_plan_is_the_declared_trucks_without_an_interval() -> None:
    assert rules.planned_figures(7, None) == {
        "planned": 7, "forecast_rest": 0, "basis": "declarations", "planned_lo80": None,
        "planned_hi80": None, "planned_lo95": None, "planned_hi95": None}


# --- our bulletin --------------------------------------------------------------------------------


def test_our_bulletin_plans_declared_trucks_plus_the_stored_forecast_rest(
    client: TestClient, auth: Any, session: Session
) -> None:
    _declare(client, auth, ["29C-420.01", "29C-420.02", "29C-420.03"])
    _store_run(session, [("huu-nghi", "export", 12.4, 9.6, 15.2, 2.3, 18.7),
                         ("huu-nghi", "import", 0.4, 0.0, 1.2, 0.0, 2.5)])
    envelope = _ours(client, auth)
    b = envelope["bulletin"]
    assert b["schema_version"] == 2
    assert b["planned_date"] == TOMORROW.isoformat()
    assert b["planned_forecast"] == {"model_version": "gbm-ratio-1",
                                     "created_at": "2026-11-22T19:00:41Z"}
    export = _plan(b, "huu-nghi", "export")
    assert (export["declared"], export["forecast_rest"], export["planned"]) == (3, 9, 12)
    assert export["basis"] == "declarations+forecast"
    assert (export["planned_lo80"], export["planned_hi80"]) == (9, 16)
    assert (export["planned_lo95"], export["planned_hi95"]) == (3, 19)  # never below declared
    assert export["capacity"] > 0
    # a forecast of fewer trucks than declared adds none
    quiet = _plan(b, "huu-nghi", "import")
    assert (quiet["declared"], quiet["forecast_rest"], quiet["planned"]) == (0, 0, 0)
    assert (quiet["planned_lo95"], quiet["planned_hi95"]) == (0, 3)
    # a gate and direction the run has no forecast of is planned from its declarations alone
    chi_ma = _plan(b, "chi-ma", "export")
    assert (chi_ma["basis"], chi_ma["planned"], chi_ma["planned_hi80"]) == (
        "declarations", chi_ma["declared"], None)
    _verified(client, envelope)


def test_without_a_run_covering_the_day_the_plan_is_the_declarations_and_says_so(
    client: TestClient, auth: Any, session: Session
) -> None:
    _declare(client, auth, ["29C-421.01", "29C-421.02"])
    envelope = _ours(client, auth)
    b = envelope["bulletin"]
    assert b["planned_forecast"] is None
    assert {p["basis"] for p in b["planned"]} == {"declarations"}
    export = _plan(b, "huu-nghi", "export")
    assert (export["declared"], export["forecast_rest"], export["planned"]) == (2, 0, 2)
    assert [export[k] for k in rules.BOUNDS] == [None] * 4
    _verified(client, envelope)
    pdf = _pdf_text(client, auth)
    assert "chỉ các tờ khai" in pdf
    assert "仅申报" in pdf

    # a run whose days start after tomorrow does not cover it
    _store_run(session, [("huu-nghi", "export", 50, 40, 60, 30, 70)],
               origin=TOMORROW + timedelta(days=1))
    later = _ours(client, auth)["bulletin"]
    assert later["planned_forecast"] is None
    assert _plan(later, "huu-nghi", "export")["planned"] == 2


def test_the_plan_uses_a_run_made_by_the_forecast_refresh(
    client: TestClient, auth: Any, db: Peek
) -> None:
    r = client.post("/api/v1/reports/history", data={"kind": "daily"},
                    files={"file": ("daily.csv", _daily_csv().encode(), "text/csv")},
                    headers=auth("admin"))
    assert r.status_code == 201, r.text
    _declare(client, auth, [f"29C-422.{i:02d}" for i in range(5)])
    run = client.post("/api/v1/forecasts/refresh", headers=auth("regulator"))
    assert run.status_code == 201, run.text
    envelope = _ours(client, auth)
    b = envelope["bulletin"]
    made = db.one(select(ForecastRun))
    assert b["planned_forecast"] == {
        "model_version": model.MODEL_VERSION,
        "created_at": made.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    stored = {(f.gate, f.direction): f for f in db.scalars(
        select(Forecast).where(Forecast.day == TOMORROW))}
    assert ("huu-nghi", "export") in stored
    for p in b["planned"]:
        f = stored.get((p["gate"], p["direction"]))
        if f is None:
            assert p["basis"] == "declarations"
            continue
        assert p["basis"] == "declarations+forecast"
        assert p["planned"] == max(p["declared"], int(f.mean + 0.5))
        assert p["forecast_rest"] == p["planned"] - p["declared"]
        assert p["declared"] <= p["planned_lo95"] <= p["planned_lo80"] <= p["planned"] \
            <= p["planned_hi80"] <= p["planned_hi95"]
    assert _plan(b, "huu-nghi", "export")["declared"] == 5
    _verified(client, envelope)


def test_the_pdf_and_csv_show_the_plan_in_vietnamese_and_chinese(
    client: TestClient, auth: Any, session: Session
) -> None:
    _declare(client, auth, ["29C-423.01"])
    _store_run(session, [("huu-nghi", "export", 1234.4, 1100.2, 1350.9, 1020.0, 1420.1)])
    pdf = _pdf_text(client, auth)
    for label in ("Kế hoạch ngày 2026-11-24", "2026-11-24 计划", "Đã khai báo", "已申报",
                  "Dự báo thêm", "预测增量", "Kế hoạch", "计划量", "Khoảng 80%", "80%区间",
                  "Khoảng 95%", "95%区间", "Cơ sở: tờ khai + dự báo",
                  "依据：申报 + 未申报部分的预测", "gbm-ratio-1", "2026-11-22T19:00:41Z"):
        assert label in pdf, label
    assert "1233" in pdf  # the forecast rest
    assert "1100–1351" in pdf
    assert "1020–1421" in pdf

    r = client.get(f"{API}/bulletins/ours", params={"format": "csv"}, headers=auth("liaison"))
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    row = next(x for x in rows if x["section"] == "planned" and x["gate"] == "huu-nghi"
               and x["direction"] == "export")
    assert (row["declared"], row["forecast_rest"], row["planned"]) == ("1", "1233", "1234")
    assert (row["planned_lo80"], row["planned_hi80"], row["planned_lo95"],
            row["planned_hi95"]) == ("1100", "1351", "1020", "1421")
    assert row["kind"] == "declarations+forecast"
    assert row["note"] == "forecast gbm-ratio-1 2026-11-22T19:00:41Z"
    bare = next(x for x in rows if x["section"] == "planned" and x["gate"] == "chi-ma")
    assert (bare["kind"], bare["planned_hi95"]) == ("declarations", "")


def test_publishing_keeps_a_new_version_when_a_new_forecast_run_changes_the_plan(
    client: TestClient, auth: Any, session: Session
) -> None:
    first = client.post(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert first.status_code == 201, first.text
    _store_run(session, [("huu-nghi", "export", 30, 25, 35, 20, 40)])
    second = client.post(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert (second.status_code, second.json()["version"]) == (201, 2)
    kept = client.get(f"{API}/bulletins/{second.json()['id']}", headers=auth("liaison")).json()
    assert _plan(kept["bulletin"], "huu-nghi", "export")["planned"] == 30
    _verified(client, kept)


# --- versions and the rules on receipt -----------------------------------------------------------


def test_both_schema_versions_are_served_and_read(client: TestClient) -> None:
    assert client.get(f"{API}/schema").json()["$id"] == "urn:borderflow:exchange:bulletin:v1"
    v2 = client.get(f"{API}/schema", params={"version": 2}).json()
    assert v2["$id"] == "urn:borderflow:exchange:bulletin:v2"
    assert "planned_hi95" in v2["$defs"]["bulletin"]["properties"]["planned"]["items"][
        "properties"]
    assert client.get(f"{API}/schema", params={"version": 3}).status_code == 422


def _v2(cn_bulletin: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(cn_bulletin)
    body["schema_version"] = 2
    body["planned_forecast"] = {"model_version": "cn-ets-3", "created_at":
                                "2026-11-23T06:00:00+08:00"}
    body["planned"][0].update({"basis": "declarations+forecast", "forecast_rest": 80,
                               "planned": 780, "planned_lo80": 740, "planned_hi80": 830,
                               "planned_lo95": 710, "planned_hi95": 870})
    body["planned"].append({"gate": "chi-ma", "direction": "export", "declared": 40,
                            "booked": 0, "capacity": 200, "basis": "declarations",
                            "forecast_rest": 0, "planned": 40, "planned_lo80": None,
                            "planned_hi80": None, "planned_lo95": None, "planned_hi95": None})
    return body


def test_a_partner_bulletin_of_version_2_is_received_and_its_plans_checked(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    wrong = _v2(cn_bulletin)
    wrong["planned"][0]["planned"] = 800  # not declared + forecast_rest
    wrong["planned"][0]["planned_lo80"] = 690  # below lo95
    wrong["planned"][1]["planned_hi80"] = 50  # an interval without a forecast
    r = send(client, auth, cn_key.sign(wrong))
    assert r.status_code == 422, r.text
    got = {f["field"]: f["reason"] for f in r.json()["error"]["fields"]}
    assert "declared + forecast_rest" in got["bulletin.planned[0].planned"]
    assert "lo95 <= lo80" in got["bulletin.planned[0].planned_lo95"]
    assert "no interval" in got["bulletin.planned[1].basis"]

    missing = _v2(cn_bulletin)
    del missing["planned"][0]["planned_hi95"]
    del missing["planned_forecast"]
    got = {f["field"]: f["reason"] for f in send(client, auth, cn_key.sign(missing)).json()[
        "error"]["fields"]}
    assert got["bulletin.planned[0].planned_hi95"] == "this field is required"
    assert got["bulletin.planned_forecast"] == "this field is required"

    # version 1 does not know the new fields
    old = _v2(cn_bulletin)
    old["schema_version"] = 1
    got = {f["field"]: f["reason"] for f in send(client, auth, cn_key.sign(old)).json()[
        "error"]["fields"]}
    assert got["bulletin"] == "unexpected field(s): planned_forecast"

    unknown = dict(_v2(cn_bulletin), schema_version=3)
    got = {f["field"]: f["reason"] for f in send(client, auth, cn_key.sign(unknown)).json()[
        "error"]["fields"]}
    assert got == {"bulletin.schema_version":
                   "3 is not a schema version this platform reads (1, 2)"}

    r = send(client, auth, cn_key.sign(_v2(cn_bulletin)))
    assert r.status_code == 201, r.text
    kept = client.get(f"{API}/bulletins/{r.json()['id']}", headers=auth("liaison")).json()
    assert kept["bulletin"]["planned"][0]["planned"] == 780


def test_a_version_1_envelope_still_validates_and_a_flag_is_not_a_version(
    cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    assert schema.validate(cn_key.sign(cn_bulletin))["bulletin"]["schema_version"] == 1
    with pytest.raises(ValidationFailed) as refused:
        schema.validate(cn_key.sign(dict(cn_bulletin, schema_version=True)))
    assert [f.field for f in refused.value.fields] == ["bulletin.schema_version"]


# --- the partner bulletin page -------------------------------------------------------------------


def _plan_row(html: str, gate: str, direction: str) -> str:
    start = html.index(">", html.index(f'id="plan-{gate}-{direction}"')) + 1
    return re.sub(r"<[^>]*>", " ", html[start:html.index("</tr>", start)])


def test_the_page_shows_our_plan_in_the_readers_language_and_number_format(
    client: TestClient, session: Session
) -> None:
    _store_run(session, [("huu-nghi", "export", 1234.4, 1100.2, 1350.9, 1020.0, 1420.1)])
    client.cookies.clear()
    assert _login(client, "liaison").status_code == 303
    vi = client.get("/exchange", params={"lang": "vi"}).text
    assert "Kế hoạch của ta ngày" in vi
    assert "cộng dự báo phần còn lại (dự báo lập lúc" in visible(vi)
    assert "gbm-ratio" not in visible(vi)  # the page names no model code
    for label in ("Dự báo thêm ngoài khai báo", "Khoảng 80 %", "Khoảng 95 %"):
        assert label in vi, label
    row = _plan_row(vi, "huu-nghi", "export")
    assert "1.234" in row  # planned, the Vietnamese way
    assert "1.100–1.351" in row
    assert "1.020–1.421" in row
    assert "—" in _plan_row(vi, "chi-ma", "export")  # no forecast of that gate

    zh = client.get("/exchange", params={"lang": "zh"}).text
    for label in ("我方", "计划", "申报以外的预测量", "计划量", "80% 区间", "95% 区间",
                  "该日已申报车辆加上其余部分的预测"):
        assert label in zh, label
    row = _plan_row(zh, "huu-nghi", "export")
    assert "1,234" in row
    assert "1,100–1,351" in row

    en = client.get("/exchange", params={"lang": "en"}).text
    assert "Forecast beyond declared" in en
    assert "1,020–1,421" in _plan_row(en, "huu-nghi", "export")


def test_the_page_says_when_the_plan_is_the_declarations_alone(client: TestClient) -> None:
    client.cookies.clear()
    assert _login(client, "liaison").status_code == 303
    zh = visible(client.get("/exchange", params={"lang": "zh"}).text)
    assert "仅该日已申报车辆：尚无覆盖该日的预测。" in zh
    vi = visible(client.get("/exchange", params={"lang": "vi"}).text)
    assert "Chỉ các xe đã khai báo cho ngày đó: chưa có dự báo cho ngày này." in vi


def test_the_documentation_describes_every_field_of_version_2() -> None:
    text = DOC.read_text(encoding="utf-8")
    bulletin = schema.schema(2)["$defs"]["bulletin"]["properties"]
    for name in [*bulletin, *bulletin["planned"]["items"]["properties"],
                 *bulletin["planned_forecast"]["oneOf"][0]["properties"]]:
        assert f"`{name}" in text or f"`planned[].{name}" in text, name
    assert "bulletin-v2.schema.json" in text


def test_a_partner_reading_only_version_1_gets_version_1_bulletins(
    settings: Settings, clock: Any, auth: Any, session: Session
) -> None:
    """During a changeover (BORDERFLOW_EXCHANGE_SCHEMA_VERSION=1) our bulletins are built and
    published in version 1: plans of the declared trucks, nothing a version 1 reader refuses."""
    app = create_app(settings.model_copy(update={"exchange_schema_version": 1}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as old:
        _declare(old, auth, ["29C-420.11", "29C-420.12"])
        _store_run(session, [("huu-nghi", "export", 12.4, 9.6, 15.2, 2.3, 18.7)])
        envelope = _ours(old, auth)
        b = envelope["bulletin"]
        assert b["schema_version"] == 1
        assert "planned_forecast" not in b
        plan = _plan(b, "huu-nghi", "export")
        assert set(plan) == {"gate", "direction", "declared", "booked", "capacity"}
        assert plan["declared"] == 2
        _verified(old, envelope)
        published = old.post(f"{API}/bulletins/ours", headers=auth("liaison"))
        assert published.status_code == 201, published.text
    app.state.ctx.engine.dispose()
    kept = session.scalar(select(Bulletin).where(Bulletin.id == published.json()["id"]))
    assert kept is not None
    assert kept.body["schema_version"] == 1
