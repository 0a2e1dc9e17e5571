"""The cost of Argon2id hashes: RFC 9106's second recommended set unless configured
(``BORDERFLOW_PASSWORD_HASH_*``), new hashes made at the configured cost, a password stored at
another cost verified with its own and rehashed at the next login, and settings that cannot
make a hash refused by name. (The suite itself hashes at the least cost: tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from argon2 import extract_parameters
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from borderflow.account import security
from borderflow.config import Settings
from borderflow.store.models import Account
from tests.conftest import PASSWORD, TEST_HASH_COST, Peek


@pytest.fixture(autouse=True)
def _back_to_the_suites_cost() -> Iterator[None]:
    yield
    security.use_cost(TEST_HASH_COST)


def test_the_default_cost_is_rfc_9106s_second_set() -> None:
    fields = Settings.model_fields
    default = security.HashCost(time_cost=fields["password_hash_time_cost"].default,
                                memory_kib=fields["password_hash_memory_kib"].default,
                                parallelism=fields["password_hash_parallelism"].default)
    assert default == security.HashCost() == security.HashCost(3, 65536, 4)
    security.use_cost(default)
    made = extract_parameters(security.hash_password(PASSWORD))
    assert (made.time_cost, made.memory_cost, made.parallelism) == (3, 65536, 4)
    assert made.type.name == "ID"


def test_new_hashes_take_the_configured_cost_and_old_ones_still_verify() -> None:
    old = security.hash_password(PASSWORD)  # the suite's cost
    security.use_cost(security.HashCost(time_cost=2, memory_kib=19456, parallelism=1))
    new = security.hash_password(PASSWORD)
    made = extract_parameters(new)
    assert (made.time_cost, made.memory_cost, made.parallelism) == (2, 19456, 1)
    assert security.verify_password(old, PASSWORD)
    assert not security.verify_password(old, PASSWORD + "x")
    assert security.needs_rehash(old)
    assert not security.needs_rehash(new)
    assert not security.verify_password(None, PASSWORD)  # no account: refused, same work


def test_a_password_stored_at_another_cost_is_rehashed_at_login(
    client: TestClient, db: Peek, settings: Settings
) -> None:
    before = db.one(select(Account).where(Account.username == "enterprise")).password_hash
    security.use_cost(security.HashCost(time_cost=2, memory_kib=64, parallelism=1))
    try:
        r = client.post("/api/v1/auth/token",
                        data={"username": "enterprise", "password": PASSWORD})
    finally:
        security.use_cost(TEST_HASH_COST)
    assert r.status_code == 200, r.text
    after = db.one(select(Account).where(Account.username == "enterprise")).password_hash
    assert after != before
    assert extract_parameters(after).memory_cost == 64
    assert security.verify_password(after, PASSWORD)


@pytest.mark.parametrize(("change", "field"), [
    ({"password_hash_memory_kib": 16, "password_hash_parallelism": 4},
     "BORDERFLOW_PASSWORD_HASH_MEMORY_KIB"),
    ({"password_hash_time_cost": 0}, "password_hash_time_cost"),
    ({"password_hash_memory_kib": 4}, "password_hash_memory_kib"),
])
def test_a_cost_argon2_cannot_use_is_refused_by_name(change: dict[str, Any],
                                                     field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(**change)
    assert field in str(refused.value)
