"""The bulletin's canonical form and rules (pure), the signed example in docs/exchange.md, and
the ``borderflow exchange`` commands."""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.config import get_settings
from borderflow.domain.exchange import canonical, content_sha256, partner_counts
from borderflow.errors import ValidationFailed
from borderflow.exchange import schema
from borderflow.exchange.render import defused
from borderflow.exchange.signing import SigningKey, parse_public_key, verifies
from tests.exchange.conftest import CN_BULLETIN

DOC = Path(__file__).resolve().parents[2] / "docs" / "exchange.md"
runner = CliRunner()


def test_the_canonical_form_ignores_key_order_and_whitespace_and_keeps_unicode() -> None:
    a = {"side": "CN", "issuer": "凭祥", "yards": [{"b": 1, "a": None}]}
    b = json.loads(json.dumps({"yards": [{"a": None, "b": 1}], "issuer": "凭祥", "side": "CN"},
                              indent=4))
    assert canonical(a) == canonical(b)
    assert canonical(a) == '{"issuer":"凭祥","side":"CN","yards":[{"a":null,"b":1}]}'.encode()
    assert content_sha256(a) == content_sha256(b)


def test_partner_yards_sum_per_gate_with_directions_turned_into_ours() -> None:
    counts = {(c.gate, c.direction): c for c in partner_counts(CN_BULLETIN)}
    # their imports are our exports waiting in their yard
    assert (counts[("huu-nghi", "export")].vehicles, counts[("huu-nghi", "export")].capacity) \
        == (290, 600)
    assert counts[("huu-nghi", "import")].vehicles == 150
    assert counts[("chi-ma", "import")].capacity is None  # a yard without a known capacity
    assert counts[("huu-nghi", "export")].yards == [0, 1]


def test_signatures_verify_only_the_signed_content_and_key() -> None:
    key = SigningKey(Ed25519PrivateKey.generate())
    envelope = key.sign(copy.deepcopy(CN_BULLETIN))
    value = envelope["signature"]["value"]
    assert verifies(key.public, envelope["bulletin"], value)
    reordered = json.loads(json.dumps(envelope["bulletin"], sort_keys=False, indent=1))
    assert verifies(key.public, reordered, value)
    changed = copy.deepcopy(envelope["bulletin"])
    changed["issuer"] += " "
    assert not verifies(key.public, changed, value)
    other = SigningKey(Ed25519PrivateKey.generate())
    assert not verifies(other.public, envelope["bulletin"], value)
    assert not verifies(key.public, envelope["bulletin"], "not base64!")
    assert parse_public_key(key.public_pem) == key.public
    assert parse_public_key(base64.b64encode(key.public).decode()) == key.public
    with pytest.raises(ValidationFailed):
        parse_public_key(base64.b64encode(b"short").decode())


def test_spreadsheet_formulas_are_defused() -> None:
    for cell in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert defused(cell) == "'" + cell
    assert defused("Hữu Nghị") == "Hữu Nghị"
    assert defused(None) == ""
    assert defused(12) == "12"


def _documented_example() -> tuple[dict[str, Any], bytes]:
    text = DOC.read_text(encoding="utf-8")
    block = text[text.index("<!-- example-bulletin"):]
    example = json.loads(re.search(r"```json\n(.*?)\n```", block, re.S).group(1))  # type: ignore[union-attr]
    public = re.search(r"base64: ([A-Za-z0-9+/=]+)", text).group(1)  # type: ignore[union-attr]
    return example, base64.b64decode(public)


def test_the_documented_example_matches_the_schema_and_its_signature() -> None:
    example, public = _documented_example()
    assert schema.validate(example) is example
    assert verifies(public, example["bulletin"], example["signature"]["value"])


def test_the_documentation_describes_every_field_of_the_schema() -> None:
    text = DOC.read_text(encoding="utf-8")
    bulletin = schema.schema()["$defs"]["bulletin"]["properties"]
    for name in bulletin:
        assert f"`{name}" in text, name


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_keys_and_a_bulletin_file_from_the_command_line(env: Path) -> None:
    setup = runner.invoke(app, ["setup"])
    assert setup.exit_code == 0, setup.output
    assert "Created the bulletin signing key" in setup.output
    key_file = env / "var" / "exchange-ed25519.pem"
    pem = key_file.read_bytes()
    again = runner.invoke(app, ["exchange", "keygen"])
    assert "Kept the existing key" in again.output
    assert key_file.read_bytes() == pem  # never overwritten
    ours = runner.invoke(app, ["exchange", "public-key"])
    assert re.search(r"key_id: bf-[0-9a-f]{16}", ours.output)
    assert "BEGIN PUBLIC KEY" in ours.output

    published = runner.invoke(app, ["exchange", "publish", "-o", str(env / "vn.json")])
    assert published.exit_code == 0, published.output
    assert "Published version 1" in published.output
    sent = json.loads((env / "vn.json").read_text(encoding="utf-8"))
    assert schema.validate(sent)["bulletin"]["side"] == "VN"
    pdf = runner.invoke(app, ["exchange", "publish", "-o", str(env / "vn.pdf"), "--format",
                              "pdf"])
    assert "Unchanged since version 1" in pdf.output
    assert (env / "vn.pdf").read_bytes().startswith(b"%PDF")

    partner = SigningKey(Ed25519PrivateKey.generate())
    (env / "cn.pem").write_text(partner.public_pem)
    added = runner.invoke(app, ["exchange", "add-key", str(env / "cn.pem"), "--side", "CN",
                                "--key-id", "cn-2026-1", "--note", "border meeting"])
    assert added.exit_code == 0, added.output
    assert "cn-2026-1" in runner.invoke(app, ["exchange", "keys"]).output

    now = datetime.now(UTC)
    body = copy.deepcopy(CN_BULLETIN)
    body["date"] = (now + timedelta(hours=8)).date().isoformat()
    body["planned_date"] = (now + timedelta(hours=8, days=1)).date().isoformat()
    body["issued_at"] = body["counted_at"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    signed = SigningKey(partner.private).sign(body)
    signed["signature"]["key_id"] = "cn-2026-1"
    (env / "bulletin.json").write_text(json.dumps(signed, ensure_ascii=False))
    got = runner.invoke(app, ["exchange", "import", str(env / "bulletin.json")])
    assert got.exit_code == 0, got.output
    assert "version 1" in got.output
    assert "huu-nghi export: 290 vehicles (used)" in got.output
    twice = runner.invoke(app, ["exchange", "import", str(env / "bulletin.json")])
    assert "Already had" in twice.output

    signed["bulletin"]["yards"][0]["vehicles"]["export"] += 1
    (env / "tampered.json").write_text(json.dumps(signed))
    refused = runner.invoke(app, ["exchange", "import", str(env / "tampered.json")])
    assert refused.exit_code == 1
    assert "signature.value" in refused.output
