"""The API fuzzed from its own OpenAPI document (schemathesis).

Every operation of the document is called with generated requests: examples and boundary
values from the document (coverage phase), then valid and invalid random inputs (NUL bytes,
huge numbers, far dates, over-long strings, wrong types), sent in turn by an enterprise, a
regulator, an administrator and an anonymous caller. No answer may be a server error, and
every answer must be one the document lists for that operation, in the shape it documents.

The run is bounded (a few thousand requests) and deterministic; it has its own database, so
the data it writes never meets other tests. Hypothesis keeps no example database and the
fuzzer no cache here (both would be git-ignored: ``.hypothesis/``, ``.schemathesis/``).
"""

from __future__ import annotations

import itertools
import shutil
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from borderflow.account import security
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store import migrate
from borderflow.store.models import Account
from borderflow.store.session import make_engine
from tests.conftest import NOW, Database, _pg_schema_url, _seed_url

CALLERS = ("enterprise", "regulator", "admin", None)
"""Who calls each generated request: three roles and the anonymous public."""

MAX_EXAMPLES = 3
"""Random examples per operation (after the document's examples and boundary values)."""

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

CONFIG = schemathesis.Config.from_dict({
    "cache": {"enabled": False},
    "seed": 17,
    "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True,
                   "no-shrink": True,
                   "database": "none", "allow-x00": True,
                   "with-security-parameters": False},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True},
               "fuzzing": {"enabled": True}, "stateful": {"enabled": False}},
})

SETTINGS = settings(deadline=None, database=None, derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))

KNOWN_FAILURES: dict[tuple[str, str], str] = {}
"""Operations whose failures are known and tracked: (method, path) -> why. Empty: every
operation must pass."""


class Counter:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.statuses: dict[int, int] = {}

    def add(self, status: int) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1



@pytest.fixture(scope="module")
def fuzz_database(database_template: Database, tmp_path_factory: pytest.TempPathFactory,
                  worker_id: str) -> Iterator[Database]:
    """A database of the fuzzer's own: a copy of the seeded template (SQLite) or a schema of
    its own on the server (PostgreSQL), seeded the same way."""
    if database_template.backend == "sqlite":
        src = make_url(database_template.url).database or ""
        dst = tmp_path_factory.mktemp("fuzz") / "borderflow.db"
        shutil.copyfile(src, dst)
        yield Database(f"sqlite:///{dst}", "sqlite")
        return
    base = make_url(database_template.url).set(query={}).render_as_string(hide_password=False)
    schema = f"bf_fuzz_{worker_id}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _pg_schema_url(base, schema)
    try:
        migrate.upgrade(url)
        _seed_url(url)
        yield Database(url, "postgresql")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="module")
def fuzz_settings(fuzz_database: Database, tmp_path_factory: pytest.TempPathFactory
                  ) -> Settings:
    extra: dict[str, Any] = {}
    if "throttling" in Settings.model_fields:
        extra["throttling"] = False  # rate limits are proved elsewhere, not by the fuzzer
    return Settings(database_url=fuzz_database.url, var_dir=tmp_path_factory.mktemp("fuzzvar"),
                    secret_key="test-secret-key-that-is-long-enough-for-hs256",
                    log_level="ERROR", public_base_url="https://gate.example",
                    dispatch_interval_seconds=0, notify_interval_seconds=0,
                    telemetry_bus="inline", **extra)


@pytest.fixture(scope="module")
def fuzz_app(fuzz_settings: Settings) -> Iterator[Any]:
    app = create_app(fuzz_settings, clock=FixedClock(NOW))
    yield app
    app.state.ctx.engine.dispose()


@pytest.fixture(scope="module")
def fuzz_headers(fuzz_settings: Settings) -> list[dict[str, str]]:
    engine = make_engine(fuzz_settings.database_url)
    out = []
    with Session(engine) as session:
        for username in CALLERS:
            if username is None:
                out.append({})
                continue
            account = session.scalars(select(Account).where(Account.username == username)).one()
            secret = fuzz_settings.secret_key
            key = secret.get_secret_value() if hasattr(secret, "get_secret_value") else secret
            token = security.issue_token(account.id, account.username, key=str(key),
                                         now=NOW, minutes=24 * 60)
            out.append({"Authorization": f"Bearer {token}"})
    engine.dispose()
    return out


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=CONFIG)


ENDS_ACCESS = ("/api/v1/accounts/{account_id}", "/api/v1/me/sessions")
"""Operations that may end the callers' own access (deactivating an account, ending every
session of one): fuzzed after all the others."""


def last(operation: Any) -> bool:
    return bool(operation.path.startswith(ENDS_ACCESS))


@pytest.mark.slow
def test_no_server_error_and_every_answer_is_documented(
    fuzz_schema: Any, fuzz_headers: list[dict[str, str]]
) -> None:
    """Each operation in turn, the generated requests sent by the callers in turn; the
    failures of all operations are collected and reported together."""
    count = Counter()
    callers = itertools.cycle(fuzz_headers)

    def send(case: schemathesis.Case) -> None:
        headers = next(callers)
        response = case.call(headers=headers)
        count.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    feedback = FeedbackSources(constants_value_source=None)
    failures: list[str] = []
    known: set[tuple[str, str]] = set()
    operations = 0
    for operation in sorted((r.ok() for r in fuzz_schema.get_all_operations()), key=last):
        operations += 1
        key = (operation.method.upper(), operation.path)
        test = build_operation_test(config=fuzz_schema.config, operation=operation,
                                    test_func=send, given_kwargs={}, feedback=feedback,
                                    explicit_settings=SETTINGS)
        try:
            test()
        except (Exception, FailureGroup) as exc:
            if key in KNOWN_FAILURES:
                known.add(key)
            else:
                failures.append(f"{operation.label}: {exc}")
    print(f"fuzzing: {operations} operations, {count.requests} requests, "
          f"statuses {sorted(count.statuses.items())}")
    assert not failures, f"{len(failures)} operations failed:\n" + "\n\n".join(failures)
    assert known == set(KNOWN_FAILURES), "known failures that no longer fail: remove them"
    assert operations > 100
    assert 2000 <= count.requests <= 8000, count.statuses
    assert count.statuses.get(200, 0) > 100, "the roles' requests got through"
