"""The admin's pages: accounts created and changed from the browser (through the account
service, audited), cameras registered with their key shown once, devices bound and unbound,
and a new network or fee schedule previewed (what changes) before it is published. Nobody
but an admin opens or sends any of them."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
import yaml
from fastapi.testclient import TestClient

from borderflow.config import DEFAULT_NETWORK_FILE
from tests.web.test_accessibility import _unlabelled
from tests.web.test_driver import _csrf, _login, visible

# What these pages show and refuse does not depend on the database: the services they
# call run on PostgreSQL in the API tests, so the PostgreSQL pass leaves this module out.
pytestmark = pytest.mark.any_database

ADMIN_PAGES = ("/admin", "/admin/accounts", "/admin/accounts/1", "/admin/devices",
               "/admin/network", "/admin/fees")
ADMIN_FORMS = ("/admin/accounts", "/admin/accounts/1", "/admin/accounts/1/active",
               "/admin/accounts/1/second-factor/reset", "/admin/cameras",
               "/admin/devices/bind", "/admin/devices/unbind", "/admin/network",
               "/admin/fees")


def _admin(client: TestClient) -> str:
    client.cookies.clear()
    assert _login(client, "admin").status_code == 303
    return _csrf(client, "/admin")


def _account_id(client: TestClient, auth: Any, username: str) -> int:
    found = [a for a in client.get("/api/v1/accounts", headers=auth("admin")).json()
             if a["username"] == username]
    return int(found[0]["id"])


@pytest.mark.parametrize("who", ["regulator", "customs", "enterprise", "liaison"])
def test_nobody_but_an_admin_opens_or_sends_the_admin_pages(client: TestClient, who: str
                                                            ) -> None:
    client.cookies.clear()
    _login(client, who)
    token = _csrf(client, "/board")
    for path in ADMIN_PAGES:
        assert client.get(path).status_code == 403, path
    for path in ADMIN_FORMS:
        r = client.post(path, data={"csrf": token, "username": "x", "roles": "admin",
                                    "active": "0", "device_id": "d"},
                        follow_redirects=False)
        assert r.status_code == 403, path
    assert "/admin" not in re.findall(r'<nav[^>]*class="menu".*?</nav>',
                                      client.get("/board").text, re.S)[0]
    client.cookies.clear()
    assert client.get("/admin/accounts", follow_redirects=False).headers["location"] \
        .startswith("/login?next=/admin/accounts")


def test_an_admin_creates_an_account_then_changes_its_roles_and_scopes(
    client: TestClient, auth: Any
) -> None:
    token = _admin(client)
    bad = client.post("/admin/accounts", params={"lang": "en"}, data={
        "csrf": token, "username": "cashier2", "display_name": "Second cashier",
        "password": "correct horse battery staple", "roles": "cashier"})
    assert bad.status_code == 422  # a cashier works at a gate
    assert 'aria-describedby="gate_scope-error"' in bad.text
    assert "a cashier must be scoped to at least one gate" in visible(bad.text)
    assert 'value="cashier2"' in bad.text  # what was typed is kept
    made = client.post("/admin/accounts", data={
        "csrf": token, "username": "cashier2", "display_name": "Second cashier",
        "password": "correct horse battery staple", "roles": "cashier",
        "gate_scope": "huu-nghi"}, follow_redirects=False)
    assert made.status_code == 303
    page = client.get(made.headers["location"] + "&lang=en").text
    assert "Account created." in page
    account_id = _account_id(client, auth, "cashier2")
    changed = client.post(f"/admin/accounts/{account_id}", data={
        "csrf": token, "display_name": "Second cashier", "roles": ["cashier", "regulator"],
        "gate_scope": ["huu-nghi", "chi-ma"]}, follow_redirects=False)
    assert changed.status_code == 303
    stored = client.get(f"/api/v1/accounts/{account_id}", headers=auth("admin")).json()
    assert sorted(stored["roles"]) == ["cashier", "regulator"]
    assert stored["gate_scope"] == ["huu-nghi", "chi-ma"]
    audit = client.get("/api/v1/audit", params={"target_type": "account",
                                                "target_id": str(account_id)},
                       headers=auth("admin")).json()["items"]
    assert {"account.create", "account.update", "account.roles_change"} <= \
        {a["action"] for a in audit}
    disabled = client.post(f"/admin/accounts/{account_id}/active",
                           data={"csrf": token, "active": "0"}, follow_redirects=False)
    assert disabled.status_code == 303
    assert client.get(f"/api/v1/accounts/{account_id}",
                      headers=auth("admin")).json()["active"] is False
    listed = client.get("/admin/accounts", params={"q": "cashier2", "lang": "en"}).text
    assert "1 accounts" in visible(listed)
    assert "Disabled" in visible(listed)


def test_the_account_list_is_searched_and_paged(client: TestClient, auth: Any) -> None:
    for i in range(27):
        client.post("/api/v1/accounts", headers=auth("admin"), json={
            "username": f"clerk{i:02d}", "display_name": f"Clerk {i}",
            "password": "correct horse battery staple", "roles": ["customs"]})
    _admin(client)
    first = client.get("/admin/accounts", params={"q": "CLERK", "lang": "en"}).text
    assert "27 accounts" in visible(first)
    assert "page 1 of 2" in visible(first)
    assert "clerk24" in first
    assert "clerk25" not in first
    second = client.get("/admin/accounts", params={"q": "clerk", "page": "2"}).text
    assert "clerk25" in second
    assert "clerk00" not in second


def test_a_camera_registered_from_the_page_shows_its_key_once(client: TestClient,
                                                                auth: Any) -> None:
    token = _admin(client)
    empty = client.post("/admin/cameras", params={"lang": "en"}, data={"csrf": token})
    assert empty.status_code == 422
    assert 'aria-describedby="code-error"' in empty.text
    r = client.post("/admin/cameras", params={"lang": "en"}, data={
        "csrf": token, "code": "huu-nghi-in-9", "name": "Entry lane 9", "gate": "huu-nghi",
        "checkpoint": "gate_in", "direction": ""})
    assert r.status_code == 201
    key = re.search(r'<code translate="no" class="secret">([^<]+)</code>', r.text)
    assert key is not None
    read = client.post("/api/v1/plate-reads", headers={"X-API-Key": key.group(1)}, json={
        "camera": "huu-nghi-in-9", "plate": "29C-123.45", "confidence": 0.99,
        "time": "2026-11-23T07:59:00+07:00"})
    assert read.status_code in (200, 201, 202), read.text  # the key works
    again = client.get("/admin/devices", params={"lang": "en"}).text
    assert key.group(1) not in again  # shown once
    assert "Entry lane 9" in again


def test_a_device_is_bound_and_unbound_from_the_page(client: TestClient, auth: Any) -> None:
    token = _admin(client)
    bad = client.post("/admin/devices/bind", data={"csrf": token, "device_id": "phone-1"})
    assert bad.status_code == 422
    assert 'aria-describedby="driver_document-error"' in bad.text
    ok = client.post("/admin/devices/bind", data={"csrf": token, "device_id": "phone-1",
                                                  "driver_document": "001089012345"},
                     follow_redirects=False)
    assert ok.status_code == 201  # the answer shows the device's token, once
    assert 'id="device-token"' in ok.text
    devices = client.get("/api/v1/devices", headers=auth("admin")).json()
    assert devices[0]["driver_document"] == "001089012345"
    assert devices[0]["bound"]
    page = client.get("/admin/devices", params={"lang": "en"}).text
    assert "phone-1" in page
    assert "Never" in page
    assert "stale" in page
    gone = client.post("/admin/devices/unbind", data={"csrf": token, "device_id": "phone-1"},
                       follow_redirects=False)
    assert gone.status_code == 303
    assert client.get("/api/v1/devices", headers=auth("admin")).json()[0]["bound"] is False


def _network(capacity: int) -> str:
    doc = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    doc["gates"][0]["capacity"][0]["vehicles_per_hour"] = capacity
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


def test_a_network_preview_lists_a_changed_capacity_and_publishing_puts_it_in_force(
    client: TestClient, auth: Any
) -> None:
    token = _admin(client)
    shown = client.get("/admin/network").text
    assert "huu-nghi" in shown  # the document in force, to edit
    preview = client.post("/admin/network", params={"lang": "en"}, data={
        "csrf": token, "document": _network(50), "action": "preview"})
    assert preview.status_code == 200
    text = visible(preview.text)
    assert "What publishing changes" in text
    assert "1 entries change" in text
    assert re.search(r"Changed Gate Huu Nghi International Border Gate › Capacity Import "
                     r"Field Before After Vehicles per hour 45 50", text), text[:2000]
    base = re.search(r'name="base" value="(\d+)"', preview.text)
    assert base is not None
    assert client.get("/api/v1/network/gates/huu-nghi", headers=auth("admin")).json()[
        "capacity"][0]["vehicles_per_hour"] == 45  # nothing published by a preview
    done = client.post("/admin/network", data={
        "csrf": token, "document": _network(50), "action": "publish",
        "base": base.group(1), "note": "more lanes"}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == \
        "/admin/network?done=published"
    assert client.get("/api/v1/network/gates/huu-nghi", headers=auth("admin")).json()[
        "capacity"][0]["vehicles_per_hour"] == 50
    again = client.post("/admin/network", data={
        "csrf": token, "document": _network(50), "action": "publish",
        "base": base.group(1)}, follow_redirects=False)
    assert again.headers["location"] == "/admin/network?done=unchanged"  # a retry
    assert len(client.get("/api/v1/network/versions", headers=auth("admin")).json()) == 2
    stale = client.post("/admin/network", params={"lang": "en"}, data={
        "csrf": token, "document": _network(60), "action": "publish",
        "base": base.group(1)})
    assert stale.status_code == 409  # published by someone else since that preview


def test_an_invalid_network_document_names_the_field_in_the_pages_language(
    client: TestClient
) -> None:
    token = _admin(client)
    r = client.post("/admin/network", params={"lang": "vi"}, data={
        "csrf": token, "document": _network(-5), "action": "preview"})
    assert r.status_code == 422
    assert '<code translate="no">gates[0].capacity[0]</code>: Giá trị này không được chấp ' \
        'nhận.' in r.text  # the field, and why in the page's language
    assert "Publish" not in r.text
    assert "Xuất bản" not in visible(r.text)
    broken = client.post("/admin/network", params={"lang": "en"}, data={
        "csrf": token, "document": "gates: [", "action": "preview"})
    assert broken.status_code == 422
    assert "not a YAML or JSON document" in broken.text


def test_a_tariff_preview_shows_old_and_new_amounts_then_publishes(
    client: TestClient, auth: Any
) -> None:
    token = _admin(client)
    page = client.get("/admin/fees", params={"lang": "vi"}).text
    cell = re.search(r'name="rate:general:4t-10t" id="[^"]+" value="([^"]+)"', page)
    assert cell is not None
    assert cell.group(1) == "400.000"
    form = {"csrf": token, "version": "lang-son-2027", "effective_from": "2026-11-24T00:00",
            "rate:general:4t-10t": "450.000", "action": "preview"}
    rates = re.findall(r'name="(rate:[^"]+)" id="[^"]+" value="([^"]*)"', page)
    data = {**dict(rates), **form}
    bad = client.post("/admin/fees", params={"lang": "vi"},
                      data={**data, "rate:general:2t-4t": "abc"})
    assert bad.status_code == 422
    assert 'aria-describedby="rate-general-2t-4t-error"' in bad.text
    r = client.post("/admin/fees", params={"lang": "vi"}, data=data)
    assert r.status_code == 200, r.text[:3000]
    changes = re.search(r'<table class="rate-changes[^"]*".*?</table>', r.text, re.S)
    assert changes is not None
    assert visible(f"<main>{changes.group(0)}</main>").count("₫") == 2
    assert "400.000" in changes.group(0)
    assert "450.000" in changes.group(0)
    assert client.get("/api/v1/tariffs", headers=auth("admin")).json()[-1]["version"] != \
        "lang-son-2027"
    done = client.post("/admin/fees", data={**data, "action": "publish"},
                       follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/fees?done=published"
    again = client.post("/admin/fees", data={**data, "action": "publish"},
                        follow_redirects=False)
    assert again.headers["location"] == "/admin/fees?done=unchanged"
    stored = client.get("/api/v1/tariffs/lang-son-2027", headers=auth("admin")).json()
    assert stored["document"]["rates"]["general"]["4t-10t"] == 450000


def test_every_input_of_the_admin_and_bulletin_pages_has_a_label(client: TestClient) -> None:
    _admin(client)
    for path in (*ADMIN_PAGES, "/admin/accounts?q=a", "/exchange"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert _unlabelled(page.text) == [], path


def test_an_admin_resets_a_lost_second_factor_and_enables_a_disabled_account(
    client: TestClient, auth: Any, clock: Any
) -> None:
    started = client.post("/api/v1/me/second-factor", headers=auth("customs")).json()
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    assert client.post("/api/v1/me/second-factor/confirm", headers=auth("customs"),
                       json={"code": code}).status_code == 200
    account_id = _account_id(client, auth, "customs")
    token = _admin(client)
    page = client.get(f"/admin/accounts/{account_id}", params={"lang": "en"}).text
    assert "Reset the second factor" in page
    reset = client.post(f"/admin/accounts/{account_id}/second-factor/reset",
                        data={"csrf": token}, follow_redirects=False)
    assert reset.headers["location"].endswith("done=reset")
    after = visible(client.get(f"/admin/accounts/{account_id}?done=reset&lang=en").text)
    assert "Second factor reset" in after
    assert "Second factor Not set up" in after
    client.post(f"/admin/accounts/{account_id}/active", data={"csrf": token, "active": "0"})
    again = client.post(f"/admin/accounts/{account_id}/active",
                        data={"csrf": token, "active": "1"}, follow_redirects=False)
    assert again.headers["location"].endswith("done=enabled")
    assert client.get(f"/api/v1/accounts/{account_id}", headers=auth("admin")).json()["active"]
    actions = {a["action"] for a in client.get("/api/v1/audit", params={
        "target_type": "account", "target_id": str(account_id)},
        headers=auth("admin")).json()["items"]}
    assert {"mfa.reset", "account.disable"} <= actions
    mine = _account_id(client, auth, "admin")
    refused = client.post(f"/admin/accounts/{mine}/active", params={"lang": "en"},
                          data={"csrf": token, "active": "0"})
    assert refused.status_code == 422
    assert "you cannot disable your own account" in visible(refused.text)
