"""The OpenAPI document lists the status codes each route answers, and a 405's ``Allow``
header names exactly the methods the document lists for that address.

Each operation is called the ways that every route can be refused (anonymously, with a
control character in the query, with a body over the limit, with an unknown id) and the
status it answers must be among the operation's documented responses."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow.api.openapi import expected_codes
from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings

# Which answers each operation documents does not depend on the database: the PostgreSQL
# pass leaves this module out.
pytestmark = pytest.mark.any_database

METHODS = ("get", "post", "put", "patch", "delete")


def _url(path: str, value: str = "1") -> str:
    return re.sub(r"\{[^}]+\}", value, path)


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items()
            for method, op in ops.items() if method in METHODS]


def test_the_shared_answers_are_documented_on_every_operation(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    operations = _operations(doc)
    assert len(operations) > 100
    for path, method, op in operations:
        missing = expected_codes(path, method, op) - set(op["responses"])
        assert not missing, (method, path, missing)
        protected = "anyone, no login needed" not in op.get("description", "")
        if protected:
            assert {"401", "403"} <= set(op["responses"]), (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)


@pytest.mark.slow
def test_every_answer_is_documented(settings: Settings, clock: FixedClock,
                                    auth: Callable[..., dict[str, str]]) -> None:
    limits = {f"max_body{kind}bytes": 1024 for kind in (
        "_", "_telemetry_", "_image_", "_upload_", "_history_")}
    app = create_app(settings.model_copy(update=limits), clock=clock)
    with TestClient(app, raise_server_exceptions=False) as client:
        _every_answer_is_documented(client, auth)
    app.state.ctx.engine.dispose()


def _every_answer_is_documented(client: TestClient,
                                auth: Callable[..., dict[str, str]]) -> None:
    doc = client.get("/openapi.json").json()
    admin = auth("admin")
    undocumented: list[str] = []
    seen: dict[str, int] = {}
    for path, method, op in _operations(doc):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("anonymous", {}),
            ("control character", {"params": {"q": "a\x00b"}, "headers": admin}),
            ("unknown id", {"headers": admin, "url": _url(path, "no-such-id")}),
            ("huge id", {"headers": admin, "url": _url(path, "2147483648")}),
        ]
        if method in ("post", "put", "patch"):
            calls.append(("too large", {"headers": {**admin, "content-type":
                                                    "application/json"},
                                        "content": b" " * 2048}))
        for what, kwargs in calls:
            url = kwargs.pop("url", _url(path))
            response = client.request(method.upper(), url, follow_redirects=False, **kwargs)
            status = str(response.status_code)
            seen[status] = seen.get(status, 0) + 1
            if status not in op["responses"]:
                undocumented.append(f"{status} {method.upper()} {path} ({what})")
            if what == "too large":
                assert response.status_code == 413, (method, path)
                assert response.json()["error"]["code"] == "payload_too_large"
            if what == "control character":
                assert response.status_code in (401, 403, 422), (method, path, status)
    assert {"401", "413", "422", "404"} <= set(seen), seen
    assert not undocumented, f"{len(undocumented)}:\n" + "\n".join(undocumented[:50])


def test_a_405_allows_exactly_the_documented_methods(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    checked = 0
    for path, ops in doc["paths"].items():
        documented = sorted(m.upper() for m in ops if m in METHODS)
        others = [m for m in ("DELETE", "PATCH", "PUT", "POST") if m not in documented]
        if not others:
            continue
        response = client.request(others[0], _url(path), follow_redirects=False)
        if response.status_code != 405:
            continue  # another route of the pages answers that method there
        checked += 1
        allowed = sorted(m.strip() for m in response.headers["allow"].split(","))
        assert allowed == documented, (path, allowed, documented)
        assert response.json()["error"]["code"] == "method_not_allowed"
    assert checked > 50
