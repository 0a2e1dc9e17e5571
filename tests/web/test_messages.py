"""The services' refusals read as sentences in the page's language: a step another officer
already passed, a trip that already goes through a gate, a plate nobody can read, a wrong
login. Codes among their parameters (steps, gates, statuses) are shown by their names; the
API still answers the same English text in its JSON error shape."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from borderflow.account import service as accounts
from borderflow.domain import labels
from borderflow.domain import trip as domain
from borderflow.domain.network import Network
from borderflow.domain.values import parse_plate
from borderflow.errors import AppError, Text
from borderflow.network import service as networks
from borderflow.store.models import Trip
from borderflow.web.i18n import Formatter
from tests.conftest import PASSWORD
from tests.factories import declaration
from tests.web.test_driver import _csrf, _login, visible
from tests.web.test_officer import _in_gate_area

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database


def _network(client: TestClient) -> Network:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.read_sessions() as db:
        return networks.in_force(db, ctx.clock.now())


STEP_PASSED = {"vi": "Bước “{}” đã được thông qua.", "zh": "“{}”步骤已经通过。"}


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_step_another_officer_passed_is_refused_in_the_pages_language_by_its_name(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-610.0{'12'[lang == 'zh']}")
    first = client.post(f"/api/v1/trips/{ref}/steps/border_guard",
                        headers=auth("borderguard"), json={"outcome": "pass"})
    assert first.status_code == 200, first.text
    again = client.post(f"/api/v1/trips/{ref}/steps/border_guard",
                        headers=auth("borderguard"), json={"outcome": "pass"})
    assert again.status_code == 409
    assert again.json() == {"error": {"code": "invalid_transition", "fields": [],
                                      "message": "step 'border_guard' has already been passed"}}
    client.cookies.clear()
    _login(client, "borderguard")
    token = _csrf(client, f"/officer/trips/{ref}")
    late = client.post(f"/officer/trips/{ref}/steps/border_guard?lang={lang}",
                       data={"csrf": token, "outcome": "pass"})
    assert late.status_code == 409
    shown = visible(late.text)
    step = labels.label("step", "border_guard", lang, _network(client))
    assert STEP_PASSED[lang].format(step) in shown
    assert "border_guard" not in shown
    assert "already" not in shown


def test_a_domain_refusal_names_the_gate_and_the_status_in_vietnamese_and_chinese(
    client: TestClient, auth: Any, db: Any
) -> None:
    ref = _in_gate_area(client, auth, "29C-610.11")
    state = db.one(select(Trip).where(Trip.reference == ref)).state
    network = _network(client)
    at = domain.parse_time(state["updated_at"]) + timedelta(minutes=1)
    with pytest.raises(AppError) as refused:
        domain.apply(state, domain.Event("trip.rerouted", at, "regulator",
                                         {"gate": "huu-nghi", "procedure": {"steps": []}}))
    english = refused.value.message
    assert english == "a trip that is in_gate_area cannot change gate; recall it first"
    assert isinstance(english, Text)
    status = {lang: labels.label("status", "in_gate_area", lang) for lang in ("vi", "zh")}
    assert Formatter("vi", network).message(english) == (
        f"Chuyến xe ở trạng thái “{status['vi']}” không thể đổi cửa khẩu; hãy hủy lệnh gọi "
        "trước.")
    assert Formatter("zh", network).message(english) == (
        f"状态为“{status['zh']}”的车次不能更换口岸，请先撤回叫号。")
    with pytest.raises(AppError) as same_gate:
        domain.apply({**state, "status": "declared", "location": None},
                     domain.Event("trip.rerouted", at, "regulator",
                                  {"gate": "huu-nghi", "procedure": {"steps": []}}))
    assert same_gate.value.message == "the trip already goes through huu-nghi"
    for lang in ("vi", "zh"):
        shown = Formatter(lang, network).message(same_gate.value.message)
        assert labels.label("gate", "huu-nghi", lang, network) in shown
        assert "huu-nghi" not in shown


def test_a_plate_nobody_can_read_is_explained_in_each_language() -> None:
    with pytest.raises(ValueError, match="not a recognised plate") as bad:
        parse_plate("ABC")
    text = bad.value.args[0]
    assert isinstance(text, Text)
    assert str(text).startswith("not a recognised plate: use a Vietnamese plate such as")
    assert Formatter("vi").message(text).startswith("Biển số không hợp lệ: nhập biển số Việt Nam")
    assert Formatter("zh").message(text).startswith("无法识别的车牌")
    with pytest.raises(ValueError, match="province code") as province:
        parse_plate("05C-123.45")
    assert Formatter("vi").message(province.value.args[0]) == (
        "“05” không phải là mã tỉnh của Việt Nam (11-99).")


def test_a_bad_plate_in_a_declaration_keeps_its_english_reason_for_api_clients(
    client: TestClient, auth: Any
) -> None:
    body = declaration()
    body["vehicles"][0]["plate"] = "ABC"
    r = client.post("/api/v1/declarations", json=body, headers=auth("enterprise"))
    assert r.status_code == 422
    reasons = {f["field"]: f["reason"] for f in r.json()["error"]["fields"]}
    assert "not a recognised plate: use a Vietnamese plate such as 29C-123.45" in \
        reasons["vehicles[0].plate"]


def test_a_wrong_login_reads_in_vietnamese_and_chinese_and_in_english_for_the_api(
    client: TestClient
) -> None:
    r = client.post("/api/v1/auth/token", data={"username": "regulator", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["error"] == {"code": "unauthorized", "fields": [],
                                 "message": "wrong username or password"}
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.read_sessions() as db, pytest.raises(AppError) as refused:
        accounts.login(db, "regulator", PASSWORD + "x", key="k" * 32, now=ctx.clock.now(),
                       minutes=5)
    assert refused.value.message == "wrong username or password"
    assert Formatter("vi").error(refused.value) == "Sai tên đăng nhập hoặc mật khẩu."
    assert Formatter("zh").error(refused.value) == "用户名或密码错误。"



def test_a_refusal_passed_on_from_a_rule_keeps_its_template_for_the_page() -> None:
    from borderflow.domain.values import parse_hs_code
    from borderflow.errors import reason_of

    with pytest.raises(ValueError, match="only digits") as raised:
        parse_hs_code("08x1")
    reason = reason_of(raised.value)
    assert isinstance(reason, Text)
    assert reason == "HS code may contain only digits (dots and spaces are ignored)"
    for lang in ("vi", "zh"):
        said = Formatter(lang).message(reason)
        assert said
        assert said != str(reason)
    assert reason_of(ValueError("plain")) == "plain"
    assert reason_of(KeyError()) == ""
