"""``borderflow serve``: unless BORDERFLOW_PUBLIC_BASE_URL is set, links, QR codes and payment
URLs follow the host and port served, in every worker process, and the URL used is logged; the
scenario lab finds its packaged scenario files whatever the working directory."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import uvicorn
from fastapi.testclient import TestClient
from prometheus_client import values
from structlog.testing import capture_logs
from typer.testing import CliRunner

from borderflow import config
from borderflow.app import create_app
from borderflow.cli import main
from borderflow.config import DEFAULT_SCENARIOS_DIR, Settings, base_url_for, get_settings
from borderflow.ops import multiprocess
from tests.conftest import Database
from tests.web.test_driver import _login

runner = CliRunner()
VAR = "BORDERFLOW_PUBLIC_BASE_URL"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what serve is asked to listen on


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """``borderflow serve`` run from an empty folder without BORDERFLOW_ variables; uvicorn is
    replaced by a recorder of what it would be given (with the environment and the settings a
    worker would see). The environment is restored afterwards."""
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in [n for n in os.environ if n.startswith("BORDERFLOW_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv(VAR, "restored afterwards")
    monkeypatch.delenv(VAR)  # recorded as unset: what serve sets is undone
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    # serve --workers N puts this process in Prometheus multi-process mode: undone afterwards,
    # or the metrics later tests create would write to a removed folder
    monkeypatch.setenv(multiprocess.VARIABLE, "restored afterwards")
    monkeypatch.delenv(multiprocess.VARIABLE)
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setenv("BORDERFLOW_SECRET_KEY", "test-secret-key-that-is-long-enough-for-hs256")
    before = structlog.get_config()
    # logs are captured (whatever level an earlier test configured), not printed
    monkeypatch.setattr(main, "configure_logging", lambda *_: structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG)))
    calls: list[dict[str, Any]] = []

    def run(target: str, **kwargs: Any) -> None:
        calls.append({"target": target, **kwargs, "environ": dict(os.environ),
                      "settings": get_settings()})

    monkeypatch.setattr(uvicorn, "run", run)
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()
    structlog.configure(**before)


def _invoke(*args: str) -> list[dict[str, Any]]:
    with capture_logs() as logs:
        result = runner.invoke(main.app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return [e for e in logs if e["event"] == "public base URL"]


def test_serving_on_every_interface_links_to_the_machines_name_in_every_worker(
    serve: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(config, "machine_name", lambda: "gate-office")
    [logged] = _invoke("--host", EVERY_INTERFACE, "--port", "8080", "--workers", "2")
    [call] = serve
    assert (call["host"], call["port"], call["workers"]) == (EVERY_INTERFACE, 8080, 2)
    settings: Settings = call["settings"]
    assert settings.public_base_url == "http://gate-office:8080"
    pay_url, _api = settings.gateway_urls()  # the sandbox gateway's page, then its IPN
    assert pay_url.startswith("http://gate-office:8080/sandbox/vnpay/")
    # a worker process started now reads the same URL from its environment
    worker = subprocess.run(
        [sys.executable, "-c",
         "from borderflow.config import Settings; print(Settings().public_base_url)"],
        env=call["environ"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert worker.stdout.strip() == "http://gate-office:8080"
    assert logged["log_level"] == "info"
    assert logged["url"] == "http://gate-office:8080"
    assert "every interface, 0.0.0.0:8080" in logged["derived_from"]


def test_every_interface_without_a_usable_machine_name_falls_back_to_loopback_and_warns(
    serve: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config, "machine_name", lambda: None)
    [logged] = _invoke("--host", "::", "--port", "8443")
    assert serve[0]["settings"].public_base_url == "http://127.0.0.1:8443"
    assert serve[0]["environ"][VAR] == "http://127.0.0.1:8443"
    assert logged["log_level"] == "warning"
    assert "127.0.0.1" in logged["note"]
    assert VAR in logged["note"]


def test_a_given_host_and_port_are_the_links_base(
    serve: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    [logged] = _invoke("--host", "127.0.0.1", "--port", "8081")
    assert serve[0]["settings"].public_base_url == "http://127.0.0.1:8081"
    assert (logged["log_level"], logged["url"]) == ("info", "http://127.0.0.1:8081")
    # without options: the settings' own host and port
    serve.clear()
    monkeypatch.delenv(VAR)
    monkeypatch.setenv("BORDERFLOW_PORT", "9001")
    get_settings.cache_clear()
    _invoke()
    assert (serve[0]["host"], serve[0]["port"]) == ("127.0.0.1", 9001)
    assert serve[0]["settings"].public_base_url == "http://127.0.0.1:9001"


def test_a_public_base_url_that_is_set_always_wins(
    serve: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(VAR, "https://gate.example")
    [logged] = _invoke("--host", EVERY_INTERFACE, "--port", "8080")
    assert serve[0]["settings"].public_base_url == "https://gate.example"
    assert serve[0]["environ"][VAR] == "https://gate.example"
    assert (logged["url"], logged["set_by"]) == ("https://gate.example", VAR)


def test_a_public_base_url_from_the_env_file_wins_too(
    serve: list[dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(f"{VAR}=https://border.example/gate\n", encoding="utf-8")
    [logged] = _invoke("--port", "8080")
    assert serve[0]["settings"].public_base_url == "https://border.example/gate"
    assert VAR not in serve[0]["environ"]  # left to the .env file, which workers read too
    assert logged["set_by"] == VAR


def test_settings_derive_the_base_url_from_host_and_port_only_when_it_is_not_given(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(VAR, raising=False)
    derived = Settings(_env_file=None, host="gate.lan", port=9000)  # type: ignore[call-arg]
    assert derived.public_base_url == "http://gate.lan:9000"
    assert not derived.public_base_url_is_set
    given = Settings(_env_file=None, port=9000,  # type: ignore[call-arg]
                     public_base_url="https://gate.example")
    assert (given.public_base_url, given.public_base_url_is_set) == ("https://gate.example",
                                                                      True)
    blank = Settings(_env_file=None, port=9000, public_base_url=" ")  # type: ignore[call-arg]
    assert blank.public_base_url == "http://127.0.0.1:9000"
    assert base_url_for("::1", 8000) == "http://[::1]:8000"


def test_a_machine_name_naming_only_loopback_is_not_offered(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(config.socket, "gethostname", lambda: "localhost")
    assert config.machine_name() is None

    def unknown(*_: Any, **__: Any) -> Any:
        raise socket.gaierror("Name or service not known")

    monkeypatch.setattr(config.socket, "gethostname", lambda: "gate-office")
    monkeypatch.setattr(config.socket, "getaddrinfo", unknown)
    assert config.machine_name() is None
    # a name resolving to an address that is not this machine's (TEST-NET-1) is not offered
    monkeypatch.setattr(config.socket, "getaddrinfo", lambda *_, **__: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 0))])
    assert config.machine_name() is None
    assert base_url_for(EVERY_INTERFACE, 8000) == "http://127.0.0.1:8000"


def test_served_from_another_folder_the_lab_lists_the_packaged_scenarios(
    serve: list[dict[str, Any]], database: Database, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", database.url)
    for name, value in (("LOG_LEVEL", "WARNING"), ("DISPATCH_INTERVAL_SECONDS", "0"),
                        ("NOTIFY_INTERVAL_SECONDS", "0"), ("SITUATION_REPORT_TIME", ""),
                        ("TELEMETRY_BUS", "inline")):
        monkeypatch.setenv(f"BORDERFLOW_{name}", value)
    _invoke("--port", "8080")
    settings: Settings = serve[0]["settings"]
    assert Path.cwd() == tmp_path
    assert settings.scenarios_dir == DEFAULT_SCENARIOS_DIR
    assert settings.scenarios_dir.is_absolute()
    app = create_app(settings)  # what each worker builds
    with TestClient(app) as client:
        assert _login(client, "regulator").status_code == 303
        page = client.get("/sim", params={"lang": "en"}).text
    app.state.ctx.engine.dispose()
    shipped = sorted(p.name for p in DEFAULT_SCENARIOS_DIR.glob("*.yaml"))
    assert len(shipped) >= 10
    for name in shipped:
        assert f'value="{name}"' in page
    assert "Lang Son baseline" in page
