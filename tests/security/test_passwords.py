"""The password policy: at least 12 characters, not in the shipped list of common and breached
passwords (nor a listed word padded with digits or symbols, nor a keyboard run), not the
username; every rule broken is reported, in the page's language on a page."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from borderflow.account import passwords
from borderflow.bootstrap import demo_accounts
from borderflow.web.i18n import Formatter
from tests.conftest import PASSWORD


@pytest.mark.parametrize("weak", ["aaaaaaaaaa", "1234567890", "password12", "qwertyuiop"])
def test_the_weak_passwords_once_accepted_are_refused(weak: str) -> None:
    assert passwords.problems(weak)


@pytest.mark.parametrize("common", [
    "aaaaaaaaaaaa", "123456789012", "password1234", "Password2024!", "qwertyuiopas",
    "1qaz2wsx3edc", "iloveyou1234", "dragon123456", "abcdefghijkl", "lkjhgfdsapoi",
])
def test_common_passwords_of_twelve_characters_are_refused(common: str) -> None:
    assert len(common) >= 12
    assert passwords.problems(common), common


def test_the_list_is_shipped_in_the_package_with_thousands_of_entries() -> None:
    listed = passwords.common_passwords()
    assert len(listed) > 5000
    assert {"password", "123456", "qwerty", "iloveyou"} <= listed
    assert all(p == p.lower() for p in listed)


def test_a_password_containing_the_username_is_refused() -> None:
    reasons = passwords.problems("my name is Cashier-CN, ok?", "cashier-cn")
    assert [r.template for r in reasons] == ["must not contain the username"]


def test_every_rule_broken_is_reported() -> None:
    templates = {r.template for r in passwords.problems("admin", "admin")}
    assert templates == {"must have at least {count} characters",
                         "is a common password found in lists of breached passwords; choose "
                         "another", "must not contain the username"}


@pytest.mark.parametrize("good", [PASSWORD, "vịnh Hạ Long lúc bình minh", "trạm-kiểm-soát-7-Lạng",
                                  "Dong Dang 2026 toll-gate"])
def test_long_uncommon_passwords_are_accepted(good: str) -> None:
    assert passwords.problems(good, "officer") == []


def test_demo_and_test_passwords_satisfy_the_policy() -> None:
    """Demo accounts get random passwords as bootstrap makes them
    (``secrets.token_urlsafe(12)``, 16 characters) through the account service, which checks
    the policy; the tests' seeded accounts share PASSWORD."""
    import secrets

    for demo in demo_accounts("huu-nghi", "huu-nghi-yard", "park"):
        for _ in range(20):
            assert passwords.problems(secrets.token_urlsafe(12), demo.username) == []
        assert passwords.problems(PASSWORD, demo.username) == []


@given(st.text(min_size=0, max_size=11))
def test_nothing_shorter_than_twelve_characters_passes(short: str) -> None:
    assert passwords.problems(short)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)),
               min_size=12, max_size=40))
def test_the_policy_never_fails_and_every_reason_is_a_translatable_text(text: str) -> None:
    for reason in passwords.problems(text, "driver"):
        assert reason.template in {"must have at least {count} characters",
                                   "is a common password found in lists of breached "
                                   "passwords; choose another",
                                   "has too few different characters",
                                   "must not contain the username"}


def test_the_account_api_refuses_a_common_password_naming_the_field(
    client: TestClient, auth: Any
) -> None:
    r = client.post("/api/v1/accounts", json={"username": "guard-2", "roles": ["customs"],
                                              "password": "password1234"},
                    headers=auth("admin"))
    assert r.status_code == 422
    fields = r.json()["error"]["fields"]
    assert [f["field"] for f in fields] == ["password"]
    assert "common password" in fields[0]["reason"]
    me = client.get("/api/v1/accounts", headers=auth("admin")).json()
    account = next(a for a in me if a["username"] == "customs")
    r = client.patch(f"/api/v1/accounts/{account['id']}", json={"password": "customs-officer-1"},
                     headers=auth("admin"))
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["reason"] == "must not contain the username"
    r = client.patch(f"/api/v1/accounts/{account['id']}",
                     json={"password": "a long uncommon passphrase"}, headers=auth("admin"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("lang", "word"), [("vi", "mật khẩu"), ("zh", "密码")])
def test_the_reasons_read_in_vietnamese_and_chinese(lang: str, word: str) -> None:
    fmt = Formatter(lang)
    for reason in passwords.problems("password", "password"):
        text = fmt.message(reason, "validation_failed")
        assert text
        assert "password" not in text.lower()
    common = passwords.problems("password1234")[0]
    assert word in fmt.message(common, "validation_failed")
