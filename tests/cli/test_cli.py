"""The command line: set-up from nothing, network load/validate/export, user management."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from borderflow.cli.main import app
from borderflow.config import DEFAULT_NETWORK_FILE, DEFAULT_TARIFF_FILE, get_settings

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("BORDERFLOW_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_help_explains_each_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "setup", "db", "network", "user"):
        assert command in result.output
    sub = runner.invoke(app, ["network", "--help"])
    assert "load" in sub.output
    assert "validate" in sub.output
    assert "export" in sub.output


@pytest.mark.slow
def test_setup_migrates_loads_and_prints_demo_accounts_once(env: Path) -> None:
    first = runner.invoke(app, ["setup", "--demo"])
    assert first.exit_code == 0, first.output
    assert "Loaded reference network" in first.output
    assert "Loaded fee schedule lang-son-2025" in first.output
    for username in ("admin", "regulator", "enterprise", "customs", "cashier", "liaison"):
        assert username in first.output
    second = runner.invoke(app, ["setup", "--demo"])
    assert second.exit_code == 0
    assert "already exist" in second.output
    assert "Loaded reference network" not in second.output
    assert "Loaded fee schedule" not in second.output


def test_network_validate_load_and_export_round_trip(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    ok = runner.invoke(app, ["network", "validate", str(DEFAULT_NETWORK_FILE)])
    assert ok.exit_code == 0
    assert "OK" in ok.output
    loaded = runner.invoke(app, ["network", "load", str(DEFAULT_NETWORK_FILE)])
    assert loaded.exit_code == 0, loaded.output
    out = env / "export.yaml"
    exported = runner.invoke(app, ["network", "export", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    original = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    again = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert [g["code"] for g in again["gates"]] == [g["code"] for g in original["gates"]]
    reload = runner.invoke(app, ["network", "validate", str(out)])
    assert reload.exit_code == 0, reload.output


def test_an_invalid_network_file_is_explained(env: Path) -> None:
    bad = env / "bad.yaml"
    doc = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    doc["gates"][0]["calendar"] = "missing"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = runner.invoke(app, ["network", "validate", str(bad)])
    assert result.exit_code == 1
    assert "gates[0].calendar" in result.output


def test_user_add_with_scopes_and_a_client_key(env: Path) -> None:
    assert runner.invoke(app, ["setup"]).exit_code == 0
    r = runner.invoke(app, ["user", "add", "cashier-2", "--role", "cashier", "--gate", "chi-ma",
                            "--password", "a long enough password"])
    assert r.exit_code == 0, r.output
    bad = runner.invoke(app, ["user", "add", "cashier-3", "--role", "cashier",
                              "--password", "a long enough password"])
    assert bad.exit_code == 1
    assert "gate_scope" in bad.output
    client = runner.invoke(app, ["user", "add", "anpr-1", "--role", "border_guard", "--client"])
    assert client.exit_code == 0
    assert "API key (shown once): bfk_" in client.output
    listed = runner.invoke(app, ["user", "list"])
    assert "cashier-2" in listed.output
    assert "anpr-1" in listed.output


def test_a_new_fee_schedule_is_validated_and_loaded_from_a_file(env: Path) -> None:
    assert runner.invoke(app, ["setup"]).exit_code == 0
    doc = yaml.safe_load(DEFAULT_TARIFF_FILE.read_text(encoding="utf-8"))
    doc["version"] = "lang-son-2030"
    doc["effective_from"] = "2030-01-01T00:00:00+07:00"
    doc["rates"]["general"]["under-2t"] = 175000
    new = env / "tariff.yaml"
    new.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    ok = runner.invoke(app, ["tariff", "validate", str(new)])
    assert ok.exit_code == 0, ok.output
    loaded = runner.invoke(app, ["tariff", "load", str(new), "--note", "2030 schedule"])
    assert loaded.exit_code == 0, loaded.output
    assert "lang-son-2030 in force from 2030-01-01T00:00:00+07:00" in loaded.output
    again = runner.invoke(app, ["tariff", "load", str(new)])
    assert again.exit_code != 0  # the version exists already
    del doc["rates"]["general"]["under-2t"]
    new.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    bad = runner.invoke(app, ["tariff", "validate", str(new)])
    assert bad.exit_code == 1
    assert "rates.general: no rate for under-2t" in bad.output


def test_report_history_import_and_rebuild(env: Path) -> None:
    assert runner.invoke(app, ["setup"]).exit_code == 0
    good = env / "daily.csv"
    good.write_text("date,gate,direction,vehicles\n2025-06-01,huu-nghi,export,300\n"
                    "2025-06-01,huu-nghi,import,650\n", encoding="utf-8")
    done = runner.invoke(app, ["report", "import-history", str(good), "--kind", "daily"])
    assert done.exit_code == 0, done.output
    assert "Imported 2 rows (950 vehicles" in done.output
    bad = env / "bad.csv"
    bad.write_text("date,gate,direction,vehicles\n2025-06-01,huu-nghi,export,many\n",
                   encoding="utf-8")
    refused = runner.invoke(app, ["report", "import-history", str(bad), "--kind", "daily"])
    assert refused.exit_code == 1
    assert "line 2: vehicles" in refused.output
    rebuilt = runner.invoke(app, ["report", "rebuild"])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "2 imported history rows kept" in rebuilt.output


def test_a_processor_refuses_a_partition_the_stream_does_not_have(
        env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BORDERFLOW_NATS_PARTITIONS", "2")
    get_settings.cache_clear()
    result = runner.invoke(app, ["telemetry", "process", "--partition", "2"])
    assert result.exit_code == 2
    assert "--partition 2" in result.output
    assert "numbered 0 to 1" in result.output
