"""The backup and the restore drill of docs/deploy.md (deploy/backup/), run as an operator
runs them: against a real PostgreSQL, with pg_dump and pg_restore, through the shell scripts
kept in the repository."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from borderflow.store.session import normalise_url
from tests.conftest import PG_URL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "deploy" / "backup"
BORDERFLOW = str(Path(sys.executable).with_name("borderflow"))


@pytest.fixture
def source(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A Borderflow database of its own on the test server, set up as `borderflow setup`
    leaves it (the network, the fee schedule, their audit rows) plus one user."""
    base = normalise_url(PG_URL or "")
    admin = create_engine(make_url(base).set(query={}), isolation_level="AUTOCOMMIT")
    name = f"bf_backup_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base).set(database=name, query={}).render_as_string(hide_password=False)
    env = {**os.environ, "BORDERFLOW_DATABASE_URL": url, "BORDERFLOW": BORDERFLOW,
           "BORDERFLOW_VAR_DIR": str(tmp_path / "var"),
           "BORDERFLOW_BACKUP_DIR": str(tmp_path / "backups"), "BORDERFLOW_LOG_LEVEL": "WARNING"}
    for command in (["setup"], ["user", "add", "officer2", "--role", "regulator",
                                "--password", "a long enough test passphrase"]):
        subprocess.run([BORDERFLOW, *command], env=env, check=True, capture_output=True)  # noqa: S603
    try:
        yield env
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            left = conn.execute(text(
                "SELECT datname FROM pg_database WHERE datname LIKE 'borderflow_drill_%'"
            )).scalars().all()
        admin.dispose()
        assert not left, f"the drill left scratch databases behind: {left}"


def _run(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BACKUP / script), *args], env=env, capture_output=True,  # noqa: S603
                          text=True, timeout=120)


def _backup(env: dict[str, str]) -> Path:
    done = _run("backup.sh", env=env)
    assert done.returncode == 0, done.stderr
    (dump,) = sorted(Path(env["BORDERFLOW_BACKUP_DIR"]).glob("borderflow-*.dump"))[-1:]
    return dump


def test_a_backup_comes_back_as_a_working_database_and_a_bad_one_fails_the_drill(
    source: dict[str, str]
) -> None:
    dump = _backup(source)
    counts = dict(line.split() for line in dump.with_suffix(".counts").read_text().splitlines())
    assert int(counts["audit_log"]) >= 3
    assert int(counts["accounts"]) >= 1
    drill = _run("restore-drill.sh", str(dump), env=source)
    assert drill.returncode == 0, drill.stdout + drill.stderr
    assert f"DRILL PASSED: {dump}" in drill.stdout
    assert f"accounts: {counts['accounts']} restored, {counts['accounts']} recorded" in drill.stdout
    assert f"audit_log: {counts['audit_log']} restored" in drill.stdout

    # the drill fails on a damaged dump ...
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))
    damaged = _run("restore-drill.sh", str(dump), env=source)
    assert damaged.returncode != 0
    assert "DRILL FAILED: the dump does not match" in damaged.stderr

    # ... and on a broken audit chain: someone with the database owner's rights rewrote an
    # audit row behind the trigger
    engine = create_engine(source["BORDERFLOW_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text("UPDATE audit_log SET actor_name = 'someone-else' "
                          "WHERE id = (SELECT min(id) FROM audit_log)"))
        conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    engine.dispose()
    tampered = _run("restore-drill.sh", str(_backup(source)), env=source)
    assert tampered.returncode != 0
    assert "DRILL FAILED: the audit chain is broken" in tampered.stderr
