"""Per-device MQTT accounts through the broker's own authentication: the command writes
Mosquitto's password file (PBKDF2-SHA512 ``$7$`` lines, as mosquitto_passwd writes them) and an
ACL file; a real Mosquitto then lets each device in with its own credentials only, and only
under its own topic. What a device publishes there is the device's; the same id over HTTP is
not."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import RejectedPosition, TripEvent
from borderflow.store.session import make_session_factory
from borderflow.telemetry import mqtt_accounts, service
from borderflow.telemetry.bus import FenceCache, process
from borderflow.telemetry.decoders import owntracks
from tests.conftest import NOW, Peek
from tests.services import SERVICES, free_port, program
from tests.telemetry.test_ingest import EPOCH, INSIDE, OUTSIDE, declared
from tests.telemetry.test_trusted_devices import bind

SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def test_password_lines_are_mosquittos_pbkdf2_sha512() -> None:
    line = mqtt_accounts.password_hash("s3cret", salt=b"0123456789ab")
    found = re.fullmatch(r"\$7\$101\$([A-Za-z0-9+/=]{16})\$([A-Za-z0-9+/=]{88})", line)
    assert found
    assert base64.b64decode(found.group(1)) == b"0123456789ab"
    assert base64.b64decode(found.group(2)) == hashlib.pbkdf2_hmac(
        "sha512", b"s3cret", b"0123456789ab", 101)
    assert mqtt_accounts.password_hash("s3cret") != mqtt_accounts.password_hash("s3cret")


def _run(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,  # noqa: S603
                          check=False)


@pytest.fixture
def folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="borderflow-mqtt-accounts-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _broker(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\n"
                      f"password_file {folder / 'passwords'}\nacl_file {folder / 'acl'}\n"
                      "persistence false\nlog_dest stderr\n")
    path = program(next(s for s in SERVICES if s.name == "mqtt"))
    with (folder / "server.log").open("ab") as out:
        server = subprocess.Popen([path, "-c", str(config)], stdout=out,  # noqa: S603
                                  stderr=out, start_new_session=True)
    deadline = time.monotonic() + 20
    while "running" not in (folder / "server.log").read_text(errors="replace"):
        assert server.poll() is None, (folder / "server.log").read_text(errors="replace")
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return server, port


def _publish(port: int, user: str, password: str, topic: str, message: str
             ) -> subprocess.CompletedProcess[str]:
    return _run(shutil.which("mosquitto_pub") or "mosquitto_pub", "-h", "127.0.0.1",
                "-p", str(port), "-q", "1", "-u", user, "-P", password,
                "-t", topic, "-m", message, "-V", "mqttv311")


def test_a_real_mosquitto_lets_each_device_in_with_its_own_credentials_only(
        client: TestClient, auth: Any, settings: Settings, folder: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from borderflow.cli.main import app
    from borderflow.config import get_settings

    first = bind(client, auth, device="29C12345/phone", who="regulator")
    second = bind(client, auth, device="48241179", who="regulator")
    revoked = bind(client, auth, device="unit-9", who="regulator")
    assert client.post("/api/v1/devices/unit-9/revoke",
                       headers=auth("regulator")).status_code == 200
    passwords = folder / "passwords"
    stale = "f" * 64  # a device account of before: dropped
    passwords.write_text(f"borderflow:{mqtt_accounts.password_hash('sub-pw')}\n"
                         f"{stale}:{mqtt_accounts.password_hash('old')}\n")
    passwords.chmod(0o644)  # the broker reads them as its own user
    (folder / "acl").touch(0o644)  # files that exist keep their permissions
    monkeypatch.setenv("BORDERFLOW_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BORDERFLOW_SECRET_KEY", SECRET)
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        done = runner.invoke(app, ["devices", "mqtt-credentials", "--password-file",
                                   str(passwords), "--acl-file", str(folder / "acl"),
                                   "--subscriber", "borderflow"])
        assert done.exit_code == 0, done.output
        assert "2 device accounts written" in done.output
        shown = runner.invoke(app, ["devices", "mqtt-credentials", "--password-file",
                                    str(passwords), "--show", "48241179"])
        assert shown.exit_code == 0, shown.output
    finally:
        get_settings.cache_clear()
    a, b = (mqtt_accounts.account(SECRET, d, service.token_hash(t))
            for d, t in (("29C12345/phone", first), ("48241179", second)))
    assert f"user: {b.username}\npassword: {b.password}\ntopic: {b.topic}" in shown.output
    assert (a.topic, b.topic) == (f"owntracks/{a.username}/phone",
                                  f"owntracks/{b.username}/phone")
    written = passwords.read_text()
    assert written.startswith("borderflow:$7$101$")  # the subscriber's line, kept
    assert stale not in written
    assert service.token_hash(revoked) not in written  # a revoked device has no account
    for token in (first, second, revoked):
        assert token not in written
        assert token not in (folder / "acl").read_text()

    server, port = _broker(folder)
    try:
        listener = subprocess.Popen(  # noqa: S603
            [shutil.which("mosquitto_sub") or "mosquitto_sub", "-h", "127.0.0.1",
             "-p", str(port), "-u", "borderflow", "-P", "sub-pw",
             "-t", "owntracks/#", "-v", "-W", "8", "-q", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)
        assert _publish(port, a.username, a.password, a.topic, "mine").returncode == 0
        # another device's topic: the broker takes the message and drops it (ACL)
        _publish(port, a.username, a.password, b.topic, "not mine")
        refused = _publish(port, a.username, b.password, a.topic, "wrong password")
        assert refused.returncode != 0
        assert "not authori" in (refused.stderr + refused.stdout).lower()
        gone = mqtt_accounts.account(SECRET, "unit-9", service.token_hash(revoked))
        assert _publish(port, gone.username, gone.password, gone.topic, "x").returncode != 0
        assert _publish(port, b.username, b.password, b.topic, "theirs").returncode == 0
        out, _ = listener.communicate(timeout=15)
    finally:
        server.terminate()
        server.wait(10)
    assert out.splitlines() == [f"{a.topic} mine", f"{b.topic} theirs"]


def test_what_a_device_publishes_under_its_account_is_the_devices(
        client: TestClient, auth: Any, db: Peek, clock: FixedClock, settings: Settings
) -> None:
    """The broker checked the password: a topic whose user is a live token's hash moves the
    device's trip, as the subscriber hands it on; the same id over HTTP is rejected."""
    ref = declared(client, auth)
    token = bind(client, auth)
    clock.set(NOW + timedelta(minutes=10))
    topic = mqtt_accounts.account(SECRET, "phone-1", service.token_hash(token)).topic
    over_http = client.post("/api/v1/telemetry/owntracks", json={
        "_type": "location", "lat": INSIDE[0], "lon": INSIDE[1], "tst": EPOCH - 30,
        "topic": topic})
    assert over_http.status_code == 400
    assert db.scalar(select(func.count()).select_from(RejectedPosition).where(
        RejectedPosition.reason.like("%MQTT account%"))) == 1
    sessions = make_session_factory(db.engine)
    for seconds, at in ((-60, OUTSIDE), (0, INSIDE)):
        items = owntracks({"_type": "location", "lat": at[0], "lon": at[1],
                           "tst": EPOCH + seconds}, clock.now(), topic=topic)
        report = process(sessions, clock, FenceCache(30), items, clock.now())
    assert [e["event"] for e in report.events] == ["area.entered"]
    event = db.one(select(TripEvent).where(TripEvent.type == "area.entered"))
    assert event.actor_name == "device:Tai's phone"
    assert client.get(f"/api/v1/trips/{ref}", headers=auth("driver")).json()[
        "location"] == "staging:viettel-logistics-park"


def test_binding_answers_the_devices_mqtt_account(
        client: TestClient, auth: Any, settings: Settings) -> None:
    from tests import factories

    r = client.post("/api/v1/devices/29C12345/phone/bind",
                    json={"driver_document": factories.DRIVER_DOC}, headers=auth("regulator"))
    assert r.status_code == 200, r.text
    expected = mqtt_accounts.account(settings.resolved_secret_key(), "29C12345/phone",
                                     service.token_hash(r.json()["token"]))
    assert r.json()["mqtt"] == {"username": expected.username, "password": expected.password,
                                "topic": expected.topic}
    assert expected.topic.endswith("/phone")
