"""The production topology of docs/deploy.md on one machine, each part a real process: two API
processes (`borderflow serve`, HTTP only) behind HAProxy configured from
deploy/haproxy/haproxy.cfg, two workers (`borderflow worker`) and two telemetry processors
(`borderflow telemetry process --partition 0|1`), on a PostgreSQL database of their own and a
NATS JetStream stream of their own (the servers of tests/services.py).

Used by the topology test (tests/robustness/test_topology.py) and the peak-day load benchmark
(bench/load.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from borderflow.store.session import normalise_url
from tests.services import SERVICES, free_port, program

ROOT = Path(__file__).resolve().parents[1]
BORDERFLOW = str(Path(sys.executable).with_name("borderflow"))
SECRET_KEY = "topology-test-secret-key-long-enough-for-hs256"


def service_url(name: str) -> str:
    """The URL of a test service (tests/services.py): its variable when set, else the local
    server on its standard port."""
    service = next(s for s in SERVICES if s.name == name)
    return os.environ.get(service.variable) or service.default


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[dict[str, Any]]:
        """The JSON lines of its log."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


def haproxy_config(folder: Path, port: int, api_ports: list[int], maxconn: int = 1000,
                   board_port: int | None = None) -> Path:
    """deploy/haproxy/haproxy.cfg as it is, but listening on plain HTTP on ``port`` (no
    certificate here), taking up to ``maxconn`` connections and sending to this run's API
    processes: the public board to the one on ``board_port`` (to the others without it)."""
    config = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    config = re.sub(r"^\s+log /dev/log.*$", "", config, flags=re.M)
    config = re.sub(r"^\s+ssl-default-bind-options.*$", "", config, flags=re.M)
    config = re.sub(r"^(\s+maxconn) \d+$", rf"\1 {maxconn}", config, flags=re.M)
    config = re.sub(r"^\s+bind :80\n\s+bind :443 .*$", f"    bind 127.0.0.1:{port}", config,
                    flags=re.M)
    config = re.sub(r"^\s+http-request redirect scheme https.*$", "", config, flags=re.M)
    servers = "".join(f"    server api{i + 1} 127.0.0.1:{p} check\n"
                      for i, p in enumerate(api_ports))
    config = re.sub(r"(^\s+server api\d 127\.0\.0\.1:\d+ check\n)+", servers, config,
                    flags=re.M)
    board = "".join(f"    server api{i + 1} 127.0.0.1:{p} check backup\n"
                    for i, p in enumerate(api_ports))
    if board_port is not None:
        board = f"    server board1 127.0.0.1:{board_port} check\n" + board
    config = re.sub(r"^\s+server board1 127\.0\.0\.1:\d+ check\n"
                    r"(^\s+server api\d 127\.0\.0\.1:\d+ check backup\n)+", board, config,
                    flags=re.M)
    assert f"bind 127.0.0.1:{port}" in config
    assert servers in config
    assert board in config
    path = folder / "haproxy.cfg"
    path.write_text(config)
    return path


class Topology:
    """Processes started with one environment, each logging to a file of ``folder``."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.processes: dict[str, Process] = {}

    def start(self, name: str, argv: list[str], **extra: str) -> Process:
        log = self.folder / f"{name}.log"
        popen = subprocess.Popen(argv, env={**self.env, **extra},  # noqa: S603
                                 stdout=log.open("wb"), stderr=subprocess.STDOUT)
        self.processes[name] = Process(name, popen, log)
        return self.processes[name]

    def kill(self, name: str) -> float:
        """SIGKILL ``name`` and wait for its end; returns when the signal was sent (another
        process may act on the death, e.g. take the advisory lock, before the wait returns)."""
        at = time.time()
        self.processes[name].popen.send_signal(signal.SIGKILL)
        self.processes[name].popen.wait(10)
        return at

    def stop_all(self) -> None:
        for p in self.processes.values():
            if p.popen.poll() is None:
                p.popen.send_signal(signal.SIGTERM)
        for p in self.processes.values():
            try:
                p.popen.wait(20)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(5)


def wait_ready(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not ready in {seconds} s")


def program_path(name: str) -> str:
    """HAProxy from Debian's package, installed when missing (as tests/services.py does)."""
    from tests.services import Service

    return program(Service(name, "", "", name, name))


@contextmanager
def fresh_database(server_url: str, prefix: str = "bf_topology") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``, dropped afterwards."""
    base = make_url(normalise_url(server_url)).set(query={})
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def production_env(database: str, var_dir: Path, base: str, run: str, *,
                   interval: int, **extra: str) -> dict[str, str]:
    """The settings every process of the topology shares: ``database``, NATS with two
    partitions on a stream and subject of the run's own, HTTP-only API processes, the
    dispatcher every ``interval`` seconds; ``extra`` adds or overrides (BORDERFLOW_* names)."""
    return {**os.environ, "BORDERFLOW_DATABASE_URL": database,
            "BORDERFLOW_VAR_DIR": str(var_dir), "BORDERFLOW_LOG_LEVEL": "INFO",
            "BORDERFLOW_LOG_FORMAT": "json", "BORDERFLOW_PUBLIC_BASE_URL": base,
            "BORDERFLOW_SECRET_KEY": SECRET_KEY,
            "BORDERFLOW_BACKGROUND": "none", "BORDERFLOW_TELEMETRY_BUS": "nats",
            "BORDERFLOW_NATS_URL": service_url("nats"), "BORDERFLOW_NATS_PARTITIONS": "2",
            "BORDERFLOW_NATS_STREAM": f"BF_{run.upper()}",
            "BORDERFLOW_NATS_SUBJECT": f"{run}.positions",
            "BORDERFLOW_DISPATCH_INTERVAL_SECONDS": str(interval),
            "BORDERFLOW_THROTTLING": "false", "BORDERFLOW_DEMO_TRAFFIC": "false", **extra}


def setup(env: dict[str, str]) -> None:
    """`borderflow setup` on the topology's database (schema, reference data)."""
    done = subprocess.run([BORDERFLOW, "setup"], env=env,  # noqa: S603
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def start_production(topology: Topology, lb_port: int, api_ports: list[int], run: str, *,
                     mqtt_client_ids: bool = False, maxconn: int = 1000) -> str:
    """Two API processes, the public board's API process, two workers, two telemetry
    processors and HAProxy in front of the API processes on ``lb_port``; waits until they
    answer. Returns the public address. With ``mqtt_client_ids`` each worker has an MQTT
    session of its own (``<run>-worker<i>``)."""
    for i, port in enumerate(api_ports):
        topology.start(f"api{i + 1}", [BORDERFLOW, "serve", "--port", str(port)])
    board_port = free_port()
    topology.start("board", [BORDERFLOW, "serve", "--port", str(board_port)])
    for i in (1, 2):
        extra = {"BORDERFLOW_MQTT_CLIENT_ID": f"{run}-worker{i}"} if mqtt_client_ids else {}
        topology.start(f"worker{i}", [BORDERFLOW, "worker"], **extra)
    for partition in (0, 1):
        topology.start(f"telemetry{partition}",
                       [BORDERFLOW, "telemetry", "process", "--partition", str(partition)])
    haproxy = haproxy_config(topology.folder, lb_port, api_ports, maxconn, board_port)
    topology.start("haproxy", [program_path("haproxy"), "-db", "-f", str(haproxy)])
    for port in [*api_ports, board_port]:
        wait_ready(f"http://127.0.0.1:{port}/readyz", 180)  # a loaded machine is slow
    base = f"http://127.0.0.1:{lb_port}"
    wait_ready(f"{base}/readyz", 20)
    return base


def ports(n: int) -> list[int]:
    return [free_port() for _ in range(n)]


def delete_stream(url: str, stream: str) -> None:
    """Removes the run's NATS JetStream stream (if it was created)."""
    import nats

    async def delete() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        except Exception:  # noqa: S110 - it may never have been created
            pass
        finally:
            await nc.close()

    asyncio.run(delete())


def open_every_gate(ctx: Any, hours: float, reason: str) -> None:
    """A peak day: the regulator keeps every gate open whatever the hour, from an hour before
    now (the dispatcher asks the capacity of the slot it is in, which began before now) for
    ``hours`` after it."""
    from datetime import timedelta

    from borderflow.dispatch import controls
    from borderflow.domain.access import SYSTEM
    from borderflow.network import service as networks

    with ctx.sessions() as session:
        now = ctx.clock.now()
        network = networks.in_force(session, now)
        for gate in network.gates:
            controls.create(session, network, gate=gate.code, direction=None,
                            kind="extended_hours", starts_at=now - timedelta(hours=1),
                            ends_at=now + timedelta(hours=hours), vehicles_per_hour=None,
                            reason=reason, actor=SYSTEM, now=now)
        session.commit()
