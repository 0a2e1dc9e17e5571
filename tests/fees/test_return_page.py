"""Where the payment gateway sends the payer back: the result, with links back into the
enterprise portal (the trip paid for, the portal); the return and callback (IPN) URLs follow
the host and port served when no public base URL is set."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from borderflow import config
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.fees.online_endpoints import IPN_PATH, RETURN_PATH
from tests import factories
from tests.fees.conftest import pay, start, trip
from tests.web.test_driver import _login


def _links(page: str) -> list[str]:
    return re.findall(r"<a href='([^']+)'", page)


def test_the_return_page_leads_back_to_the_trip_and_the_portal(
    live: httpx.Client, auth: Any
) -> None:
    ref, inv = trip(live, auth)
    done = pay(live, start(live, auth, inv["number"])["payment_url"])
    back = live.get(done["return_url"])
    assert back.status_code == 200
    assert "Payment received" in back.text
    assert _links(back.text) == [f"/portal/trips/{ref}", "/portal"]
    assert f"View trip {ref}" in back.text
    # the links work for the enterprise that paid, signed in to the portal
    assert _login(live, "enterprise").status_code == 303  # type: ignore[arg-type]
    page = live.get(f"/portal/trips/{ref}")
    assert page.status_code == 200
    assert ref in page.text
    assert live.get("/portal").status_code == 200


def test_after_a_cancelled_payment_the_trip_page_is_offered_to_try_again(
    live: httpx.Client, auth: Any
) -> None:
    ref, inv = trip(live, auth)
    done = pay(live, start(live, auth, inv["number"])["payment_url"], outcome="cancel")
    back = live.get(done["return_url"])
    assert back.status_code == 200
    assert "Payment not completed" in back.text
    assert _links(back.text) == [f"/portal/trips/{ref}", "/portal"]


def test_an_unknown_payment_still_leads_to_the_portal(live: httpx.Client) -> None:
    back = live.get(RETURN_PATH, params={"vnp_TxnRef": "X"})
    assert back.status_code == 400
    assert _links(back.text) == ["/portal"]


def _derived(settings: Settings, **where: Any) -> Settings:
    """The test settings without a public base URL, served at ``where`` (host, port)."""
    values = settings.model_dump(exclude={"public_base_url"})
    return Settings(_env_file=None, **{**values, **where})  # type: ignore[call-arg]


@pytest.mark.parametrize(("host", "name", "base"), [
    ("127.0.0.1", None, "http://127.0.0.1:8123"),
    ("0.0.0.0", "gate-office", "http://gate-office:8123"),  # noqa: S104 - listened on
    ("::", None, "http://127.0.0.1:8123"),
])
def test_the_gateways_return_and_callback_urls_follow_the_host_and_port_served(
    settings: Settings, clock: FixedClock, auth: Any, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path, host: str, name: str | None, base: str
) -> None:
    monkeypatch.delenv("BORDERFLOW_PUBLIC_BASE_URL", raising=False)
    monkeypatch.setattr(config, "machine_name", lambda: name)
    derived = _derived(settings, host=host, port=8123)
    assert derived.public_base_url == base
    app = create_app(derived, clock=clock)
    with TestClient(app) as client:
        d = client.post("/api/v1/declarations", json=factories.declaration(),
                        headers=auth("enterprise"))
        number = client.get(f"/api/v1/trips/{d.json()['reference']}-1/invoice",
                            headers=auth("enterprise")).json()["number"]
        started = client.post(f"/api/v1/invoices/{number}/pay-online", json={},
                              headers=auth("enterprise")).json()
    app.state.ctx.engine.dispose()
    url = urlsplit(started["payment_url"])
    assert f"{url.scheme}://{url.netloc}" == base  # the sandbox's payment page
    assert dict(parse_qsl(url.query))["vnp_ReturnUrl"] == base + RETURN_PATH
    assert app.state.sandbox.ipn_url == base + IPN_PATH
