"""The partner bulletin page: today's bulletins of both sides per gate and direction, the
partner side's counts entered by hand (checked like a bulletin, each bad figure named) or
its signed file uploaded, and ours published."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from borderflow.exchange.signing import SigningKey
from tests.exchange.conftest import CN_BULLETIN
from tests.web.test_driver import _csrf, _login, visible


@pytest.fixture
def cn_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture
def cn_bulletin() -> dict[str, Any]:
    return json.loads(json.dumps(CN_BULLETIN))


def _open(client: TestClient, who: str) -> str:
    client.cookies.clear()
    assert _login(client, who).status_code == 303
    return _csrf(client, "/exchange")


def _cell(html: str, gate: str, direction: str) -> str:
    found = re.search(rf'data-gate="{gate}" data-direction="{direction}">([^<]*)<', html)
    assert found is not None
    return found.group(1)


def test_the_partner_bulletin_entered_by_hand_appears_in_our_directions(
    client: TestClient, auth: Any
) -> None:
    token = _open(client, "liaison")
    page = client.get("/exchange", params={"lang": "vi"}).text
    assert "Hôm nay chưa có bản tin của phía bạn." in visible(page)  # nothing yet today
    r = client.post("/exchange/partner", data={
        "csrf": token, "counted_at": "07:50", "huu-nghi.export": "1.200",
        "huu-nghi.import": "35", "huu-nghi.capacity": "2.000"},
        headers={"accept-language": "vi"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/exchange?done=entered"
    page = client.get("/exchange?done=entered", params={"lang": "vi"}).text
    # their 1,200 leaving China come in to Vietnam: our import, written the Vietnamese way
    assert _cell(page, "huu-nghi", "import") == "1.200"
    assert _cell(page, "huu-nghi", "export") == "35"
    assert _cell(page, "chi-ma", "import") == "—"
    again = client.post("/exchange/partner", data={
        "csrf": token, "counted_at": "07:50", "huu-nghi.export": "1.200",
        "huu-nghi.import": "35", "huu-nghi.capacity": "2.000"}, follow_redirects=False)
    assert again.headers["location"] == "/exchange?done=same"  # recorded once
    kept = client.get("/api/v1/exchange/bulletins", params={"side": "CN"},
                      headers=auth("admin")).json()
    assert len(kept) == 1
    assert kept[0]["source"] == "manual"


def test_bad_counts_are_named_and_what_was_typed_is_kept(client: TestClient) -> None:
    token = _open(client, "liaison")
    r = client.post("/exchange/partner", params={"lang": "en"}, data={
        "csrf": token, "counted_at": "07:50", "huu-nghi.export": "12,5",
        "chi-ma.import": "200000", "coc-nam.export": "10"})
    assert r.status_code == 422
    assert 'id="p-huu-nghi-export" value="12,5"' in r.text
    assert 'aria-describedby="huu-nghi-export-error"' in r.text
    r = client.post("/exchange/partner", params={"lang": "en"}, data={
        "csrf": token, "counted_at": "07:50", "chi-ma.import": "200000"})
    assert r.status_code == 422
    assert 'aria-describedby="chi-ma-import-error"' in r.text  # over the schema's maximum
    empty = client.post("/exchange/partner", params={"lang": "en"},
                        data={"csrf": token, "counted_at": ""})
    assert empty.status_code == 422
    assert 'id="counts-error"' in empty.text


def test_a_signed_file_is_uploaded_and_ours_is_published(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    client.post("/api/v1/exchange/keys", headers=auth("admin"), json={
        "side": "CN", "public_key": cn_key.public_pem})
    token = _open(client, "liaison")
    envelope = cn_key.sign(cn_bulletin)
    r = client.post("/exchange/partner/upload", data={"csrf": token},
                    files={"file": ("cn.json", json.dumps(envelope), "application/json")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    page = client.get("/exchange").text
    assert _cell(page, "huu-nghi", "import") == "150"  # 120 + 30 leaving China
    altered = {**envelope, "bulletin": {**envelope["bulletin"], "issuer": "someone"}}
    refused = client.post("/exchange/partner/upload", params={"lang": "en"},
                          data={"csrf": token}, files={"file": ("cn.json", json.dumps(altered),
                                                                "application/json")})
    assert refused.status_code == 422
    assert "signature.value" in refused.text
    token = _open(client, "regulator")  # reads, enters theirs and publishes ours
    published = client.post("/exchange/publish", data={"csrf": token}, follow_redirects=False)
    assert published.headers["location"] == "/exchange?done=published"
    assert "Phiên bản" in client.get("/exchange", params={"lang": "vi"}).text
    assert 'id="partner-form"' in client.get("/exchange").text
    entered = client.post("/exchange/partner", params={"lang": "en"}, data={"csrf": token})
    assert entered.status_code == 422  # the regulator may enter; an empty form is refused
    client.cookies.clear()
    _login(client, "enterprise")
    assert client.get("/exchange").status_code == 403
