"""The partner side for exchange tests: a Chinese key and bulletin, and a second platform
with its own database playing the Chinese side."""

from __future__ import annotations

import copy
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.exchange.signing import SigningKey
from borderflow.store import migrate
from tests.conftest import PG_URL, Database, _pg_schema_url, _seed_url

CN_BULLETIN: dict[str, Any] = {
    "schema_version": 1,
    "side": "CN",
    "issuer": "凭祥口岸 / Cửa khẩu Bằng Tường",
    "date": "2026-11-23",
    "timezone": "Asia/Shanghai",
    "issued_at": "2026-11-23T08:55:00+08:00",
    "counted_at": "2026-11-23T08:50:00+08:00",
    "yards": [
        {"gate": "huu-nghi", "code": "youyiguan-1", "name": {"zh": "友谊关一号堆场"},
         "capacity": 300, "vehicles": {"export": 120, "import": 210}},
        {"gate": "huu-nghi", "code": "youyiguan-2", "name": {"zh": "友谊关二号堆场"},
         "capacity": 300, "vehicles": {"export": 30, "import": 80}},
        {"gate": "chi-ma", "code": "aidian", "capacity": None,
         "vehicles": {"export": 12, "import": 5}},
    ],
    "staging_areas": [
        {"code": "pingxiang-park", "name": {"zh": "凭祥综合保税区"}, "capacity": 1000,
         "vehicles": {"export": 400, "import": 150}},
    ],
    "planned_date": "2026-11-24",
    "planned": [{"gate": "huu-nghi", "direction": "export", "declared": 700, "booked": 650,
                 "capacity": 900}],
    "hours": [{"gate": "huu-nghi", "date": "2026-11-24", "kind": "regular",
               "open": [{"from": "08:00", "to": "12:30"}, {"from": "14:00", "to": "19:00"}],
               "note": ""}],
    "closures": [],
}


@pytest.fixture
def cn_key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


@pytest.fixture
def cn_bulletin() -> dict[str, Any]:
    return copy.deepcopy(CN_BULLETIN)


@pytest.fixture
def partner_database(database: Database, tmp_path: Path) -> Iterator[Database]:
    """A second platform database (seeded like the first) for the partner side's platform."""
    if database.backend == "sqlite":
        dst = tmp_path / "partner.db"
        shutil.copyfile(make_url(database.url).database or "", dst)
        yield Database(f"sqlite:///{dst}", "sqlite")
        return
    assert PG_URL
    from borderflow.store.session import normalise_url

    admin = create_engine(normalise_url(PG_URL), isolation_level="AUTOCOMMIT")
    schema = f"bf_partner_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(normalise_url(PG_URL), schema)
    try:
        migrate.upgrade(url)
        _seed_url(url)
        yield Database(url, "postgresql")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def partner(partner_database: Database, settings: Settings, clock: FixedClock,
            tmp_path: Path) -> Iterator[TestClient]:
    """The Chinese side's platform: its own database, side CN, its own signing key."""
    app = create_app(settings.model_copy(update={
        "database_url": partner_database.url, "exchange_side": "CN",
        "var_dir": tmp_path / "partner-var"}), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()
