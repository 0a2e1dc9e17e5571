"""tests/services.py, which gives `make test` its servers: a URL given is used as is, the local
server when it answers, a throw-away one otherwise; the command's exit code and environment."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable

import pytest

from tests import services
from tests.services import SERVICES, Service, answers, decide

POSTGRES, NATS, MQTT, REDIS = SERVICES


def _never(url: str) -> bool:
    raise AssertionError(f"probed {url} although a URL was given")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.variable)
def test_a_given_url_is_used_as_is_without_probing(service: Service) -> None:
    given = {service.variable: "scheme://elsewhere:1/x"}
    assert decide(service, given, _never) == ("given", "scheme://elsewhere:1/x")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.variable)
def test_the_local_server_is_used_when_it_answers_else_one_is_started(service: Service) -> None:
    probed: list[str] = []

    def probe(up: bool) -> Callable[[str], bool]:
        def answers(url: str) -> bool:
            probed.append(url)
            return up
        return answers

    assert decide(service, {service.variable: ""}, probe(True)) == ("local", service.default)
    assert decide(service, {}, probe(False)) == ("start", "")
    assert probed == [service.default, service.default]


def test_the_standard_addresses_are_those_the_suite_used() -> None:
    assert [(s.variable, s.default) for s in SERVICES] == [
        ("BORDERFLOW_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
        ("BORDERFLOW_TEST_NATS_URL", "nats://127.0.0.1:4222"),
        ("BORDERFLOW_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"),
        ("BORDERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
    ]


def test_nothing_answers_on_a_closed_port() -> None:
    with socket.socket() as sock:  # a port bound but not listening refuses connections
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for url in (f"postgresql+psycopg://postgres@127.0.0.1:{port}/test",
                    f"nats://127.0.0.1:{port}", f"mqtt://127.0.0.1:{port}",
                    f"redis://127.0.0.1:{port}/15"):
            assert not answers(url), url


def test_a_server_speaking_another_protocol_does_not_count() -> None:
    urls = ("postgresql+psycopg://postgres@127.0.0.1:{}/test", "nats://127.0.0.1:{}",
            "mqtt://127.0.0.1:{}", "redis://127.0.0.1:{}/15")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def reply() -> None:
            for _ in urls:
                conn, _address = server.accept()
                with conn:
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        thread = threading.Thread(target=reply, daemon=True)
        thread.start()
        for url in urls:
            assert not answers(url.format(port)), url
        thread.join(5)


def test_the_command_runs_with_the_urls_and_its_exit_code_is_returned(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for service in SERVICES:
        monkeypatch.setenv(service.variable, f"x://{service.name}")
    monkeypatch.setattr(services.signal, "signal", lambda *_: None)  # keep the worker's handler
    check = ("import os, sys; env = os.environ; "
             "sys.exit(7 if 'BORDERFLOW_TEST_DATABASE_URL' not in env "
             "and env['BORDERFLOW_TEST_NATS_URL'] == 'x://nats' else 1)")
    assert services.main(["--without", "postgres", "--", sys.executable, "-c", check]) == 7
    printed = capsys.readouterr().out
    assert "nats x://nats (given)" in printed
    assert "postgres" not in printed
