"""The officer's checkpoint screen: find a trip by plate or scanned reference, see what is
pending for the role, record a hold and a release and a pass with the same rules as the API,
and see the timeline; a refused action shows the page again with the message in the page's
language and what was typed; the control room reads the trip without the forms; other roles
stay out."""

from __future__ import annotations

import html as markup
import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from borderflow.clock import FixedClock
from borderflow.domain import labels
from borderflow.network import service as networks
from tests.conftest import NOW, PASSWORD
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login, visible

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database


def _in_gate_area(client: TestClient, auth: Any, plate: str) -> str:
    ref = staged(client, auth, plate)
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    r = client.post(f"/api/v1/trips/{ref}/movements",
                    json={"action": "enter", "area": "gate_area:huu-nghi"},
                    headers=auth("borderguard"))
    assert r.status_code == 200, r.text
    return ref


def _status_of(page: str, step: str) -> str:
    found = re.search(rf'data-step="{step}" data-status="(\w+)"', page)
    assert found, step
    return found.group(1)


def test_an_officer_finds_a_truck_records_a_hold_and_a_release_then_passes(
    client: TestClient, auth: Any
) -> None:
    ref = _in_gate_area(client, auth, "29C-600.01")
    client.cookies.clear()
    ok = _login(client, "borderguard")
    assert ok.headers["location"] == "/officer"
    found = client.get("/officer", params={"q": "29c 600 01"}, follow_redirects=False)
    assert (found.status_code, found.headers["location"]) == (303, f"/officer/trips/{ref}")
    page = client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text
    assert 'id="step-border_guard"' in page
    assert 'id="step-customs"' not in page  # customs' step is not the border guard's
    token = _csrf(client, f"/officer/trips/{ref}")
    url = f"/officer/trips/{ref}/steps/border_guard"
    no_reason = client.post(f"{url}?lang=en",
                            data={"csrf": token, "outcome": "hold", "note": "no CMR"})
    assert no_reason.status_code == 422
    assert "Choose a reason in “Hold because”." in no_reason.text  # the field named
    held = client.post(url, data={"csrf": token, "outcome": "hold", "reason_code":
                                  "documents-missing", "note": "no CMR"},
                       follow_redirects=False)
    assert held.status_code == 303
    assert held.headers["location"] == f"/officer/trips/{ref}?done=held&step=border_guard"
    page = client.get(held.headers["location"] + "&lang=en").text
    assert "Step put on hold: Border-guard inspection in/out of the gate." in page
    assert 'id="held-border_guard"' in page
    assert _status_of(page, "border_guard") == "held"
    released = client.post(url, data={"csrf": token, "outcome": "release"},
                           follow_redirects=False)
    assert released.status_code == 303
    passed = client.post(url, data={"csrf": token, "outcome": "pass"}, follow_redirects=False)
    assert passed.status_code == 303
    state = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    step = next(s for s in state["steps"] if s["code"] == "border_guard")
    assert (step["status"], step["by"]) == ("passed", "borderguard")
    timeline = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert [e["type"] for e in timeline["entries"]][-3:] == [
        "step.held", "step.released", "step.passed"]
    assert {e["source"] for e in timeline["entries"][-3:]} == {"officer_screen"}
    shown = visible(client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text)
    assert "Held · Border-guard inspection in/out of the gate · Documents missing" in shown
    forged = client.post(url, data={"outcome": "pass"})  # no CSRF token
    assert forged.status_code == 403


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_refused_hold_is_shown_again_in_the_pages_language_with_the_note_kept(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-600.1{'12'[lang == 'zh']}")
    client.cookies.clear()
    _login(client, "borderguard")
    client.cookies.set("lang", lang)
    token = _csrf(client, f"/officer/trips/{ref}")
    url = f"/officer/trips/{ref}/steps/border_guard"
    note = "Thiếu giấy CMR, tài xế đang gọi công ty"
    refused = client.post(url, data={"csrf": token, "outcome": "hold", "note": note})
    assert refused.status_code == 422
    page = refused.text
    expected = {"vi": "Hãy chọn lý do ở ô “Tạm giữ vì”.", "zh": "请在“暂扣原因”中选择原因。"}[lang]
    assert expected in page
    assert f'value="{note}"' in page  # the note is still in the field
    hold = re.search(r'<select id="hold-border_guard".*?</select>', page, re.S)
    assert hold
    assert hold.group(0).count("selected") == 0  # no reason chosen for the officer
    assert re.search(r'<option value="">[^<]+</option>', hold.group(0))  # "Choose a reason"
    assert 'aria-invalid="true" aria-describedby="hold-border_guard-error"' in hold.group(0)
    assert 'id="hold-border_guard-error"' in page
    assert f'lang="{lang}"' in page
    # a stale form (its CSRF token no longer matches) comes back the same way, not a bare page
    stale = client.post(url, data={"csrf": "x" * 43, "outcome": "hold",
                                   "reason_code": "documents-missing", "note": note})
    assert stale.status_code == 403
    assert {"vi": "Biểu mẫu đã hết hạn", "zh": "表单已过期"}[lang] in stale.text
    assert f'value="{note}"' in stale.text
    assert re.search(r'<option value="documents-missing" selected>', stale.text)
    # a reload of the form's address (or the language switch there) shows the trip's page
    again = client.get(url, headers={"accept": "text/html"}, follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, f"/officer/trips/{ref}")
    switch = re.search(r'href="(/lang/en\?next=[^"]+)"', stale.text)
    assert switch
    other = client.get(markup.unescape(switch.group(1)), headers={"accept": "text/html"})
    assert other.status_code == 200
    assert other.headers["content-type"].startswith("text/html")
    assert f"{ref} · 29C-600.1" in other.text
    assert 'lang="en"' in other.text


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_a_step_another_officer_passed_meanwhile_is_refused_with_the_typed_note_shown(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-600.2{'12'[lang == 'zh']}")
    client.cookies.clear()
    _login(client, "borderguard")
    token = _csrf(client, f"/officer/trips/{ref}")
    other = client.post(f"/api/v1/trips/{ref}/steps/border_guard",
                        headers=auth("borderguard"), json={"outcome": "pass"})
    assert other.status_code == 200, other.text
    late = client.post(f"/officer/trips/{ref}/steps/border_guard?lang={lang}",
                       data={"csrf": token, "outcome": "hold",
                             "reason_code": "documents-missing", "note": "seal broken"})
    assert 400 <= late.status_code < 500
    shown = visible(late.text)
    assert "seal broken" in shown  # what was typed is still there to copy
    assert 'role="alert"' in late.text
    assert _status_of(late.text, "border_guard") == "passed"  # the page as it is now
    assert "reload" not in shown.lower()  # the message is in the page's language


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_trip_page_shows_labels_never_codes(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-600.3{'12'[lang == 'zh']}")
    client.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                json={"outcome": "hold", "reason_code": "documents-missing",
                      "note": "no CMR"})
    client.cookies.clear()
    _login(client, "borderguard")
    shown = visible(client.get(f"/officer/trips/{ref}", params={"lang": lang}).text)
    for kind, code in [("event", "step.held"), ("event", "trip.called"),
                       ("event", "area.entered"), ("status", "in_gate_area"),
                       ("step_status", "held"), ("step_status", "passed"),
                       ("step_status", "pending"), ("direction", "export"),
                       ("priority", "normal"), ("vehicle_type", "container_truck")]:
        assert getattr(labels.TABLES[kind][code], lang) in shown, (kind, code)
    for kind, code in [("gate", "huu-nghi"), ("yard", "huu-nghi-export"),
                       ("reason", "documents-missing"), ("goods_group", "machinery")]:
        name = _network_label(client, kind, code, lang)
        assert name in shown, (kind, code)
    for code in ("step.held", "trip.called", "area.entered", "in_gate_area", "held ",
                 "pending", "passed", "huu-nghi", "documents-missing", "border_guard",
                 "machinery", "container_truck", "normal", "export", "officer_screen",
                 "staging:", "gate_area:"):
        assert code not in shown, code
    assert "no CMR" in shown  # the officer's own note, as typed


def _network_label(client: TestClient, kind: str, code: str, lang: str) -> str:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.read_sessions() as db:
        network = networks.in_force(db, ctx.clock.now())
    return labels.label(kind, code, lang, network)


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_the_control_room_opens_a_held_trip_from_its_alert_and_reads_it_without_forms(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-600.4{'12'[lang == 'zh']}")
    client.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                json={"outcome": "hold", "reason_code": "documents-missing"})
    client.cookies.clear()
    _login(client, "regulator")
    client.cookies.set("lang", lang)
    console = client.get("/console").text
    alerts = console[console.index('id="alerts-h"'):console.index('id="charts-h"')]
    link = re.search(r'href="(/officer/trips/[^"]+)"', alerts)
    assert link
    assert link.group(1) == f"/officer/trips/{ref}"
    assert _network_label(client, "step", "border_guard", lang) in visible(
        f"<main>{alerts}</main>")
    page = client.get(link.group(1))
    assert page.status_code == 200
    assert f'lang="{lang}"' in page.text
    assert "/steps/" not in page.text  # no pass, hold, reject or release forms
    assert 'href="/officer"' not in page.text  # the checkpoint's search is not theirs
    assert getattr(labels.TABLES["event"]["step.held"], lang) in visible(page.text)
    # every link of the console and of the trip page opens for the regulator
    for html in (console, page.text):
        for href in sorted(set(re.findall(r'href="(/[^"]*)"', html))):
            target = markup.unescape(href)
            if target.startswith(("/lang/", "/static/", "/docs")):
                continue
            opened = client.get(target)
            assert opened.status_code == 200, (target, opened.status_code)


def test_drivers_and_enterprises_use_their_own_pages_not_the_checkpoints(
    client: TestClient, auth: Any
) -> None:
    ref = _in_gate_area(client, auth, "29C-600.50")
    assert client.get("/officer", follow_redirects=False).status_code == 303
    _login(client, "driver")
    refused = client.get("/officer")
    assert refused.status_code == 403
    assert "Trang này dành cho cán bộ kiểm tra." in refused.text
    assert client.get(f"/officer/trips/{ref}").status_code == 403
    client.cookies.clear()
    _login(client, "enterprise")
    assert client.get(f"/officer/trips/{ref}").status_code == 403
    client.cookies.clear()
    _login(client, "customs")  # reads it, and records only its own step
    page = client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text
    assert 'id="step-border_guard"' not in page


def test_a_confirmation_comes_from_a_code_never_from_the_address(
    client: TestClient, auth: Any
) -> None:
    ref = _in_gate_area(client, auth, "29C-600.60")
    _login(client, "borderguard")
    fake = client.get(f"/officer/trips/{ref}", params={
        "lang": "zh", "done": "passed", "step": "<b>all clear</b>"}).text
    assert "all clear" not in fake
    assert 'class="notice"' not in fake
    other = client.get(f"/officer/trips/{ref}", params={"lang": "zh", "done": "Trip cleared"})
    assert "Trip cleared" not in other.text


def test_an_expired_session_comes_back_to_the_same_trip_page_with_its_query(
    client: TestClient, auth: Any, clock: FixedClock
) -> None:
    ref = _in_gate_area(client, auth, "29C-600.70")
    _login(client, "borderguard")
    clock.set(clock.now() + timedelta(hours=13))
    expired = client.get(f"/officer/trips/{ref}?lang=zh", follow_redirects=False)
    assert expired.status_code == 303
    login_url = expired.headers["location"]
    assert parse_qs(urlsplit(login_url).query)["next"] == [f"/officer/trips/{ref}?lang=zh"]
    form = client.get(login_url)
    assert re.search(r'<input id="username"[^>]*autofocus', form.text)
    kept = re.search(r'name="next" value="([^"]*)"', form.text)
    assert kept
    assert markup.unescape(kept.group(1)) == f"/officer/trips/{ref}?lang=zh"
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token
    back = client.post("/login", data={"username": "borderguard", "password": PASSWORD,
                                       "csrf": token.group(1), "next": markup.unescape(
                                           kept.group(1))}, follow_redirects=False)
    assert (back.status_code, back.headers["location"]) == (
        303, f"/officer/trips/{ref}?lang=zh")
    assert client.get(back.headers["location"]).status_code == 200
    # a form sent after the session ended goes to the login page, then back to its page
    clock.set(clock.now() + timedelta(hours=13))
    late = client.post(f"/officer/trips/{ref}/steps/border_guard",
                       data={"csrf": token.group(1), "outcome": "pass"},
                       follow_redirects=False)
    assert late.status_code == 303
    assert parse_qs(urlsplit(late.headers["location"]).query)["next"] == [
        f"/officer/trips/{ref}"]


def test_the_checkpoint_screen_offers_camera_scanning_with_no_internet(
    client: TestClient
) -> None:
    _login(client, "customs")
    page = client.get("/officer", params={"lang": "en"}).text
    assert re.search(r'<button type="button" id="scan-start"[^>]*>Scan with camera<', page)
    assert '<script src="/static/scan.js"' in page
    script = client.get("/static/scan.js")
    assert script.status_code == 200
    assert "BarcodeDetector" in script.text
    assert "/static/vendor/jsQR-1.4.0.js" in script.text
    fallback = client.get("/static/vendor/jsQR-1.4.0.js")  # served by the platform, no CDN
    assert fallback.status_code == 200
    assert "jsQR" in fallback.text
    assert client.get("/static/vendor/jsQR-LICENSE.txt").text.lstrip().startswith(
        "Apache License")
    vi = client.get("/officer", params={"lang": "vi"}).text
    assert "Scan with camera" not in vi  # translated


# --- what the step checks, live changes, out-of-date actions -------------------------------------


def _section(html: str, marker: str) -> str:
    """The text a person reads from a marker to the end of its section (or block)."""
    start = html.index(marker)
    ends = [i for i in (html.find("</section>", start), html.find("</div>", start)) if i > 0]
    return visible(f"<main>{html[start:min(ends)]}</main>")


def _camera_read(client: TestClient, auth: Any, plate: str, confidence: float) -> None:
    r = client.post("/api/v1/cameras", headers=auth("admin"),
                    json={"code": "huu-nghi-in-9", "name": "Camera cổng vào Hữu Nghị",
                          "gate": "huu-nghi", "checkpoint": "gate_in"})
    assert r.status_code == 201, r.text
    read = client.post("/api/v1/plate-reads", headers={"X-API-Key": r.json()["key"]},
                       json={"camera": "huu-nghi-in-9", "plate": plate,
                             "confidence": confidence,
                             "time": NOW.isoformat()})
    assert read.status_code == 201, read.text


def test_the_officer_sees_every_fact_the_step_checks_in_the_pages_language(
    client: TestClient, auth: Any
) -> None:
    ref = staged(client, auth, "29C-600.80", kind="fruit")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    r = client.post(f"/api/v1/trips/{ref}/movements", headers=auth("borderguard"),
                    json={"action": "enter", "area": "gate_area:huu-nghi"})
    assert r.status_code == 200, r.text
    _camera_read(client, auth, "29C-600.80", 0.62)
    held = client.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                       json={"outcome": "hold", "reason_code": "documents-missing",
                             "note": "Thiếu trang 2 của CMR"})
    assert held.status_code == 200, held.text
    client.cookies.clear()
    _login(client, "quarantine")
    page = client.get(f"/officer/trips/{ref}", params={"lang": "vi"}).text
    shown = visible(page)
    # goods lines: HS code, description, quantity with its unit, weight and value (vi style)
    assert "0810.90.00" in shown  # the HS code as customs write it
    assert "Fresh dragon fruit" in shown
    assert "1.200 thùng" in shown
    assert "15.000" in shown
    assert "21.000,50 US$" in shown
    # the quarantine certificate, the vehicle, container, driver and enterprise
    assert "KDTV-2026-001234" in shown
    for kind, code in [("vehicle_type", "container_truck"), ("container", "40ft"),
                       ("document_type", "vn_citizen_id"), ("quarantine_kind", "plant"),
                       ("direction", "export")]:
        assert labels.TABLES[kind][code].vi in shown, (kind, code)
    assert "Nguyen Van Tai" in shown
    assert "Cong ty TNHH Xuat nhap khau Demo" in shown
    assert "0100109106" in shown
    assert "Không phải doanh nghiệp ưu tiên (AEO)" in shown
    assert "0010****2345" in shown  # quarantine officers see the driver's document masked
    # the earlier hold with its reason, note, who and when
    holds = _section(page, 'id="holds-h"')
    assert _network_label(client, "reason", "documents-missing", "vi") in holds
    assert "Thiếu trang 2 của CMR" in holds
    assert "Border-guard officer" in holds
    # the camera's read of the plate, waiting for review
    reads = _section(page, 'id="reads-h"')
    assert "Camera cổng vào Hữu Nghị" in reads
    assert "62 %" in reads
    assert labels.TABLES["status"]["review"].vi in reads
    # the border guard (personal data) reads the document in full
    client.cookies.clear()
    _login(client, "borderguard")
    assert "001089012345" in visible(client.get(f"/officer/trips/{ref}").text)


def test_pass_hold_and_reject_are_apart_confirmed_and_no_reason_is_chosen_for_the_officer(
    client: TestClient, auth: Any
) -> None:
    ref = _in_gate_area(client, auth, "29C-600.81")
    _login(client, "borderguard")
    page = client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text
    step = page[page.index('id="step-border_guard"'):]
    step = step[:step.index("</article>")]
    assert '<link rel="stylesheet" href="/static/officer.css">' in page
    assert re.search(r'class="btn-pass"[^>]*>.*Pass', step)
    assert "data-confirm" not in re.search(r'<button[^>]*btn-pass[^>]*>', step).group(0)  # type: ignore[union-attr]
    for kind in ("hold", "reject"):
        button = re.search(rf'<button[^>]*class="btn-{kind}"[^>]*>', step)
        assert button
        assert "data-confirm=" in button.group(0)
        select = re.search(rf'<select id="{kind}-border_guard".*?</select>', step, re.S)
        assert select
        assert "selected" not in select.group(0)
        assert re.search(r'<select[^>]*>\s*<option value="">', select.group(0))
    # every action form carries the trip's version
    version = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()["version"]
    assert step.count(f'name="version" value="{version}"') == 3
    assert client.get("/static/officer.css").status_code == 200
    assert client.get("/static/officer.js").status_code == 200
    token = _csrf(client, f"/officer/trips/{ref}")
    url = f"/officer/trips/{ref}/steps/border_guard?lang=en"
    refused = client.post(url, data={"csrf": token, "outcome": "reject", "version": version,
                                     "note": "seal broken"})
    assert refused.status_code == 422
    assert 'id="reject-border_guard-error">Choose a reason in “Reject because”.<' in \
        refused.text
    assert 'value="seal broken"' in refused.text
    state = client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
    assert state["version"] == version  # nothing recorded


@pytest.mark.parametrize("lang", ["vi", "zh"])
def test_an_out_of_date_action_is_refused_with_the_fresh_state_and_nothing_recorded(
    client: TestClient, auth: Any, lang: str
) -> None:
    ref = _in_gate_area(client, auth, f"29C-600.9{'12'[lang == 'zh']}")
    _login(client, "borderguard")
    page = client.get(f"/officer/trips/{ref}").text
    seen = re.search(r'name="version" value="(\d+)"', page)
    assert seen
    token = _csrf(client, f"/officer/trips/{ref}")
    # another officer holds and releases the step meanwhile: it is pending again, but the
    # trip is not what this officer saw
    for body in ({"outcome": "hold", "reason_code": "documents-missing", "note": "no CMR"},):
        r = client.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                        json=body)
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/trips/{ref}/steps/border_guard/release",
                    headers=auth("borderguard"), json={})
    assert r.status_code == 200, r.text
    before = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    late = client.post(f"/officer/trips/{ref}/steps/border_guard?lang={lang}",
                       data={"csrf": token, "outcome": "pass", "version": seen.group(1)})
    assert late.status_code == 409
    expected = {"vi": "Một cán bộ khác đã thay đổi chuyến này",
                "zh": "另一位官员在您打开后修改了此行程"}[lang]
    assert expected in late.text
    shown = visible(late.text)
    alert = _section(late.text, 'id="form-error"')
    for code in ("step.held", "step.released"):
        assert getattr(labels.TABLES["event"][code], lang) in alert, code
    assert "no CMR" in alert
    assert _status_of(late.text, "border_guard") == "pending"  # the trip as it is now
    fresh = re.search(r'name="version" value="(\d+)"', late.text)
    assert fresh
    assert int(fresh.group(1)) == int(seen.group(1)) + 2
    after = client.get(f"/api/v1/trips/{ref}/timeline", headers=auth("regulator")).json()
    assert len(after["entries"]) == len(before["entries"])  # nothing recorded
    assert "reload" not in shown.lower()
    # sent again from the fresh page, it is recorded
    ok = client.post(f"/officer/trips/{ref}/steps/border_guard",
                     data={"csrf": token, "outcome": "pass", "version": fresh.group(1)},
                     follow_redirects=False)
    assert ok.status_code == 303


def test_the_live_part_shows_another_officers_change(client: TestClient, auth: Any) -> None:
    ref = _in_gate_area(client, auth, "29C-600.95")
    _login(client, "customs")
    page = client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text
    poll = re.search(r'hx-get="(/officer/trips/[^"]+/live\?v=(\d+))" hx-trigger="every (\d+)s"',
                     page)
    assert poll
    assert int(poll.group(3)) <= 10
    live = markup.unescape(poll.group(1)) + "&lang=en"
    quiet = client.get(live, headers={"HX-Request": "true"})
    assert quiet.status_code == 200
    assert "<html" not in quiet.text  # a fragment, swapped in place
    assert "data-changed" not in quiet.text
    assert _status_of(quiet.text, "border_guard") == "pending"
    r = client.post(f"/api/v1/trips/{ref}/steps/border_guard", headers=auth("borderguard"),
                    json={"outcome": "hold", "reason_code": "documents-missing",
                          "note": "seal broken"})
    assert r.status_code == 200, r.text
    changed = client.get(live, headers={"HX-Request": "true"})
    assert "data-changed" in changed.text
    text = visible(f"<main>{changed.text}</main>")
    assert "This trip changed after you opened it." in text
    assert "Held · Border-guard inspection in/out of the gate · Documents missing" in text
    assert "seal broken" in text
    assert "Border-guard officer" in text
    assert _status_of(changed.text, "border_guard") == "held"
    assert f'hx-get="/officer/trips/{ref}/live?v={poll.group(2)}"' in changed.text
    # the same readers as the page; a session that ended sends the whole page to the login
    client.cookies.clear()
    _login(client, "enterprise")
    assert client.get(f"/officer/trips/{ref}/live").status_code == 403
    client.cookies.clear()
    gone = client.get(f"/officer/trips/{ref}/live", headers={"HX-Request": "true"},
                      follow_redirects=False)
    assert gone.headers["HX-Redirect"].startswith("/login?next=")
