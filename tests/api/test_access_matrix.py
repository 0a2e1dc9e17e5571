"""Access control, proved from the permission table.

Every route of the application is enumerated from the running app. Each API route names its
action through ``require(action)``; the matrix test calls it as every role (one account per
role, the camera through an API key) and anonymously, and checks the answer the table
documents: the roles allowed get past the check (neither 401 nor 403), every other signed-in
role gets 403 and the anonymous caller 401 (unless the public may call it). Routes without a
role check (the login, health probes, phones' telemetry, the gateway's callbacks and the web
pages, which check their visitor themselves) are listed below with the answer they owe; a new
route that is in neither list fails the test.

The second half proves scoping: another enterprise or another driver asking for an object by
its identifier is answered 404, exactly as for an identifier that does not exist, so the
answer does not reveal that the object exists.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from borderflow.domain.access import PERMISSIONS, Role
from tests import factories
from tests.telemetry import test_ingest as ingest

# --- the routes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    route: APIRoute

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)


def _actions(dependant: Any) -> list[str]:
    """The actions named by a role check (``require(action)`` or another ``check`` closed
    over its ``action``) anywhere in a route's dependencies."""
    found: list[str] = []
    for sub in dependant.dependencies:
        call = sub.call
        if inspect.isfunction(call) and call.__name__ == "check":
            action = inspect.getclosurevars(call).nonlocals.get("action")
            if isinstance(action, str):
                found.append(action)
        found += _actions(sub)
    return found


SELF_ENDING = frozenset({("POST", "/api/v1/me/sessions/revoke-all")})
"""Endpoints that end the caller's own tokens when allowed: called after all the others."""


def endpoints(app: FastAPI) -> Iterator[Endpoint]:
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            found += [Endpoint(method, str(context.path), route)
                      for method in sorted(context.methods or ())]
    yield from sorted(found, key=lambda e: e.key in SELF_ENDING)


def action_of(endpoint: Endpoint) -> str | None:
    actions = set(_actions(endpoint.route.dependant))
    assert len(actions) <= 1, f"{endpoint.key} names several actions: {actions}"
    return actions.pop() if actions else None


PUBLIC = "public"
"""Anyone may call it: no answer is 401 or 403 for want of a role."""

UNCHECKED: dict[tuple[str, str], str] = {
    # the login itself, health probes and metrics
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # phones send positions without an account: the device identifier names them
    # (telemetry.ingest is open to all)
    ("POST", "/api/v1/telemetry/osmand"): PUBLIC,
    ("GET", "/api/v1/telemetry/osmand"): PUBLIC,
    ("POST", "/api/v1/telemetry/owntracks"): PUBLIC,
    # the short links printed on papers: the declaration's QR code and a receipt's check
    ("GET", "/d/{reference}"): PUBLIC,
    ("GET", "/verify/{token}"): PUBLIC,
    # public web pages
    ("GET", "/"): PUBLIC,
    ("GET", "/board"): PUBLIC,
    ("GET", "/board/panel"): PUBLIC,
    ("GET", "/static/fonts/NotoSansSC-Regular.ttf"): PUBLIC,
    ("GET", "/lang/{code}"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/api/v1/registrations"): PUBLIC,  # an enterprise registers itself
    ("POST", "/api/v1/password-resets"): PUBLIC,
    ("POST", "/api/v1/password-resets/complete"): PUBLIC,
    ("GET", "/register"): PUBLIC,
    ("POST", "/register"): PUBLIC,
    ("GET", "/register/sent"): PUBLIC,
    ("GET", "/password/forgot"): PUBLIC,
    ("POST", "/password/forgot"): PUBLIC,
    ("GET", "/password/reset"): PUBLIC,
    ("POST", "/password/reset"): PUBLIC,
}
"""API routes without a role check, each open to anyone by design."""

SIGNED_IN = frozenset(r.value for r in Role if r is not Role.PUBLIC)

WEB_PAGES: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/logout"): SIGNED_IN,
    ("POST", "/login/code"): SIGNED_IN,  # the second factor, after the password
    ("GET", "/account"): SIGNED_IN,
    ("POST", "/account/second-factor/start"): SIGNED_IN,
    ("POST", "/account/second-factor/confirm"): SIGNED_IN,
    ("POST", "/account/sessions/{session_id}/end"): SIGNED_IN,
    ("POST", "/account/sessions/end-all"): SIGNED_IN,
    ("GET", "/driver"): frozenset({"driver"}),
    ("POST", "/driver/trips/{reference}/acknowledge"): frozenset({"driver"}),
    ("POST", "/driver/device"): frozenset({"driver"}),
    ("GET", "/officer"): frozenset(r.value for r in PERMISSIONS["trip.record"]),
    ("GET", "/officer/trips/{reference}"): frozenset(
        r.value for r in PERMISSIONS["trip.read"] if r is not Role.PUBLIC),
    ("POST", "/officer/trips/{reference}/steps/{step}"): frozenset(
        r.value for r in PERMISSIONS["trip.record"]),
    ("GET", "/console"): frozenset({"regulator"}),
    ("POST", "/console/controls"): frozenset({"regulator"}),
    ("POST", "/console/priority"): frozenset({"regulator"}),
    ("POST", "/console/controls/{control_id}/lift"): frozenset({"regulator"}),
    ("GET", "/portal"): frozenset({"enterprise"}),
    ("POST", "/portal/invoices/{number}/pay"): frozenset({"enterprise"}),
    ("GET", "/portal/trips/{reference}"): frozenset({"enterprise"}),
    ("GET", "/portal/declarations/new"): frozenset({"enterprise"}),
    ("POST", "/portal/declarations/new"): frozenset({"enterprise"}),
    ("GET", "/portal/declarations/{reference}/amend"): frozenset({"enterprise"}),
    ("POST", "/portal/declarations/{reference}/amend"): frozenset({"enterprise"}),
    ("GET", "/reports"): frozenset(r.value for r in PERMISSIONS["statistics.read"]),
    ("GET", "/reports/download/{report}.{fmt}"): frozenset(
        r.value for r in PERMISSIONS["statistics.read"]),
    ("GET", "/sim"): frozenset(r.value for r in PERMISSIONS["sim.run"]),
    ("POST", "/sim"): frozenset(r.value for r in PERMISSIONS["sim.run"]),
    ("GET", "/sim/levers"): frozenset(r.value for r in PERMISSIONS["sim.run"]),
    ("POST", "/sim/levers"): frozenset(r.value for r in PERMISSIONS["sim.run"]),
    ("GET", "/sim/levers/{job_id}"): frozenset(r.value for r in PERMISSIONS["sim.run"]),
    ("POST", "/account/password"): SIGNED_IN,
    ("POST", "/account/phone"): SIGNED_IN,
    ("GET", "/driver/panel"): frozenset({"driver"}),
    ("POST", "/driver/notifications/{number}/read"): frozenset({"driver"}),
    ("GET", "/officer/trips/{reference}/live"): frozenset(
        r.value for r in PERMISSIONS["trip.read"] if r is not Role.PUBLIC),
    ("GET", "/console/trips/{reference}"): frozenset({"regulator"}),
    ("POST", "/console/trips/{reference}/reroute"): frozenset({"regulator"}),
    ("GET", "/console/live/{part}"): frozenset({"regulator"}),
    ("GET", "/console/plate-reads"): frozenset({"regulator"}),
    ("POST", "/console/plate-reads/{read_id}/confirm"): frozenset({"regulator"}),
    ("POST", "/console/plate-reads/{read_id}/dismiss"): frozenset({"regulator"}),
    ("GET", "/portal/bookings"): frozenset({"enterprise"}),
    ("POST", "/portal/bookings/{trip}/book"): frozenset({"enterprise"}),
    ("POST", "/portal/bookings/{trip}/cancel"): frozenset({"enterprise"}),
    ("GET", "/portal/declarations/{reference}/cancel"): frozenset({"enterprise"}),
    ("POST", "/portal/declarations/{reference}/cancel"): frozenset({"enterprise"}),
    ("GET", "/portal/team"): frozenset({"enterprise"}),
    ("POST", "/portal/team"): frozenset({"enterprise"}),
    ("POST", "/portal/team/{account_id}/disable"): frozenset({"enterprise"}),
    ("GET", "/admin"): frozenset({"admin"}),
    ("GET", "/admin/accounts"): frozenset({"admin"}),
    ("POST", "/admin/accounts"): frozenset({"admin"}),
    ("GET", "/admin/accounts/{account_id}"): frozenset({"admin"}),
    ("POST", "/admin/accounts/{account_id}"): frozenset({"admin"}),
    ("POST", "/admin/accounts/{account_id}/active"): frozenset({"admin"}),
    ("POST", "/admin/accounts/{account_id}/second-factor/reset"): frozenset({"admin"}),
    ("GET", "/admin/devices"): frozenset({"admin"}),
    ("POST", "/admin/cameras"): frozenset({"admin"}),
    ("POST", "/admin/devices/bind"): frozenset({"admin"}),
    ("POST", "/admin/devices/unbind"): frozenset({"admin"}),
    ("POST", "/admin/devices/revoke"): frozenset({"admin"}),
    ("GET", "/admin/network"): frozenset({"admin"}),
    ("POST", "/admin/network"): frozenset({"admin"}),
    ("GET", "/admin/fees"): frozenset({"admin"}),
    ("POST", "/admin/fees"): frozenset({"admin"}),
    ("GET", "/admin/registrations"): frozenset({"admin"}),
    ("POST", "/admin/registrations/{registration_id}/confirm"): frozenset({"admin"}),
    ("POST", "/admin/registrations/{registration_id}/refuse"): frozenset({"admin"}),
    ("GET", "/exchange"): frozenset({"partner_liaison", "regulator", "admin"}),
    ("POST", "/exchange/partner"): frozenset({"partner_liaison", "admin"}),
    ("POST", "/exchange/partner/upload"): frozenset({"partner_liaison", "admin"}),
    ("POST", "/exchange/publish"): frozenset({"partner_liaison", "regulator", "admin"}),
    ("GET", "/cashier"): frozenset({"cashier"}),
    ("GET", "/cashier/trips/{reference}"): frozenset({"cashier"}),
    ("POST", "/cashier/trips/{reference}/payments"): frozenset({"cashier"}),
    ("POST", "/cashier/payments/{receipt}/void"): frozenset({"cashier"}),
    ("POST", "/cashier/till/close"): frozenset({"cashier"}),
    ("GET", "/yard"): frozenset(r.value for r in PERMISSIONS["trip.move"]),
    ("POST", "/yard/moves"): frozenset(r.value for r in PERMISSIONS["trip.move"]),
}
"""Web pages for signed-in visitors (session cookie): the roles each is for. Anonymous
visitors are sent to the login page; a form posted without a session never succeeds."""

USERS: dict[Role, str] = {
    Role.ADMIN: "admin", Role.REGULATOR: "regulator", Role.ENTERPRISE: "enterprise",
    Role.DRIVER: "driver", Role.YARD_OPERATOR: "yard", Role.CUSTOMS: "customs",
    Role.BORDER_GUARD: "borderguard", Role.QUARANTINE: "quarantine", Role.HEALTH: "health",
    Role.TRAFFIC_POLICE: "police", Role.CASHIER: "cashier", Role.PARTNER_LIAISON: "liaison",
}
"""The seeded account of each role; the camera is created with an API key."""

MISSING_INT = "999999"
MISSING_TEXT = "no-such-thing"
KNOWN_TEXT = {"gate": "huu-nghi", "step": "customs", "year": "2026", "fmt": "png",
              "indicator": "vehicles_crossed", "section": "gates"}


def concrete(endpoint: Endpoint) -> str:
    """The route's path with every parameter filled in: existing codes where the route
    needs one (a gate, a step), identifiers that match nothing elsewhere."""
    params = {p.name: p.field_info.annotation for p in endpoint.route.dependant.path_params}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        annotation = params.get(name)
        if typing.get_origin(annotation) is typing.Literal:
            return str(typing.get_args(annotation)[0])
        if name in KNOWN_TEXT:
            return KNOWN_TEXT[name]
        return MISSING_INT if annotation is int else MISSING_TEXT

    return re.sub(r"\{([^}]+)\}", fill, endpoint.path)


def call(client: TestClient, endpoint: Endpoint, headers: dict[str, str]) -> int:
    url = concrete(endpoint)
    if endpoint.method in ("POST", "PUT", "PATCH"):
        r = client.request(endpoint.method, url, json={}, headers=headers,
                           follow_redirects=False)
    else:
        r = client.request(endpoint.method, url, headers=headers, follow_redirects=False)
    return r.status_code


@pytest.fixture
def callers(client: TestClient, auth: Any) -> dict[str, dict[str, str]]:
    """Headers of one caller per role, and of the anonymous public."""
    out = {role.value: auth(user) for role, user in USERS.items()}
    admin = auth("admin")
    camera = client.post("/api/v1/accounts", headers=admin, json={
        "username": "camera-hn-1", "kind": "client", "roles": ["camera"]})
    assert camera.status_code == 201, camera.text
    key = client.post(f"/api/v1/accounts/{camera.json()['id']}/api-keys", headers=admin,
                      json={"name": "lane 1"})
    assert key.status_code == 201, key.text
    out[Role.CAMERA.value] = {"X-API-Key": key.json()["key"]}
    out[Role.PUBLIC.value] = {}
    assert set(out) == {r.value for r in Role}, "every role has a caller"
    return out


# --- the tests ------------------------------------------------------------------------------


def test_every_route_is_covered_by_the_matrix(client: TestClient) -> None:
    """A route without ``require(action)`` must be listed as public or as a web page; an
    action must exist in the permission table; listed routes must still exist."""
    app = typing.cast(FastAPI, client.app)
    seen: set[tuple[str, str]] = set()
    uncovered = []
    for endpoint in endpoints(app):
        seen.add(endpoint.key)
        action = action_of(endpoint)
        if action is None and endpoint.key not in UNCHECKED and endpoint.key not in WEB_PAGES:
            uncovered.append(endpoint.key)
        if action is not None:
            assert action in PERMISSIONS
            assert endpoint.key not in UNCHECKED
    assert not uncovered, f"routes without a role check and not listed here: {uncovered}"
    assert set(UNCHECKED) - seen == set(), "listed routes that no longer exist"
    assert set(WEB_PAGES) - seen == set(), "listed pages that no longer exist"
    assert len(seen) > 100


@pytest.mark.slow
def test_every_role_gets_the_documented_answer_from_every_endpoint(
    client: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    app = typing.cast(FastAPI, client.app)
    wrong: list[tuple[str, str, str, int, str]] = []
    calls = 0
    for endpoint in endpoints(app):
        action = action_of(endpoint)
        if action is None:
            continue
        allowed = {r.value for r in PERMISSIONS[action]}
        for role, headers in callers.items():
            status = call(client, endpoint, headers)
            calls += 1
            if role in allowed:
                expected = "not 401/403"
                ok = status not in (401, 403) and status < 500
            elif role == Role.PUBLIC.value:
                expected, ok = "401", status == 401
            else:
                expected, ok = "403", status == 403
            if not ok:
                wrong.append((endpoint.method, endpoint.path, role, status, expected))
    assert not wrong, "\n".join(map(str, wrong))
    assert calls >= 14 * 100


def test_public_routes_and_web_pages_answer_as_documented(
    client: TestClient, callers: dict[str, dict[str, str]]
) -> None:
    """Routes open to anyone never answer 401/403 to a signed-in caller or the public; web
    pages send an anonymous visitor to the login page and never act on a form posted without
    a session."""
    app = typing.cast(FastAPI, client.app)
    wrong: list[tuple[str, str, str, int]] = []
    for endpoint in endpoints(app):
        if endpoint.key in UNCHECKED:
            for role in (Role.PUBLIC.value, Role.ENTERPRISE.value, Role.CAMERA.value):
                status = call(client, endpoint, callers[role])
                if status in (401, 403) or status >= 500:
                    wrong.append((endpoint.method, endpoint.path, role, status))
        elif endpoint.key in WEB_PAGES:
            r = client.request(endpoint.method, concrete(endpoint), follow_redirects=False,
                               **({"data": {}} if endpoint.method == "POST" else {}))
            to_login = r.status_code == 303 and r.headers["location"].startswith("/login")
            refused = endpoint.method == "POST" and r.status_code in (400, 403, 422)
            if not (to_login or refused):
                wrong.append((endpoint.method, endpoint.path, "anonymous page", r.status_code))
    assert not wrong, "\n".join(map(str, wrong))


# --- scoping: another enterprise's or driver's objects are not found -------------------------


OTHER_DRIVER_DOC = "001089099999"


def _declare(client: TestClient, auth: Any, who: str, tax: str, plate: str, driver: str
             ) -> tuple[str, str]:
    body = factories.declaration()
    body["enterprise"]["tax_code"] = tax
    body["vehicles"][0]["plate"] = plate
    body["vehicles"][0]["driver"]["document_number"] = driver
    r = client.post("/api/v1/declarations", json=body, headers=auth(who))
    assert r.status_code == 201, r.text
    return r.json()["id"], f"{r.json()['reference']}-1"


def test_other_enterprises_and_drivers_get_404_for_every_kind_of_object(
    client: TestClient, auth: Any
) -> None:
    """Enterprise A's trip (driven by driver 1) with its invoice, payment and receipt,
    booking and notification, against enterprise B and driver 2, who own a trip of their
    own: every object of A's asked for by B or driver 2 is 404, the same answer as for an
    identifier that does not exist, while its owner gets it."""
    admin = auth("admin")
    r = client.post("/api/v1/accounts", headers=admin, json={
        "username": "driver2", "password": "a long passphrase for driver two",
        "roles": ["driver"], "driver_document": OTHER_DRIVER_DOC})
    assert r.status_code == 201, r.text
    decl, trip = _declare(client, auth, "enterprise", factories.ENTERPRISE_TAX, "29C-510.01",
                          factories.DRIVER_DOC)
    _, own_trip = _declare(client, auth, "enterprise2", factories.OTHER_TAX, "29C-510.02",
                           OTHER_DRIVER_DOC)
    owner, driver = auth("enterprise"), auth("driver")
    bound = client.post("/api/v1/devices/phone-511/bind", headers=driver,
                        json={"driver_document": factories.DRIVER_DOC})
    assert bound.status_code == 200, bound.text
    token = bound.json()["token"]  # the phone sends it as its id
    for seconds, offset in ((-600, 0.0), (-300, 0.01)):
        ingest.osmand(client, token, (ingest.OUTSIDE[0] + offset, ingest.OUTSIDE[1]), seconds)
    bill = client.get(f"/api/v1/trips/{trip}/invoice", headers=owner).json()
    invoice = bill["number"]
    paid = client.post(f"/api/v1/invoices/{invoice}/payments", headers=auth("cashier"),
                       json={"method": "cash", "amount": bill["due"]})
    assert paid.status_code == 201, paid.text
    receipt = paid.json()["receipt_number"]
    booked = client.post(f"/api/v1/trips/{trip}/booking", headers=owner,
                         json={"slot_start": "2026-11-25T08:00:00+07:00"})
    assert booked.status_code == 201, booked.text
    moved = client.post(f"/api/v1/trips/{trip}/movements", headers=auth("yard"),
                        json={"action": "enter", "area": "staging:viettel-logistics-park"})
    called = client.post(f"/api/v1/trips/{trip}/call", headers=auth("regulator"), json={})
    assert called.status_code == 200, (moved.text, called.text)
    notices = client.get("/api/v1/notifications", headers=driver).json()["items"]
    assert notices, "the call forward notifies the driver"
    notice = notices[0]["id"]

    reads = [f"/api/v1/declarations/{decl}", f"/api/v1/declarations/{decl}/qr.png",
             f"/api/v1/trips/{trip}", f"/api/v1/trips/{trip}/timeline",
             f"/api/v1/trips/{trip}/queue", f"/api/v1/trips/{trip}/track",
             f"/api/v1/trips/{trip}/eta", f"/api/v1/trips/{trip}/invoice",
             f"/api/v1/invoices/{invoice}", f"/api/v1/trips/{trip}/booking",
             f"/api/v1/payments/{receipt}/receipt.pdf",
             f"/api/v1/payments/{receipt}/receipt.html"]
    writes = {
        "enterprise2": [("PATCH", f"/api/v1/declarations/{decl}", {"goods": []}),
                        ("POST", f"/api/v1/declarations/{decl}/cancel", {"reason": "not ours"}),
                        ("POST", f"/api/v1/invoices/{invoice}/pay-online", {}),
                        ("POST", f"/api/v1/trips/{trip}/booking",
                         {"slot_start": "2026-11-25T08:30:00+07:00"}),
                        ("PUT", f"/api/v1/trips/{trip}/booking",
                         {"slot_start": "2026-11-25T08:30:00+07:00"}),
                        ("DELETE", f"/api/v1/trips/{trip}/booking", None),
                        ("POST", f"/api/v1/notifications/{notice}/read", None)],
        "driver2": [("POST", f"/api/v1/trips/{trip}/acknowledge", {}),
                    ("POST", f"/api/v1/invoices/{invoice}/pay-online", {}),
                    ("POST", f"/api/v1/trips/{trip}/booking",
                     {"slot_start": "2026-11-25T08:30:00+07:00"}),
                    ("DELETE", f"/api/v1/trips/{trip}/booking", None),
                    ("POST", f"/api/v1/notifications/{notice}/read", None)],
    }
    for path in reads:
        assert client.get(path, headers=owner).status_code == 200, path
    assert client.get(f"/api/v1/trips/{own_trip}", headers=auth("driver2")).status_code == 200
    wrong = []
    for outsider in ("enterprise2", "driver2"):
        headers = auth(outsider)
        for method, path, body in [*(("GET", p, None) for p in reads), *writes[outsider]]:
            r = client.request(method, path, headers=headers, json=body)
            if r.status_code != 404 or r.json()["error"]["code"] != "not_found":
                wrong.append((outsider, method, path, r.status_code))
    assert not wrong, "\n".join(map(str, wrong))
    # nothing changed for the owner
    assert client.get(f"/api/v1/trips/{trip}/booking", headers=owner).json()["slot_start"]
    assert client.get(f"/api/v1/declarations/{decl}", headers=owner).json()["status"] != \
        "cancelled"


def test_statistics_of_another_enterprise_are_its_own(client: TestClient, auth: Any) -> None:
    """Reports have no identifier to hide: an enterprise asking for another's figures gets
    its own, whatever it asks for."""
    _declare(client, auth, "enterprise", factories.ENTERPRISE_TAX, "29C-510.03",
             factories.DRIVER_DOC)
    period = {"from": "2026-11-01", "to": "2026-11-30"}
    theirs = client.get("/api/v1/reports/traffic", headers=auth("enterprise"),
                        params=period).json()
    asked = client.get("/api/v1/reports/traffic", headers=auth("enterprise2"),
                       params={**period, "enterprise": factories.ENTERPRISE_TAX}).json()
    own = client.get("/api/v1/reports/traffic", headers=auth("enterprise2"),
                     params=period).json()
    assert asked == own
    assert asked != theirs


def test_a_driver_cannot_take_over_another_drivers_phone(client: TestClient, auth: Any) -> None:
    """Binding creates a device the platform has not heard of, so a refusal necessarily
    says the device exists; it is refused and the phone stays with its driver."""
    r = client.post("/api/v1/accounts", headers=auth("admin"), json={
        "username": "driver2", "password": "a long passphrase for driver two",
        "roles": ["driver"], "driver_document": OTHER_DRIVER_DOC})
    assert r.status_code == 201, r.text
    bound = client.post("/api/v1/devices/phone-510/bind", headers=auth("driver"),
                        json={"driver_document": factories.DRIVER_DOC})
    assert bound.status_code == 200, bound.text
    r = client.post("/api/v1/devices/phone-510/bind", headers=auth("driver2"),
                    json={"driver_document": OTHER_DRIVER_DOC})
    assert r.status_code == 422
    devices = client.get("/api/v1/devices", headers=auth("regulator")).json()
    assert [d["driver_document"] for d in devices if d["id"] == "phone-510"] == \
        [factories.DRIVER_DOC]
