"""Production mode: BORDERFLOW_ENV=production refuses to start with any unsafe setting and
names each one; secrets are SecretStr (never in reprs or logs); the generated key file is
private from its creation; URLs' passwords never reach the logs; /metrics and the API
documentation answer operators only (a bearer token or an allowed network)."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from borderflow import production
from borderflow.app import create_app
from borderflow.cli.main import app as cli
from borderflow.clock import FixedClock
from borderflow.config import Settings, get_settings, write_private
from borderflow.logging import configure_logging
from borderflow.redaction import redact
from tests.conftest import Database

SAFE: dict[str, Any] = {
    "env": "production",
    "payment_gateway": "vnpay",
    "vnpay_hash_secret": SecretStr("merchant-hash-secret-from-vnpay-0123456789"),
    "vnpay_pay_url": "https://pay.vnpay.example/paymentv2/vpcpay.html",
    "vnpay_api_url": "https://pay.vnpay.example/merchant_webapi/api/transaction",
    "secret_key": SecretStr("k" * 48),
    "database_url": "postgresql+psycopg://borderflow:pw@db.example/borderflow",
    "public_base_url": "https://gate.example",
    "redis_url": SecretStr("redis://:pw@127.0.0.1:6379/0"),
    "demo_traffic": False,
}


@pytest.fixture(autouse=True)
def _default_hash_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """These settings are read as a deployment would have them: the suite's own Argon2id
    cost (tests/conftest.py) left out of the environment."""
    for name in ("TIME_COST", "MEMORY_KIB", "PARALLELISM"):
        monkeypatch.delenv(f"BORDERFLOW_PASSWORD_HASH_{name}", raising=False)


def _settings(**changes: Any) -> Settings:
    return Settings(**{**SAFE, **changes})


def test_safe_production_settings_pass() -> None:
    assert production.unsafe_settings(_settings()) == []


def test_demo_settings_are_refused_with_every_unsafe_setting_named(tmp_path: Path) -> None:
    demo = Settings(env="production", var_dir=tmp_path, demo_traffic=True,
                    database_url=f"sqlite:///{tmp_path}/x.db")
    problems = production.unsafe_settings(demo)
    named = " | ".join(problems)
    for setting in ("BORDERFLOW_PAYMENT_GATEWAY=sandbox", "BORDERFLOW_DEMO_TRAFFIC",
                    "BORDERFLOW_SECRET_KEY", "BORDERFLOW_DATABASE_URL is SQLite",
                    "BORDERFLOW_PUBLIC_BASE_URL is not HTTPS", "BORDERFLOW_REDIS_URL"):
        assert setting in named, setting
    assert len(problems) == 6
    with pytest.raises(production.UnsafeForProduction) as refused:
        production.check(demo)
    for problem in problems:
        assert problem in str(refused.value)


@pytest.mark.parametrize(("change", "named"), [
    ({"payment_gateway": "sandbox"}, "BORDERFLOW_PAYMENT_GATEWAY"),
    ({"demo_traffic": True}, "BORDERFLOW_DEMO_TRAFFIC"),
    ({"secret_key": None}, "BORDERFLOW_SECRET_KEY is not set"),
    ({"secret_key": SecretStr("short")}, "BORDERFLOW_SECRET_KEY is shorter"),
    ({"database_url": "sqlite:///var/borderflow.db"}, "BORDERFLOW_DATABASE_URL"),
    ({"public_base_url": "http://gate.example"}, "BORDERFLOW_PUBLIC_BASE_URL"),
    ({"vnpay_pay_url": "http://pay.example/x"}, "BORDERFLOW_VNPAY_PAY_URL"),
    ({"redis_url": None}, "BORDERFLOW_REDIS_URL"),
    ({"password_hash_time_cost": 1}, "BORDERFLOW_PASSWORD_HASH_TIME_COST=1"),
    ({"password_hash_memory_kib": 16384}, "BORDERFLOW_PASSWORD_HASH_MEMORY_KIB=16384"),
])
def test_each_unsafe_setting_alone_is_refused(change: dict[str, Any], named: str) -> None:
    problems = production.unsafe_settings(_settings(**change))
    assert len(problems) == 1
    assert named in problems[0]


def test_the_app_refuses_to_start_in_production_with_the_test_settings(
    settings: Settings
) -> None:
    with pytest.raises(production.UnsafeForProduction) as refused:
        create_app(settings.model_copy(update={"env": "production"}))
    assert "BORDERFLOW_PAYMENT_GATEWAY=sandbox" in str(refused.value)
    assert "BORDERFLOW_DATABASE_URL is SQLite" in str(refused.value) or \
        "postgresql" in settings.database_url


def test_active_demo_accounts_are_named(database: Database) -> None:
    from borderflow.store.session import make_engine

    engine = make_engine(database.url)
    try:
        found = production.demo_accounts_present(engine)
    finally:
        engine.dispose()
    assert {"admin", "regulator", "cashier"} <= set(found)


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("BORDERFLOW_SECRET_KEY", "BORDERFLOW_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BORDERFLOW_ENV", "production")
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BORDERFLOW_DEMO_TRAFFIC", "true")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_serve_in_production_with_demo_settings_exits_naming_each_setting(
    cli_env: Path
) -> None:
    result = CliRunner().invoke(cli, ["serve", "--port", "1"])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    for setting in ("BORDERFLOW_PAYMENT_GATEWAY=sandbox", "BORDERFLOW_DEMO_TRAFFIC",
                    "BORDERFLOW_SECRET_KEY", "BORDERFLOW_DATABASE_URL",
                    "BORDERFLOW_PUBLIC_BASE_URL", "BORDERFLOW_REDIS_URL"):
        assert setting in text, setting
    assert not (cli_env / "var" / "secret.key").exists()  # refused before a key is made


def test_setup_refuses_demo_accounts_in_production(cli_env: Path) -> None:
    result = CliRunner().invoke(cli, ["setup", "--demo"])
    assert result.exit_code == 2
    assert "demo" in result.output


# --- secrets ------------------------------------------------------------------------------------


def test_secrets_are_secret_strings_kept_out_of_reprs() -> None:
    s = _settings(webhook_secret=SecretStr("hook-secret-value"), ops_token=SecretStr("tok-3"))
    shown = repr(s) + str(s.model_dump())
    for value in ("k" * 48, "merchant-hash-secret-from-vnpay", "hook-secret-value", "tok-3",
                  "redis://:pw@"):
        assert value not in shown
    for name in ("secret_key", "vnpay_hash_secret", "webhook_secret", "redis_url", "ops_token"):
        assert isinstance(getattr(s, name), SecretStr), name


def test_the_generated_key_file_is_private_from_its_creation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[tuple[str, int, int]] = []
    real_open = os.open

    def watching_open(path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        created.append((str(path), flags, mode))
        return real_open(path, flags, mode, **kw)

    monkeypatch.setattr(os, "open", watching_open)
    old = os.umask(0)  # even with a permissive umask
    try:
        key = Settings(var_dir=tmp_path / "var").resolved_secret_key()
    finally:
        os.umask(old)
    path = tmp_path / "var" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == key
    assert created == [(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)]
    assert Settings(var_dir=tmp_path / "var").resolved_secret_key() == key  # read, not remade


def test_write_private_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "k"
    write_private(path, b"one")
    with pytest.raises(FileExistsError):
        write_private(path, b"two")
    assert path.read_bytes() == b"one"


@pytest.mark.parametrize("url", [
    "nats://bob:s3cr3t-pw@127.0.0.1:4222", "mqtt://dev:s3cr3t-pw@broker:1883",
    "redis://:s3cr3t-pw@127.0.0.1:6379/0",
    "postgresql+psycopg://borderflow:s3cr3t-pw@db.example:5432/borderflow",
])
def test_urls_passwords_never_reach_the_logs(url: str, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    assert "s3cr3t-pw" not in redact(url)
    assert redact(url).replace(":***@", "") == url.replace(":s3cr3t-pw@", "")
    configure_logging("INFO", "json")
    structlog.get_logger("t").warning("broker unreachable", broker=url,
                                      reason=f"cannot connect to {url}")
    logging.getLogger("uvicorn.error").warning("connecting to %s", url)
    try:
        raise ConnectionError(f"refused: {url}")
    except ConnectionError:
        structlog.get_logger("t").exception("failed")
    err = capsys.readouterr().err
    assert err.count(":***@") >= 4
    assert "s3cr3t-pw" not in err
    first = json.loads(err.splitlines()[0])
    assert first["broker"] == redact(url)


def test_urls_without_password_are_left_alone() -> None:
    for text in ("https://gate.example/board", "mqtt://127.0.0.1:1883", "a:b@c", "nats://u@h"):
        assert redact(text) == text


# --- /metrics and the documentation ---------------------------------------------------------------


@pytest.fixture
def production_app(settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
                   ) -> Iterator[Any]:
    """The app with production's guards on (the start-up check is left out: the tests' own
    database is SQLite and its seed has the demo accounts)."""
    monkeypatch.setattr(production, "check", lambda *a, **k: None)

    def make(**changes: Any) -> TestClient:
        app = create_app(settings.model_copy(update={"env": "production", **changes}),
                         clock=clock)
        made.append(app)
        return TestClient(app, raise_server_exceptions=False)

    made: list[Any] = []
    yield make
    for app in made:
        app.state.ctx.engine.dispose()


OPS = ("/metrics", "/docs", "/redoc", "/openapi.json")


def test_in_production_metrics_and_docs_need_the_token(production_app: Any) -> None:
    with production_app(ops_token=SecretStr("scrape-token-0123456789")) as c:
        for path in OPS:
            refused = c.get(path)
            assert refused.status_code == 404, path
            assert refused.json()["error"]["code"] == "not_found"
            assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 404
            ok = c.get(path, headers={"Authorization": "Bearer scrape-token-0123456789"})
            assert ok.status_code == 200, path
        assert c.get("/healthz").status_code == 200
        assert c.get("/board").status_code == 200


def test_in_production_an_allowed_network_reads_them_without_the_token(
    production_app: Any
) -> None:
    # TestClient's client address is "testclient": not an address, never allowed
    with production_app(ops_networks="127.0.0.1, 10.0.0.0/8") as c:
        assert c.get("/metrics").status_code == 404
    from borderflow.api.protect import OpsGuard

    guard = OpsGuard(Settings(ops_networks="127.0.0.1, 10.0.0.0/8"))
    assert guard.allows({"client": ("10.1.2.3", 5000), "headers": []})
    assert guard.allows({"client": ("127.0.0.1", 5000), "headers": []})
    assert not guard.allows({"client": ("192.0.2.1", 5000), "headers": []})
    assert not guard.allows({"client": None, "headers": []})


def test_outside_production_metrics_and_docs_stay_open(client: TestClient) -> None:
    for path in OPS:
        assert client.get(path).status_code == 200, path


def test_a_bad_ops_network_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="not an address"):
        Settings(ops_networks="10.0.0.0/8, intranet")


def test_the_sandbox_gateway_is_not_mounted_in_production(production_app: Any) -> None:
    with production_app() as c:
        assert getattr(c.app.state, "sandbox", None) is None
        assert c.get("/sandbox/vnpay/paymentv2/vpcpay.html").status_code == 404
