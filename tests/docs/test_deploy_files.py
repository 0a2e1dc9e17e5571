"""The deployment kept in the repository (deploy/: systemd units, the environment file, the
compose file, HAProxy) describes the topology of docs/deploy.md with commands and settings
that exist: a renamed command, option or setting breaks this test, not a night at the gate."""

from __future__ import annotations

import configparser
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from borderflow.app import create_app
from borderflow.cli.main import app as cli_app
from borderflow.config import Settings
from borderflow.ops.endpoints import READY_TIMEOUT_SECONDS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
VENV_BIN = "/opt/borderflow/.venv/bin/"


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(path.read_text())
    return parser


def _check_command(argv: list[str]) -> str:
    """Resolve ``borderflow ...`` through the CLI's own command tree; every option must be one
    the command has. Returns the command's path, e.g. ``telemetry process``."""
    assert argv[0] in ("borderflow", f"{VENV_BIN}borderflow"), argv
    command: Any = typer.main.get_command(cli_app)
    path, args = [], argv[1:]
    while hasattr(command, "commands") and args and not args[0].startswith("-"):
        name = args.pop(0)
        assert name in command.commands, f"{' '.join(argv)}: no command {name!r}"
        command = command.commands[name]
        path.append(name)
    known = {o for p in command.params for o in getattr(p, "opts", [])}
    for arg in args:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known, f"{' '.join(argv)}: no option {arg}"
    return " ".join(path)


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / "borderflow.env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_setting_of_the_environment_file_exists_and_takes_its_value() -> None:
    env = _env_example()
    fields = {f"BORDERFLOW_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"unknown settings: {sorted(set(env) - fields)}"
    values = {name.removeprefix("BORDERFLOW_").lower(): value for name, value in env.items()}
    settings = Settings(_env_file=None, **values)  # type: ignore[arg-type]  # the values parse
    assert settings.production
    assert settings.background == "none"  # the API processes serve HTTP only
    assert settings.telemetry_bus == "nats"


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_every_systemd_unit_runs_a_real_command_as_an_unprivileged_user(unit: Path) -> None:
    parsed = _unit(unit)
    service = parsed["Service"]
    assert service["User"] == "borderflow"
    assert service["EnvironmentFile"] == "/etc/borderflow/borderflow.env"
    argv = shlex.split(service["ExecStart"].replace("%i", "1"))
    if argv[0].endswith(".sh"):  # the backup
        assert (DEPLOY / "backup" / Path(argv[0]).name).exists()
        return
    _check_command(argv)
    assert service["Restart"] == "always"
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


def test_the_units_make_the_topology_of_the_deployment_document() -> None:
    commands = {u.name: _check_command(shlex.split(_unit(u)["Service"]["ExecStart"]))
                for u in UNITS if "backup" not in u.name}
    assert commands == {"borderflow-api@.service": "serve",
                        "borderflow-worker@.service": "worker",
                        "borderflow-telemetry@.service": "telemetry process"}
    api = _unit(DEPLOY / "systemd" / "borderflow-api@.service")["Service"]
    api_text = (DEPLOY / "systemd" / "borderflow-api@.service").read_text()
    assert "\nEnvironment=BORDERFLOW_BACKGROUND=none\n" in api_text  # (one of several lines)
    assert "--port %i" in api["ExecStart"]  # one unit instance per port behind HAProxy
    processor = _unit(DEPLOY / "systemd" / "borderflow-telemetry@.service")["Service"]
    assert "--partition %i" in processor["ExecStart"]  # one instance per partition
    for unit in UNITS:  # one metrics directory per machine, shared by every process
        if "backup" not in unit.name:
            text = unit.read_text()
            assert "\nEnvironment=BORDERFLOW_METRICS_DIR=/run/borderflow/metrics\n" in text
            assert "\nRuntimeDirectoryPreserve=yes\n" in text  # one unit's stop keeps it
    timer = _unit(DEPLOY / "systemd" / "borderflow-backup.timer")
    assert timer["Timer"]["OnCalendar"]


def test_haproxy_sends_to_the_api_units_and_checks_their_readiness() -> None:
    config = (DEPLOY / "haproxy" / "haproxy.cfg").read_text()
    servers = re.findall(r"^\s+server \S+ 127\.0\.0\.1:(\d+) check$", config, re.M)
    assert servers == ["8001", "8002", "8003"]  # borderflow-api@8001, @8002, and the board's
    # the public screens' refreshes go to their own process, the others stand in
    board = config[config.index("\nbackend board\n"):]
    assert re.findall(r"^\s+server \S+ 127\.0\.0\.1:(\d+) check( backup)?$", board, re.M) == [
        ("8003", ""), ("8001", " backup"), ("8002", " backup")]
    assert "    use_backend board if { path /board/panel } !{ req.cook(bf_session) -m found }\n" \
        in config
    check = re.search(r"option httpchk GET (\S+)", config)
    assert check
    api = create_app(Settings(database_url="sqlite://", _env_file=None))
    assert check.group(1) in api.openapi()["paths"]
    assert "option forwardfor" in config  # rate limits count the client, not HAProxy
    assert "retry-on conn-failure\n" in config  # never a second try of a write it sent
    # a busy process is given time to answer its check: the check's own wait for the
    # database (after which it answers 503 itself) and as long again for the process's queue
    # at a peak, so "slow" does not read as "down" (docs/benchmarks.md saw checks take 9 s)
    waits = re.search(r"^\s+timeout check (\d+)s$", config, re.M)
    assert waits
    assert int(waits.group(1)) > 2 * READY_TIMEOUT_SECONDS
    # it keeps the public board's panel, for screens without a session, and nothing else
    # (an API answer kept would go to another caller; the topology test sees it work)
    assert re.search(r"^\s+http-request set-var\(txn\.board\) bool\(true\) "
                     r"if \{ path /board/panel \} !\{ req\.cook\(bf_session\) -m found \}$",
                     config, re.M)
    kept = re.findall(r"^\s+http-(?:request cache-use|response cache-store) .*$", config, re.M)
    assert len(kept) == 2
    assert all(" if { var(txn.board) -m bool }" in line for line in kept)
    assert kept[1].endswith("!{ res.hdr(set-cookie) -m found }")
    compose = (DEPLOY / "haproxy" / "compose.cfg").read_text()
    same = [line for line in config.splitlines() if " server " not in line and "log" not in line
            and not line.startswith("#")]
    assert same == [line for line in compose.splitlines() if " server " not in line
                    and "log" not in line and not line.startswith("#")]


def test_the_compose_file_has_the_same_processes_as_the_units() -> None:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "nats", "mosquitto", "redis", "haproxy"} <= set(services)
    roles: dict[str, list[str]] = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command and command[0] == "borderflow":
            roles.setdefault(_check_command(command), []).append(name)
    assert roles == {"setup": ["migrate"], "serve": ["api1", "api2", "board"],
                     "worker": ["worker1", "worker2"],
                     "telemetry process": ["telemetry0", "telemetry1"]}
    partitions = sorted(services[n]["command"][-1] for n in roles["telemetry process"])
    count = int(_env_example()["BORDERFLOW_NATS_PARTITIONS"])
    assert partitions == [str(p) for p in range(count)]  # every partition has its processor
    for name in ("api1", "worker1", "telemetry0"):
        assert services[name]["env_file"] == "borderflow.env"
    assert "--require-hashes" in (DEPLOY / "Containerfile").read_text()
