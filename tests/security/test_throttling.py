"""Throttling and lockout: failed logins are counted per account and address, per account and
per address, and a caller past a limit is refused with 429 and ``Retry-After`` (API and web
login alike), audited and counted; writes, public reads and telemetry have rate limits per
client or address. Counts live in memory by default and in Redis when it is configured (the
Redis tests run against the real server; in CI they fail if it cannot be reached)."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from limits.storage import MemoryStorage
from prometheus_client import REGISTRY
from pydantic import SecretStr
from sqlalchemy import select

from borderflow.account.throttle import LoginThrottle
from borderflow.api.ratelimit import RequestLimits, build_storage
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.store.models import AuditEntry
from tests.conftest import IN_CI, PASSWORD, Peek

REDIS_URL = os.environ.get("BORDERFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "/api/v1/auth/token"


def _limited(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update={"throttling": True, "login_max_failures": 3,
                                       "login_max_failures_account": 6,
                                       "login_max_failures_ip": 10, **changes})


@pytest.fixture
def throttled(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    app = create_app(_limited(settings), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _token(client: TestClient, username: str, password: str) -> Any:
    return client.post(TOKEN, data={"username": username, "password": password})


def _lockouts(scope: str) -> float:
    return REGISTRY.get_sample_value("borderflow_login_lockouts_total", {"scope": scope}) or 0.0


def test_wrong_passwords_lock_the_account_out_with_retry_after_then_even_the_right_one(
    throttled: TestClient, db: Peek
) -> None:
    before = _lockouts("account_ip")
    answers = [_token(throttled, "admin", "wrong password here").status_code for _ in range(3)]
    assert answers == [401, 401, 401]
    locked = _token(throttled, "admin", PASSWORD)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60
    body = locked.json()["error"]
    assert body["code"] == "rate_limited"
    assert "minutes" in body["message"]
    assert body["fields"] == []
    assert _lockouts("account_ip") == before + 1
    rows = db.scalars(select(AuditEntry).where(AuditEntry.action == "account.lockout"))
    assert [(r.target_id, r.after["scope"], r.after["failures"]) for r in rows] == [
        ("admin", "account_ip", 3)]


def test_a_success_clears_only_its_own_failures(throttled: TestClient) -> None:
    for _ in range(2):
        assert _token(throttled, "admin", "wrong password here").status_code == 401
    assert _token(throttled, "admin", PASSWORD).status_code == 200
    for _ in range(2):  # counted afresh from this address
        assert _token(throttled, "admin", "wrong password here").status_code == 401
    assert _token(throttled, "admin", PASSWORD).status_code == 200


def test_a_success_from_one_address_leaves_another_addresss_failures_counted() -> None:
    throttle = LoginThrottle(MemoryStorage(), per_account_ip=3, per_account=100, per_ip=100,
                             minutes=15)
    for _ in range(3):
        throttle.failed("admin", "203.0.113.9")
    assert throttle.locked_for("admin", "203.0.113.9") > 0
    throttle.succeeded("admin", "198.51.100.7")  # the real user, elsewhere
    assert throttle.locked_for("admin", "203.0.113.9") > 0
    assert throttle.locked_for("admin", "198.51.100.7") == 0


def test_guessing_spread_over_addresses_locks_the_account_everywhere() -> None:
    throttle = LoginThrottle(MemoryStorage(), per_account_ip=3, per_account=6, per_ip=100,
                             minutes=15)
    reached = []
    for n in range(6):
        reached += throttle.failed("Admin ", f"203.0.113.{n}")  # name case and spaces alike
    assert [r.scope for r in reached] == ["account"]
    assert throttle.locked_for("admin", "198.51.100.7") > 0
    assert throttle.locked_for("officer", "198.51.100.7") == 0


def test_one_address_trying_many_accounts_is_locked_out() -> None:
    throttle = LoginThrottle(MemoryStorage(), per_account_ip=3, per_account=6, per_ip=5,
                             minutes=15)
    for n in range(5):
        throttle.failed(f"user{n}", "203.0.113.9")
    assert throttle.locked_for("someone-else", "203.0.113.9") > 0
    assert throttle.locked_for("someone-else", "203.0.113.10") == 0


@hsettings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["ip1", "ip2"]),
                          st.booleans()), max_size=30))
def test_no_caller_gets_more_wrong_guesses_than_the_limits_allow(
    attempts: list[tuple[str, str, bool]]
) -> None:
    """Whatever the order of attempts and successes, a guesser at one account from one
    address is refused once it made the limit of failures since its own last success, and
    no account takes more failures in the window than its limit."""
    throttle = LoginThrottle(MemoryStorage(), per_account_ip=3, per_account=5, per_ip=100,
                             minutes=15)
    since_success: dict[tuple[str, str], int] = {}
    per_account: dict[str, int] = {}
    for user, ip, right in attempts:
        if throttle.locked_for(user, ip):
            assert since_success.get((user, ip), 0) >= 3 or per_account.get(user, 0) >= 5
            continue
        if right:
            throttle.succeeded(user, ip)
            since_success[(user, ip)] = 0
        else:
            throttle.failed(user, ip)
            since_success[(user, ip)] = since_success.get((user, ip), 0) + 1
            per_account[user] = per_account.get(user, 0) + 1
        assert since_success.get((user, ip), 0) <= 3
        assert per_account.get(user, 0) <= 5


def test_the_web_login_is_throttled_too_and_says_so_in_the_pages_language(
    throttled: TestClient
) -> None:
    def attempt(password: str) -> Any:
        page = throttled.get("/login?lang=vi")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        return throttled.post("/login", data={"username": "customs", "password": password,
                                              "csrf": token.group(1)}, follow_redirects=False)

    assert [attempt("not the password").status_code for _ in range(3)] == [401, 401, 401]
    page = attempt(PASSWORD)
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) >= 1
    assert "phút" in page.text  # "minutes" in Vietnamese
    assert "too many" not in page.text.lower()


def test_the_api_and_the_web_login_share_the_count(throttled: TestClient) -> None:
    for _ in range(3):
        assert _token(throttled, "cashier", "wrong password here").status_code == 401
    page = throttled.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token
    answer = throttled.post("/login", data={"username": "cashier", "password": PASSWORD,
                                            "csrf": token.group(1)}, follow_redirects=False)
    assert answer.status_code == 429


@pytest.mark.slow
def test_logins_are_not_throttled_when_throttling_is_off(client: TestClient) -> None:
    for _ in range(8):
        assert _token(client, "admin", "wrong password here").status_code == 401
    assert _token(client, "admin", PASSWORD).status_code == 200


# --- request rate limits ----------------------------------------------------------------------


def test_public_reads_are_limited_per_address(settings: Settings, clock: FixedClock) -> None:
    app = create_app(_limited(settings, rate_limit_public_reads="5/minute"), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        codes = [c.get("/api/v1/network").status_code for _ in range(6)]
        assert codes[:5] == [200] * 5
        refused = c.get("/api/v1/network")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"]["code"] == "rate_limited"
        assert c.get("/healthz").status_code == 200  # probes are never limited
    app.state.ctx.engine.dispose()


def test_writes_are_limited_per_client_not_per_address(
    settings: Settings, clock: FixedClock, auth: Any
) -> None:
    app = create_app(_limited(settings, rate_limit_writes="3/minute"), clock=clock)
    quote = {"flow": "import", "gate": "huu-nghi", "vehicle_class": "truck_over_10t"}
    with TestClient(app, raise_server_exceptions=False) as c:
        enterprise, officer = auth("enterprise"), auth("customs")
        codes = [c.post("/api/v1/tariffs/quote", json=quote, headers=enterprise).status_code
                 for _ in range(4)]
        assert 429 not in codes[:3]
        assert codes[3] == 429
        # another client from the same address still writes
        assert c.post("/api/v1/tariffs/quote", json=quote, headers=officer).status_code != 429
    app.state.ctx.engine.dispose()


def test_telemetry_is_limited_per_address(settings: Settings, clock: FixedClock) -> None:
    app = create_app(_limited(settings, rate_limit_telemetry="2/minute"), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as c:
        params = {"id": "unknown-device", "lat": "21.85", "lon": "106.76",
                  "timestamp": "1795482000"}
        codes = [c.get("/api/v1/telemetry/osmand", params=params).status_code
                 for _ in range(3)]
        assert 429 not in codes[:2]
        assert codes[2] == 429
    app.state.ctx.engine.dispose()


def test_the_openapi_document_lists_429(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert "429" in doc["paths"]["/api/v1/auth/token"]["post"]["responses"]
    assert "429" in doc["paths"]["/api/v1/network"]["get"]["responses"]


def test_the_classification_of_requests() -> None:
    limits = RequestLimits.from_settings(Settings(), MemoryStorage())
    assert limits.classify("GET", "/api/v1/network", None, "1.2.3.4")[0:1] == ("public_reads",)
    assert limits.classify("GET", "/api/v1/network", "bfk_x_y", "1.2.3.4") is None
    assert limits.classify("POST", "/api/v1/declarations", "bfk_x_y", "1.2.3.4")[0] == "writes"
    assert limits.classify("POST", "/api/v1/telemetry/positions", "k", "1.2.3.4")[0] == \
        "telemetry"
    assert limits.classify("GET", "/metrics", None, "1.2.3.4") is None
    assert limits.classify("GET", "/static/app.css", None, "1.2.3.4") is None
    # the client is counted by a digest of its credential, never the credential itself
    key = limits.classify("POST", "/api/v1/declarations", "bfk_secret_value", "1.2.3.4")
    assert key is not None
    assert "secret" not in key[2]


# --- Redis ------------------------------------------------------------------------------------


def _redis_reachable() -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(REDIS_URL)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 2):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_settings(settings: Settings) -> Settings:
    if not _redis_reachable():
        message = f"Redis at {REDIS_URL} is unreachable"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    # the address's own count is shared by every run against the server: kept out of reach
    return _limited(settings, redis_url=SecretStr(REDIS_URL), login_max_failures_ip=10**5)


def test_redis_keeps_the_lockout_for_every_worker(redis_settings: Settings,
                                                  clock: FixedClock) -> None:
    user = f"nobody-{uuid.uuid4().hex[:8]}"  # keys of its own in the shared server
    first, second = (create_app(redis_settings, clock=clock) for _ in range(2))
    assert first.state.login_throttle.limiter.storage.__class__.__name__ == "RedisStorage"
    with TestClient(first, raise_server_exceptions=False) as a, \
            TestClient(second, raise_server_exceptions=False) as b:
        assert [_token(a, user, "wrong password here").status_code for _ in range(3)] == \
            [401, 401, 401]
        locked = _token(b, user, "wrong password here")  # another worker sees the lockout
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) >= 1
    for app in (first, second):
        app.state.ctx.engine.dispose()


def test_redis_storage_is_built_from_the_setting(redis_settings: Settings) -> None:
    storage = build_storage(redis_settings)
    assert storage.check()
    assert isinstance(build_storage(redis_settings.model_copy(update={"redis_url": None})),
                      MemoryStorage)


@pytest.mark.slow
@pytest.mark.any_database  # the limits count requests in memory or Redis, never in the database
def test_the_demo_traffic_is_never_throttled_at_ten_times_its_default_pace(
    settings: Settings, clock: FixedClock
) -> None:
    """Every demo actor talks to the server from 127.0.0.1; with the default limits and the
    demo ten times faster than `make run`'s, no request is refused."""
    import time

    from tests.conftest import served

    def refused() -> float:
        return sum(REGISTRY.get_sample_value("borderflow_rate_limited_total", {"limit": name})
                   or 0.0 for name in ("writes", "public_reads", "telemetry"))

    def sent() -> float:  # one pass over the registry (it holds every earlier test's labels)
        return sum(s.value for metric in REGISTRY.collect()
                   if metric.name == "borderflow_http_requests"
                   for s in metric.samples if s.name.endswith("_total"))

    before, sent_before = refused(), sent()
    with served(settings, clock, throttling=True, demo_traffic=True, demo_speed=600,
                dispatch_interval_seconds=1) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(2)
            assert client.get("/healthz").status_code == 200
    print(f"demo requests: {sent() - sent_before:.0f}")
    assert sent() - sent_before > 100  # the demo did drive the API
    assert refused() == before


def test_a_browser_refused_by_a_rate_limit_gets_a_page_with_retry_after(
    settings: Settings, clock: FixedClock
) -> None:
    app = create_app(_limited(settings, rate_limit_public_reads="2/minute"), clock=clock)
    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(app, raise_server_exceptions=False) as c:
        for _ in range(2):
            c.get("/board?lang=vi", headers=browser)
        page = c.get("/board?lang=vi", headers=browser)
        assert page.status_code == 429
        assert page.headers["content-type"].startswith("text/html")
        assert int(page.headers["Retry-After"]) >= 1
        assert "giây" in page.text  # "seconds" in Vietnamese
    app.state.ctx.engine.dispose()
