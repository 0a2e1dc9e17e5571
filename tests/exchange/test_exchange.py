"""The daily bulletin exchange: ours is built from live figures and signed; the partner side's
is accepted only well-formed and signed by its registered key, every version is kept, re-sends
change nothing, and its yard counts reach the dispatcher and the public board."""

from __future__ import annotations

import base64
import copy
import csv
import io
from typing import Any

import pypdf
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.domain.exchange import canonical
from borderflow.exchange.signing import SigningKey
from borderflow.store.models import AuditEntry, Bulletin, PartnerYardCount
from tests import factories
from tests.conftest import Peek
from tests.trip.test_rerouting import staged

API = "/api/v1/exchange"
YARD_URL = "/api/v1/gates/huu-nghi/partner-yard"


def in_yard(client: TestClient, auth: Any, plate: str) -> str:
    """An export truck called from the park into the Huu Nghi export yard."""
    ref = staged(client, auth, plate)
    client.post(f"/api/v1/trips/{ref}/call", json={}, headers=auth("regulator"))
    for area in ("gate_area:huu-nghi", "yard:huu-nghi-export"):
        r = client.post(f"/api/v1/trips/{ref}/movements", json={"action": "enter", "area": area},
                        headers=auth("regulator"))
        assert r.status_code == 200, r.text
    return ref


def register(client: TestClient, auth: Any, key: SigningKey, side: str = "CN") -> str:
    r = client.post(f"{API}/keys", headers=auth("admin"), json={
        "side": side, "public_key": key.public_pem, "note": "handed over at the border meeting"})
    assert r.status_code == 201, r.text
    return str(r.json()["key_id"])


def send(client: TestClient, auth: Any, envelope: dict[str, Any], **headers: str) -> Any:
    return client.post(f"{API}/bulletins", json=envelope, headers=auth("liaison", **headers))


def fields(r: Any) -> dict[str, str]:
    return {f["field"]: f["reason"] for f in r.json()["error"]["fields"]}


def test_our_bulletin_states_yards_parks_plans_hours_and_closures_signed(
    client: TestClient, auth: Any
) -> None:
    in_yard(client, auth, "29C-410.01")
    staged(client, auth, "29C-410.02")
    staged(client, auth, "29C-410.03")
    tomorrow = factories.declaration(requested_date=factories.day(1))
    tomorrow["vehicles"][0]["plate"] = "29C-410.04"
    assert client.post("/api/v1/declarations", json=tomorrow,
                       headers=auth("enterprise")).status_code == 201
    client.post("/api/v1/gates/chi-ma/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T20:00:00+07:00",
        "reason": "flooding on the approach road"})

    r = client.get(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert r.status_code == 200, r.text
    envelope = r.json()
    b = envelope["bulletin"]
    assert (b["side"], b["date"], b["planned_date"]) == ("VN", "2026-11-23", "2026-11-24")
    assert b["counted_at"] == "2026-11-23T01:00:00Z"
    yard = next(y for y in b["yards"] if y["code"] == "huu-nghi-export")
    assert yard["vehicles"] == {"export": 1, "import": 0}
    assert yard["gate"] == "huu-nghi"
    assert yard["capacity"] > 0
    park = next(s for s in b["staging_areas"] if s["code"] == "viettel-logistics-park")
    assert park["vehicles"] == {"export": 2, "import": 0}
    planned = next(p for p in b["planned"] if (p["gate"], p["direction"])
                   == ("huu-nghi", "export"))
    assert planned["declared"] == 1
    assert planned["capacity"] > 0
    hours = [h for h in b["hours"] if h["gate"] == "huu-nghi"]
    assert [h["date"] for h in hours] == ["2026-11-23", "2026-11-24"]
    assert hours[0]["open"][0]["from"] == "07:00"
    assert [(c["gate"], c["kind"], c["reason"]) for c in b["closures"]] == [
        ("chi-ma", "closure", "flooding on the approach road")]

    # the partner verifies the signature with our published key, over the canonical form
    key = client.get(f"{API}/public-key").json()
    assert envelope["signature"]["key_id"] == key["key_id"]
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public.verify(base64.b64decode(envelope["signature"]["value"]), canonical(b))

    # the schema is published, and our bulletin matches it
    assert client.get(f"{API}/schema").json()["$id"] == "urn:borderflow:exchange:bulletin:v1"
    past = client.get(f"{API}/bulletins/ours", params={"date": "2026-11-20"},
                      headers=auth("liaison"))
    assert past.status_code == 422
    assert "bulletins?side=VN&date=2026-11-20" in fields(past)["date"]


def test_bulletins_round_trip_to_the_partner_platform_with_the_same_counts(
    client: TestClient, partner: TestClient, auth: Any
) -> None:
    in_yard(client, auth, "29C-411.01")
    in_yard(client, auth, "29C-411.02")
    ours = client.get(f"{API}/bulletins/ours", headers=auth("liaison")).json()

    # the Chinese platform registers our public key, then receives our bulletin
    key = client.get(f"{API}/public-key").json()
    assert partner.post(f"{API}/keys", headers=auth("admin"), json={
        "side": "VN", "public_key": key["public_key"]}).json()["key_id"] == key["key_id"]
    r = send(partner, auth, ours)
    assert r.status_code == 201, r.text
    assert (r.json()["side"], r.json()["version"], r.json()["duplicate"]) == ("VN", 1, False)

    # what it kept is what we signed, and the counts it uses are ours, directions turned
    kept = partner.get(f"{API}/bulletins/{r.json()['id']}", headers=auth("liaison")).json()
    assert kept == ours
    expected: dict[tuple[str, str], int] = {}
    for y in ours["bulletin"]["yards"]:
        for theirs, mine in (("export", "import"), ("import", "export")):
            key_ = (y["gate"], mine)
            expected[key_] = expected.get(key_, 0) + y["vehicles"][theirs]
    got = {(f["gate"], f["direction"]): f["vehicles"] for f in r.json()["fed"] if f["used"]}
    assert got == expected
    assert got[("huu-nghi", "import")] == 2
    view = partner.get(YARD_URL).json()
    assert {c["direction"]: c["vehicles"] for c in view["counts"]} == {"import": 2, "export": 0}
    assert {c["source"] for c in view["counts"]} == {"bulletin"}


def test_a_partner_bulletin_feeds_the_dispatcher_and_the_board(
    client: TestClient, auth: Any, db: Peek, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    r = send(client, auth, cn_key.sign(cn_bulletin))
    assert r.status_code == 201, r.text
    fed = {(f["gate"], f["direction"]): f for f in r.json()["fed"]}
    # their import (trucks entering China) are our exports waiting in their yard
    assert fed[("huu-nghi", "export")]["vehicles"] == 210 + 80
    assert fed[("huu-nghi", "export")]["capacity"] == 600
    assert fed[("huu-nghi", "import")]["vehicles"] == 120 + 30
    assert fed[("chi-ma", "export")]["capacity"] is None

    view = client.get(YARD_URL).json()
    assert view["export_room"] == 600 - 290
    assert {c["direction"]: c["vehicles"] for c in view["counts"]} == {"export": 290,
                                                                       "import": 150}
    html = client.get("/board", params={"lang": "en"}).text
    huu_nghi = html[html.index('id="gate-huu-nghi"'):]
    row = huu_nghi[huu_nghi.index("In the partner side&#39;s yard"):][:200]
    assert "290" in row
    assert "150" in row

    audit = db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("bulletin.%")))
    assert audit == ["bulletin.received"]


def test_a_nearly_full_partner_yard_in_the_bulletin_re_plans_at_once(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    refs = [staged(client, auth, f"29C-412.{i:02d}") for i in range(6)]
    register(client, auth, cn_key)
    for y in cn_bulletin["yards"][:2]:
        y["vehicles"]["import"] = 299  # their yards at Huu Nghi hold 598 of our trucks of 600
    assert send(client, auth, cn_key.sign(cn_bulletin)).status_code == 201
    # the dispatcher ran with the new count: two trucks fit in the partner yard, the others
    # were sent to another gate whose goods and direction fit
    states = [client.get(f"/api/v1/trips/{ref}", headers=auth("regulator")).json()
              for ref in refs]
    at_huu_nghi = [s for s in states if s["gate"] == "huu-nghi"]
    assert len(at_huu_nghi) == 2
    assert all(s["status"] == "called" for s in at_huu_nghi)
    assert {s["gate"] for s in states if s["gate"] != "huu-nghi"} == {"tan-thanh-dedicated"}
    assert client.get(YARD_URL).json()["export_room"] == 0


def test_tampered_unsigned_and_unknown_key_bulletins_are_refused_and_nothing_kept(
    client: TestClient, auth: Any, db: Peek, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    signed = cn_key.sign(cn_bulletin)

    tampered = copy.deepcopy(signed)
    tampered["bulletin"]["yards"][0]["vehicles"]["import"] = 0
    r = send(client, auth, tampered)
    assert r.status_code == 422
    assert "changed after signing" in fields(r)["signature.value"]

    forged = copy.deepcopy(signed)
    forged["signature"]["value"] = base64.b64encode(bytes(64)).decode()
    assert "signature.value" in fields(send(client, auth, forged))

    r = send(client, auth, {"bulletin": cn_bulletin})
    assert r.status_code == 422
    assert r.json()["error"]["message"] == "unsigned bulletin refused"
    assert "not signed" in fields(r)["signature"]

    stranger = SigningKey(Ed25519PrivateKey.generate())
    r = send(client, auth, stranger.sign(cn_bulletin))
    assert r.status_code == 422
    assert "unknown key" in fields(r)["signature.key_id"]

    # a key registered for another side does not sign for this one
    register(client, auth, stranger, side="LA")
    assert "belongs to side LA" in fields(send(client, auth, stranger.sign(cn_bulletin)))[
        "signature.key_id"]

    # a revoked key no longer signs
    key_id = cn_key.key_id
    revoked = client.post(f"{API}/keys/{key_id}/revoke", headers=auth("admin"))
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"]
    assert "revoked" in fields(send(client, auth, signed))["signature.key_id"]

    assert db.scalar(select(func.count()).select_from(Bulletin)) == 0
    assert db.scalar(select(func.count()).select_from(PartnerYardCount)) == 0
    assert db.scalars(select(AuditEntry.action).where(
        AuditEntry.target_type == "exchange_key").order_by(AuditEntry.id)) == [
        "exchange_key.registered", "exchange_key.registered", "exchange_key.revoked"]


def test_malformed_bulletins_are_refused_naming_each_field(
    client: TestClient, auth: Any, db: Peek, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    bad = copy.deepcopy(cn_bulletin)
    bad["yards"][0]["vehicles"]["export"] = -3
    del bad["date"]
    bad["yards"][1]["colour"] = "red"
    bad["planned"][0]["direction"] = "sideways"
    r = send(client, auth, cn_key.sign(bad))
    assert r.status_code == 422
    got = fields(r)
    assert got["bulletin.date"] == "this field is required"
    assert "minimum" in got["bulletin.yards[0].vehicles.export"]
    assert got["bulletin.yards[1]"] == "unexpected field(s): colour"
    assert "bulletin.planned[0].direction" in got

    rules = copy.deepcopy(cn_bulletin)
    rules["date"] = "2026-02-30"
    rules["yards"][1]["code"] = "youyiguan-1"
    rules["hours"][0]["open"][0]["to"] = "07:00"
    rules["timezone"] = "Mars/Olympus"
    got = fields(send(client, auth, cn_key.sign(rules)))
    assert "is not a date" in got["bulletin.date"]
    assert "appears twice" in got["bulletin.yards[1]"]
    assert "not after 'from'" in got["bulletin.hours[0].open[0].to"]
    assert "timezone" in got["bulletin.timezone"]

    future = copy.deepcopy(cn_bulletin)
    future["counted_at"] = future["issued_at"] = "2026-11-23T12:00:00+08:00"
    assert fields(send(client, auth, cn_key.sign(future)))["bulletin.counted_at"] == \
        "is in the future"

    ours = copy.deepcopy(cn_bulletin)
    ours["side"] = "VN"
    assert "our own side" in fields(send(client, auth, cn_key.sign(ours)))["bulletin.side"]

    too_many = copy.deepcopy(cn_bulletin)
    too_many["yards"][0]["vehicles"]["import"] = 5000
    got = fields(send(client, auth, cn_key.sign(too_many)))
    assert "more than three times" in got["bulletin.yards[0].vehicles"]

    not_json = client.post(f"{API}/bulletins", content=b"{not json",
                           headers=auth("liaison", **{"Content-Type": "application/json"}))
    assert not_json.status_code == 422
    assert db.scalar(select(func.count()).select_from(Bulletin)) == 0
    assert db.scalar(select(func.count()).select_from(PartnerYardCount)) == 0


def test_re_sends_change_nothing_and_corrections_are_new_versions(
    client: TestClient, auth: Any, db: Peek, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    signed = cn_key.sign(cn_bulletin)
    first = send(client, auth, signed)
    again = send(client, auth, copy.deepcopy(signed))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True
    assert {k: v for k, v in again.json().items() if k != "duplicate"} == {
        k: v for k, v in first.json().items() if k != "duplicate"}
    assert db.scalar(select(func.count()).select_from(PartnerYardCount)) == 4

    corrected = copy.deepcopy(cn_bulletin)
    corrected["issued_at"] = "2026-11-23T08:58:00+08:00"
    corrected["yards"][0]["vehicles"]["import"] = 250
    second = send(client, auth, cn_key.sign(corrected))
    assert second.status_code == 201
    assert second.json()["version"] == 2

    listed = client.get(f"{API}/bulletins", params={"side": "CN", "date": "2026-11-23"},
                        headers=auth("regulator")).json()
    assert [(b["version"], b["origin"]) for b in listed] == [(2, "received"), (1, "received")]
    first_kept = client.get(f"{API}/bulletins/{first.json()['id']}",
                            headers=auth("regulator")).json()
    assert first_kept == signed  # every version is kept as signed
    export = next(c for c in client.get(YARD_URL).json()["counts"]
                  if c["direction"] == "export")
    assert export["vehicles"] == 250 + 80  # the correction is the count in use

    # an Idempotency-Key replays the first response
    keyed = cn_key.sign(dict(corrected, issued_at="2026-11-23T08:59:00+08:00"))
    one = send(client, auth, keyed, **{"Idempotency-Key": "cn-2026-11-23-c"})
    two = send(client, auth, keyed, **{"Idempotency-Key": "cn-2026-11-23-c"})
    assert one.status_code == two.status_code == 201
    assert two.headers["Idempotent-Replayed"] == "true"
    assert one.json() == two.json()
    assert db.scalar(select(func.count()).select_from(Bulletin)) == 3


def test_an_older_bulletin_arriving_late_does_not_replace_a_later_count(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    register(client, auth, cn_key)
    later = copy.deepcopy(cn_bulletin)
    later["counted_at"] = "2026-11-23T08:55:00+08:00"
    assert send(client, auth, cn_key.sign(later)).status_code == 201
    earlier = copy.deepcopy(cn_bulletin)
    earlier["yards"][0]["vehicles"]["import"] = 1
    r = send(client, auth, cn_key.sign(earlier))
    assert r.status_code == 201
    assert {f["reason"] for f in r.json()["fed"]} == {
        "a later count of this gate is already in use"}
    export = next(c for c in client.get(YARD_URL).json()["counts"]
                  if c["direction"] == "export")
    assert export["vehicles"] == 290


def test_a_bulletin_file_is_uploaded_with_the_same_checks(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    import json

    register(client, auth, cn_key)
    data = json.dumps(cn_key.sign(cn_bulletin), ensure_ascii=False, indent=2).encode()
    r = client.post(f"{API}/bulletins/upload", headers=auth("liaison"),
                    files={"file": ("cn-2026-11-23.json", data, "application/json")})
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "upload"
    again = client.post(f"{API}/bulletins/upload", headers=auth("liaison"),
                        files={"file": ("cn-2026-11-23.json", data, "application/json")})
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    # a second file, sent twice under one Idempotency-Key, is kept once
    other = data.replace(b"08:55:00", b"08:56:00")
    other = json.dumps(cn_key.sign(json.loads(other)["bulletin"])).encode()
    keyed = [client.post(f"{API}/bulletins/upload",
                         headers=auth("liaison", **{"Idempotency-Key": "cn-file-2"}),
                         files={"file": ("cn.json", other, "application/json")})
             for _ in range(2)]
    assert [k.status_code for k in keyed] == [201, 201]
    assert keyed[1].headers["Idempotent-Replayed"] == "true"
    assert keyed[1].json()["version"] == 2
    tampered = data.replace(b'"export": 120', b'"export": 121')
    r = client.post(f"{API}/bulletins/upload", headers=auth("liaison"),
                    files={"file": ("cn.json", tampered, "application/json")})
    assert r.status_code == 422
    assert "signature.value" in fields(r)
    r = client.post(f"{API}/bulletins/upload", headers=auth("liaison"),
                    files={"file": ("cn.json", b"\x00not json", "application/json")})
    assert r.status_code == 422
    assert "not a JSON document" in fields(r)["file"]


def test_publishing_keeps_what_was_sent_in_json_csv_and_a_bilingual_pdf(
    client: TestClient, auth: Any, db: Peek
) -> None:
    staged(client, auth, "29C-413.01")
    client.post("/api/v1/gates/chi-ma/controls", headers=auth("regulator"), json={
        "kind": "closure", "ends_at": "2026-11-23T20:00:00+07:00",
        "reason": "=HYPERLINK(\"http://evil.example\",\"click\")"})
    first = client.post(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert first.status_code == 201, first.text
    same = client.post(f"{API}/bulletins/ours", headers=auth("regulator"))
    assert same.status_code == 200
    assert same.json()["id"] == first.json()["id"]  # nothing changed: the same version
    staged(client, auth, "29C-413.02")
    second = client.post(f"{API}/bulletins/ours", headers=auth("liaison"))
    assert (second.status_code, second.json()["version"]) == (201, 2)
    listed = client.get(f"{API}/bulletins", params={"side": "VN"}, headers=auth("liaison"))
    assert [b["version"] for b in listed.json()] == [2, 1]
    assert db.scalars(select(AuditEntry.actor_name).where(
        AuditEntry.action == "bulletin.published")) == ["liaison", "liaison"]

    url = f"{API}/bulletins/{first.json()['id']}"
    kept = client.get(url, headers=auth("liaison")).json()
    park = next(s for s in kept["bulletin"]["staging_areas"]
                if s["code"] == "viettel-logistics-park")
    assert park["vehicles"]["export"] == 1  # as it was when published

    r = client.get(url, params={"format": "csv"}, headers=auth("liaison"))
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    park_rows = [x for x in rows if x["section"] == "staging" and x["direction"] == "export"
                 and x["code"] == "viettel-logistics-park"]
    assert park_rows[0]["vehicles"] == "1"
    closure = next(x for x in rows if x["section"] == "closure")
    assert closure["note"].startswith("'=HYPERLINK")
    assert rows[0]["section"] == "bulletin"
    assert kept["signature"]["value"] in rows[0]["note"]

    r = client.get(url, params={"format": "pdf"}, headers=auth("liaison"))
    assert r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(r.content)).pages)
    assert "BẢN TIN TRAO ĐỔI HẰNG NGÀY" in text
    assert "每日交换通报" in text
    assert "Hữu Nghị" in text
    assert "友谊" in text


def test_who_may_read_publish_import_and_manage_keys(
    client: TestClient, auth: Any, cn_key: SigningKey, cn_bulletin: dict[str, Any]
) -> None:
    assert client.get(f"{API}/schema").status_code == 200
    assert client.get(f"{API}/public-key").status_code == 200
    assert client.get(f"{API}/bulletins/ours").status_code == 401
    for who in ("enterprise", "driver", "customs", "cashier"):
        assert client.get(f"{API}/bulletins/ours", headers=auth(who)).status_code == 403
        assert client.get(f"{API}/bulletins", headers=auth(who)).status_code == 403
        assert client.post(f"{API}/bulletins/ours", headers=auth(who)).status_code == 403
    for who in ("liaison", "regulator", "admin"):
        assert client.get(f"{API}/bulletins/ours", headers=auth(who)).status_code == 200
    envelope = cn_key.sign(cn_bulletin)
    refused = client.post(f"{API}/bulletins", json=envelope, headers=auth("customs"))
    assert refused.status_code == 403
    # The regulator may receive it; this one is refused only for its key, not yet registered.
    unknown = client.post(f"{API}/bulletins", json=envelope, headers=auth("regulator"))
    assert unknown.status_code == 422, unknown.text
    body = {"side": "CN", "public_key": cn_key.public_pem}
    assert client.post(f"{API}/keys", json=body, headers=auth("liaison")).status_code == 403
    assert client.get(f"{API}/keys", headers=auth("regulator")).status_code == 403
    assert client.post(f"{API}/keys", json=body, headers=auth("admin")).status_code == 201
    dup = client.post(f"{API}/keys", json=body, headers=auth("admin"))
    assert dup.status_code == 409
    own = client.post(f"{API}/keys", json=dict(body, side="VN", key_id="x"),
                      headers=auth("admin"))
    assert "our own side" in fields(own)["side"]
    garbage = client.post(f"{API}/keys", json=dict(body, public_key="A" * 60, key_id="y"),
                          headers=auth("admin"))
    assert "public_key" in fields(garbage)
    assert client.post(f"{API}/bulletins", json=envelope,
                       headers=auth("admin")).status_code == 201
