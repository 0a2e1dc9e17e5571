"""Each input bound where it enters: the hostile values once seen to reach the database now
answer 422 naming the field (or 413 for a body too large, refused before it is read)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from borderflow.api import bounds
from borderflow.api.bounds import (
    JSON_INT_LIMIT,
    MAX_JSON_DEPTH,
    NOT_JSON,
    control_free,
    json_problems,
    parse_json,
)

Auth = Callable[..., dict[str, str]]


def _field(response: Any) -> str:
    assert response.status_code == 422, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    return str(error["fields"][0]["field"])


@pytest.mark.parametrize(("caller", "path", "field"), [
    (None, "/api/v1/receipts/a%00b/verify", "token"),
    (None, "/api/v1/tariffs/a%00b", "version"),
    ("admin", "/api/v1/trips/a%00b", "trip_id"),
    ("admin", "/api/v1/trips?q=a%00b", "q"),
    ("admin", "/api/v1/declarations?gate=a%1Fb", "gate"),
    ("admin", "/api/v1/accounts/2147483648", "account_id"),
    ("admin", "/api/v1/audit?page=9223372036854775808", "page"),
    ("admin", "/api/v1/trips?offset=9223372036854775808", "offset"),
    ("admin", "/api/v1/reports/targets?year=0", "year"),
    ("admin", "/api/v1/revenue/daily?date=9999-12-31", "date"),
    (None, "/api/v1/tariffs/current?at=2026-12-01", "at"),
    (None, "/api/v1/tariffs/current?at=2026-12-01T00:00:00", "at"),
    ("admin", "/api/v1/audit?since=2026-12-01T00:00:00", "since"),
    ("admin", "/api/v1/audit?since=9999-12-31T00:00:00Z", "since"),
])
def test_hostile_path_and_query_values_name_their_field(
        client: TestClient, auth: Auth, caller: str | None, path: str, field: str) -> None:
    headers = auth(caller) if caller else {}
    assert _field(client.get(path, headers=headers)) == field


def test_an_application_made_afresh_checks_with_the_same_route_table(
        settings: Any, clock: Any) -> None:
    """Every test (and every worker) builds its application afresh from the same code: the
    second finds the parameters of each address in the table the first built, and still
    refuses what the first refuses."""
    from borderflow.api import bounds
    from borderflow.app import create_app

    apps = [create_app(settings, clock=clock) for _ in range(2)]
    tables = []
    for app in apps:
        with TestClient(app, raise_server_exceptions=False) as c:
            assert _field(c.get("/api/v1/tariffs/current", params={"at": "2026-12-01"})) == "at"
        middleware = app.middleware_stack
        while not isinstance(middleware, bounds.InputBounds):
            middleware = middleware.app  # type: ignore[union-attr]
        tables.append(middleware._routes)
        app.state.ctx.engine.dispose()
    assert tables[0] is not None
    assert len(tables[0]) > 100
    assert tables[1] is tables[0]


def test_a_time_without_its_zone_is_refused_with_an_example(client: TestClient) -> None:
    response = client.get("/api/v1/tariffs/current", params={"at": "2026-12-01T08:00:00"})
    reason = response.json()["error"]["fields"][0]["reason"]
    assert "2026-12-01T08:00:00+07:00" in reason
    ok = client.get("/api/v1/tariffs/current", params={"at": "2026-12-01T08:00:00+07:00"})
    assert ok.status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"at": "0001-01-01T00:00:00Z"}, "at"),
    ({"at": "2026-12-01T08:00:00"}, "at"),
    ({"goods_groups": ["x" * 41]}, "goods_groups[0]"),
    ({"procedure": "a\u0000b"}, "procedure"),
])
def test_the_anonymous_quote_refuses_far_dates_naive_times_and_nul(
        client: TestClient, body: dict[str, Any], field: str) -> None:
    quote = {"payload_tonnes": 20, "container": "none", "regime": "export", "flow": "export",
             **body}
    assert _field(client.post("/api/v1/tariffs/quote", json=quote)) == field


def test_partner_yard_counts_need_a_zoned_time_in_the_calendar(client: TestClient,
                                                               auth: Auth) -> None:
    for counted_at in ("2026-11-23T08:00:00", "0001-01-01T00:00:00Z"):
        response = client.post("/api/v1/gates/huu-nghi/partner-yard", headers=auth("regulator"),
                               json={"direction": "export", "vehicles": 3,
                                     "counted_at": counted_at})
        assert _field(response) == "counted_at"


def test_an_enterprise_name_longer_than_stored_is_refused(client: TestClient,
                                                          auth: Auth) -> None:
    response = client.put("/api/v1/enterprises/0100109106", headers=auth("admin"),
                          json={"name": "x" * 300})
    assert _field(response) == "name"
    stored = client.put("/api/v1/enterprises/0100109106", headers=auth("admin"),
                        json={"name": "x" * 200})
    assert stored.status_code in (200, 201), stored.text


def test_malformed_json_names_the_problem(client: TestClient, auth: Auth) -> None:
    response = client.post("/api/v1/declarations", content=b'{"goods": [1,',
                           headers={**auth("enterprise"), "content-type": "application/json"})
    assert _field(response) == "body"
    reason = response.json()["error"]["fields"][0]["reason"]
    assert "not valid JSON" in reason
    assert "line 1, column 14" in reason


def test_nul_deep_in_a_json_body_names_its_path(client: TestClient, auth: Auth) -> None:
    body = json.dumps({"goods": [{"description": "ok"}, {"description": "a\u0000b"}]})
    response = client.post("/api/v1/declarations", content=body.encode(),
                           headers={**auth("enterprise"), "content-type": "application/json"})
    assert _field(response) == "goods[1].description"


def test_a_body_too_large_is_refused_before_it_is_read(client: TestClient,
                                                       auth: Auth) -> None:
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:
        for i in range(64):
            sent.append(i)
            yield b" " * 16384  # 1 MiB in all, four times the default limit

    response = client.post("/api/v1/declarations", content=chunks(),
                           headers={**auth("enterprise"), "content-type": "application/json"})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    assert error["fields"][0]["field"] == "body"
    declared = client.post("/api/v1/declarations", content=b"{}",
                           headers={**auth("enterprise"), "content-type": "application/json",
                                    "content-length": str(10**9)})
    assert declared.status_code == 413


def test_each_route_class_has_its_own_limit(client: TestClient, auth: Auth) -> None:
    body = b'{"positions": []' + b" " * (300 * 1024) + b"}"  # over the default, under telemetry
    telemetry = client.post("/api/v1/telemetry/positions", content=body,
                            headers={**auth("admin"), "content-type": "application/json"})
    assert telemetry.status_code != 413
    declaration = client.post("/api/v1/declarations", content=body,
                              headers={**auth("enterprise"),
                                       "content-type": "application/json"})
    assert declaration.status_code == 413


def test_an_idempotency_key_longer_than_stored_is_refused(client: TestClient,
                                                          auth: Auth) -> None:
    response = client.put("/api/v1/enterprises/0100109106",
                          headers={**auth("admin"), "Idempotency-Key": "k" * 201},
                          json={"name": "Demo"})
    assert _field(response) == "idempotency-key"


# ---- invariants of the JSON checks ---------------------------------------------------------

SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs",),
                                  blacklist_characters="".join(
                                      chr(c) for c in [*range(0x20), 0x7F] if c not in
                                      (9, 10, 13))), max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-JSON_INT_LIMIT, JSON_INT_LIMIT) | SAFE_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SAFE_TEXT, inner, max_size=3),
    max_leaves=20)


@given(JSON_VALUES)
def test_clean_json_passes_unchanged(document: Any) -> None:
    parsed, problems = parse_json(json.dumps(document).encode())
    assert problems == []
    assert parsed == document


@given(JSON_VALUES, st.sampled_from([c for c in [*range(0x20), 0x7F] if c not in (9, 10, 13)]))
def test_a_control_character_anywhere_is_found(document: Any, code: int) -> None:
    hostile = {"wrapper": [document, f"x{chr(code)}y"]}
    problems = json_problems(hostile)
    assert [p.field for p in problems] == ["wrapper[1]"]
    assert not control_free(chr(code), text_block=True)


@given(st.integers(1, 3 * MAX_JSON_DEPTH))
def test_depth_is_refused_exactly_past_the_limit(depth: int) -> None:
    document = '{"a":' * (depth - 1) + "1" + "}" * (depth - 1)
    _, problems = parse_json(document.encode())
    assert bool(problems) == (depth > MAX_JSON_DEPTH)


# Any text a client may send: control characters, DEL, lone surrogates included.
ANY_TEXT = st.text(st.characters(), max_size=8)
ANY_NUMBER = (st.integers() | st.integers(-2**70, 2**70)
              | st.floats(allow_nan=False) | st.floats(-2.0**60, 2.0**60))
ANY_JSON = st.recursive(
    st.none() | st.booleans() | ANY_NUMBER | ANY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=12)


def _nested(document: Any, levels: int) -> Any:
    for _ in range(levels):
        document = [document]
    return document


@given(ANY_JSON, st.integers(0, MAX_JSON_DEPTH + 2), st.booleans())
def test_the_quick_way_answers_as_the_long_way(document: Any, levels: int,
                                                ascii_only: bool) -> None:
    """A clean body is recognised without visiting every value; whatever the body holds
    (control characters raw-escaped or not, DEL, numbers past 2**53 or 64 bits, infinite
    floats, depth at and past the limit), the answer is the long way's."""
    body = json.dumps(_nested(document, levels), ensure_ascii=ascii_only).encode(
        "utf-8", "surrogatepass")
    quick, walked = parse_json(body), bounds._parse_json_walked(body)
    assert quick[1] == walked[1]
    if not walked[1] and walked[0] is not NOT_JSON:
        assert quick[0] == walked[0]


@pytest.mark.parametrize("text", [
    '{"a": "\\u0000"}', '{"a": "\\b"}', '{"a": "x\\fy"}', '{"a": "\x7f"}', '{"\\u001f": 1}',
    '{"a": 9007199254740993}', '{"a": -9007199254740993}', '[123456789012345678901234567890]',
    '{"a": 1e400}', '{"a": -1E+400}', '{"a": NaN}', '1e999', "99999999999999999999",
    "[" * MAX_JSON_DEPTH + "1" + "]" * MAX_JSON_DEPTH,
    '{"a":' * MAX_JSON_DEPTH + "[]" + "}" * MAX_JSON_DEPTH,
])
def test_the_quick_way_refuses_what_the_long_way_refuses(text: str) -> None:
    _, problems = parse_json(text.encode())
    assert problems, text
    assert problems == bounds._parse_json_walked(text.encode())[1]


@pytest.mark.parametrize("text", [
    "[" * (MAX_JSON_DEPTH - 1) + "1" + "]" * (MAX_JSON_DEPTH - 1),
    "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, '{"a": 9007199254740991}',
    '{"a": 1.5e300, "b": 12345678901234567.5}', '{"a": "tab\\tline\\nreturn\\r \\u00e9"}',
])
def test_clean_edges_pass_both_ways(text: str) -> None:
    assert parse_json(text.encode())[1] == [] == bounds._parse_json_walked(text.encode())[1]
