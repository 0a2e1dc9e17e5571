"""The officer's checkpoint screen: find a trip by plate or scanned reference, see what is
pending for the role, record a hold and a release and a pass with the same rules as the API,
and see the timeline; other roles stay out."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.trip.test_rerouting import staged
from tests.web.test_driver import _csrf, _login


def _in_gate_area(client: TestClient, auth: Any, plate: str) -> str:
    ref = staged(client, auth, plate)
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    r = client.post(f"/api/v1/trips/{ref}/movements",
                    json={"action": "enter", "area": "gate_area:huu-nghi"},
                    headers=auth("borderguard"))
    assert r.status_code == 200, r.text
    return ref


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
    no_reason = client.post(url, data={"csrf": token, "outcome": "hold"})
    assert no_reason.status_code == 422
    assert "reason_code" in no_reason.text
    held = client.post(url, data={"csrf": token, "outcome": "hold", "reason_code":
                                  "documents-missing", "note": "no CMR"},
                       follow_redirects=False)
    assert held.status_code == 303
    page = client.get(f"/officer/trips/{ref}", params={"lang": "en"}).text
    assert 'id="held-border_guard"' in page
    assert re.search(r'data-step="border_guard">held<', page)
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
    assert "step.held" in client.get(f"/officer/trips/{ref}").text  # the timeline shows it
    assert client.post(url, data={"outcome": "pass"}).status_code == 403  # no CSRF token


def test_drivers_and_the_public_cannot_use_the_checkpoint_screen(client: TestClient) -> None:
    assert client.get("/officer", follow_redirects=False).status_code == 303
    _login(client, "driver")
    refused = client.get("/officer")
    assert refused.status_code == 403
    assert "Trang này dành cho cán bộ kiểm tra." in refused.text


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
