"""The servers the test suite talks to, provided for one run of a command.

    python -m tests.services [--without NAME] -- COMMAND...

For each service (PostgreSQL, NATS with JetStream, Mosquitto, Redis) the URL is, in order:
its ``BORDERFLOW_TEST_*_URL`` variable when set (used as given); the local server on its
standard port when it answers; otherwise a throw-away server started on a free port in a
temporary folder, its Debian package installed with apt (sudo when not root) when the program
is missing. COMMAND runs with the URLs exported, and the servers started are stopped and their
folders removed when it ends, however it ends. ``--without NAME`` provides no such service and
takes its variable out of COMMAND's environment (the SQLite pass runs without PostgreSQL).

A service that cannot be provided is reported and its standard URL exported, so its tests meet
it as before: those of NATS and MQTT fail, those of PostgreSQL and Redis fail when ``CI=true``
and are skipped otherwise.
"""

# ruff: noqa: S603  (running the servers' programs and the given command is this module's job)
from __future__ import annotations

import argparse
import functools
import glob
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Service:
    name: str
    variable: str
    default: str  # the local server on its standard port
    package: str  # Debian's package holding the program
    program: str


SERVICES = (
    Service("postgres", "BORDERFLOW_TEST_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgresql", "postgres"),
    Service("nats", "BORDERFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222", "nats-server",
            "nats-server"),
    Service("mqtt", "BORDERFLOW_TEST_MQTT_URL", "mqtt://127.0.0.1:1883", "mosquitto",
            "mosquitto"),
    Service("redis", "BORDERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15", "redis-server",
            "redis-server"),
)
MQTT_CONNECT = b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x0a\x00\x00"  # v3.1.1, clean, no client id
MQTT_CONNACK = b"\x20\x02\x00\x00"


def decide(service: Service, environ: Mapping[str, str],
           answers: Callable[[str], bool]) -> tuple[str, str]:
    """("given", url), ("local", url) or ("start", "")."""
    if environ.get(service.variable):
        return "given", environ[service.variable]
    if answers(service.default):
        return "local", service.default
    return "start", ""


def answers(url: str, timeout: int = 2) -> bool:
    """Whether a server answers at ``url`` as the suite needs it: PostgreSQL accepts a
    connection to the database, NATS has JetStream, the MQTT broker and Redis reply."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    try:
        if parts.scheme.startswith("postgresql"):
            import psycopg

            psycopg.connect(url.replace("+psycopg", "", 1), connect_timeout=timeout).close()
            return True
        with socket.create_connection((host, port or 0), timeout) as sock:
            if parts.scheme == "nats":
                info = sock.makefile("rb").readline()
                return info.startswith(b"INFO ") and bool(json.loads(info[5:]).get("jetstream"))
            if parts.scheme == "mqtt":
                sock.sendall(MQTT_CONNECT)
                return sock.recv(4) == MQTT_CONNACK
            sock.sendall(b"PING\r\n")
            return sock.recv(5) == b"+PONG"
    except Exception:  # refused, reset, timed out, not that protocol: not usable
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find(service: Service) -> str | None:
    if service.name == "postgres":  # Debian keeps it off PATH, in a folder per major version
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                       key=lambda p: int(Path(p).parts[-3]))
        return found[-1] if found else shutil.which("postgres")
    return shutil.which(service.program,
                        path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin")


def program(service: Service) -> str:
    """The program's path, installing its Debian package when it is missing."""
    path = find(service)
    if not path:
        print(f"test services: installing {service.package} with apt", flush=True)
        apt("update")
        apt("install", "-y", "--no-install-recommends", service.package)
        path = find(service)
    if not path:
        raise FileNotFoundError(f"{service.program} not found after installing {service.package}")
    return path


@functools.cache  # once a run: `apt-get update` for the first package installed
def apt(*args: str) -> None:
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "-qq", *args], check=True, stdout=subprocess.DEVNULL,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def unprivileged(folder: Path) -> dict[str, Any]:
    """As root, PostgreSQL's programs run as the postgres user (or nobody) owning ``folder``."""
    if os.geteuid() != 0:
        return {}
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        user = pwd.getpwnam("nobody")
    os.chown(folder, user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def started(service: Service) -> Iterator[str]:
    """A throw-away server of ``service``; yields its URL, stops it and removes its folder."""
    path = program(service)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix=f"borderflow-{service.name}-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        log = folder / "server.log"
        as_user: dict[str, Any] = {}
        if service.name == "postgres":
            data = folder / "data"
            data.mkdir()
            as_user = {**unprivileged(data), "cwd": data}
            bindir = Path(path).parent
            with log.open("ab") as out:
                subprocess.run([bindir / "initdb", "-D", data, "-U", "postgres", "-A", "trust",
                                "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"],
                               check=True, stdout=out, stderr=out, **as_user)
            argv = [path, "-D", data, "-p", port, "-h", "127.0.0.1", "-k", data,
                    "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off"]
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        elif service.name == "nats":
            argv = [path, "-a", "127.0.0.1", "-p", port, "-js", "-sd", folder / "jetstream"]
            url = f"nats://127.0.0.1:{port}"
        elif service.name == "mqtt":
            config = folder / "mosquitto.conf"
            config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                              "persistence false\nlog_dest stderr\n")
            argv = [path, "-c", config]
            url = f"mqtt://127.0.0.1:{port}"
        else:
            argv = [path, "--port", port, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--dir", folder]
            url = f"redis://127.0.0.1:{port}/15"
        with log.open("ab") as out:  # own session: a Ctrl-C reaches the tests, not the servers
            server = subprocess.Popen([str(a) for a in argv], stdout=out, stderr=out,
                                      start_new_session=True, **as_user)
        try:
            deadline = time.monotonic() + 60
            while not answers(url, timeout=1):
                if server.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{service.program} did not start:\n{tail}")
                time.sleep(0.1)
            if service.name == "postgres":  # the same database name as the local server's
                import psycopg

                with psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True) as conn:
                    conn.execute("CREATE DATABASE test")
                url = url.removesuffix("/postgres") + "/test"
            yield url
        finally:  # SIGINT is PostgreSQL's fast shutdown; the others stop on SIGTERM
            server.send_signal(signal.SIGINT if service.name == "postgres" else signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def run(command: list[str], without: set[str]) -> int:
    """Runs ``command`` with the services' URLs exported; returns its exit code."""
    env = dict(os.environ)
    with ExitStack() as stack:
        for service in SERVICES:
            if service.name in without:
                env.pop(service.variable, None)
                continue
            how, url = decide(service, os.environ, answers)
            if how == "start":
                try:
                    url = stack.enter_context(started(service))
                    how = "started for this run"
                except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                    url, how = service.default, f"could not be started: {exc}"
            print(f"test services: {service.name} {url} ({how})", flush=True)
            env[service.variable] = url
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        finally:
            if child.poll() is None:
                child.terminate()
                child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--without", action="append", default=[],
                        choices=[s.name for s in SERVICES], help="leave this service out")
    parser.add_argument("command", nargs="+", help="the command to run, after --")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on SIGTERM too
    try:
        return run(args.command, set(args.without))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
