"""Hostile input over every route: no answer is a 500.

Every route of the application (the API from its OpenAPI document, the pages from the app's
routes) is called with hostile values in each path parameter, each query parameter and the
body: NUL and other control characters, whole numbers past 32 and 64 bits, dates outside the
calendar, date-times without a time zone, strings longer than documented (or exactly as long
as documented: what the document allows must be storable on both backends), malformed and
deeply nested JSON. Run as an anonymous caller and with the tokens of privileged roles, on
SQLite and (in the PostgreSQL pass) on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from borderflow.api.bounds import MAX_JSON_DEPTH, _params_of

HUGE_INTS = ["2147483648", "9223372036854775808", "-9223372036854775809", "9" * 40, "0",
             "-1"]
PATH_VALUES = ["a\x00b", "a\x01b", "x" * 1000, *HUGE_INTS, "0001-01-01", "9999-12-31"]
QUERY_VALUES = {
    "int": HUGE_INTS,
    "date": ["0001-01-01", "9999-12-31", "1999-12-31", "2026-12-01T00:00:00"],
    "datetime": ["2026-12-01T00:00:00", "2026-12-01", "0001-01-01T00:00:00Z",
                 "9999-12-31T23:59:59+14:00"],
    "str": ["a\x00b", "a\x1fb", "x" * 1000, "2147483648"],
    "other": ["a\x00b", "9" * 40],
}
DEFAULT_PATH_VALUE = {"int": "1", "str": "x", "date": "2026-11-23", "datetime": "2026-11-23"}


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def instance(doc: dict[str, Any], schema: dict[str, Any], mode: str, depth: int = 0) -> Any:
    """A value for ``schema`` with every leaf of the kind ``mode`` aims at made hostile (or,
    for ``edge``, at its documented limit)."""
    schema = _resolve(doc, schema)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(doc, o).get("type") != "null"]
            return instance(doc, options[0] if options else {}, mode, depth)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        return {name: instance(doc, sub, mode, depth + 1)
                for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        item = instance(doc, schema.get("items", {}), mode, depth + 1)
        count = max(1, schema.get("minItems", 1))
        if mode == "edge":
            count = schema.get("maxItems", 1000)
        return [item] * min(count, 1000)
    if kind == "boolean":
        return True
    if kind == "integer":
        if mode == "edge":
            return schema.get("maximum", 2**40)
        if mode == "huge":
            return 2**63
        return max(schema.get("minimum", 1), 1)
    if kind == "number":
        if mode == "edge":
            return schema.get("maximum", 1e300)
        if mode == "huge":
            return 1e308
        return max(schema.get("minimum", 1), 1)
    fmt = schema.get("format")
    if fmt == "date":
        return {"far": "9999-12-31", "past": "0001-01-01"}.get(mode, "2026-11-23")
    if fmt == "date-time":
        return {"far": "9999-12-31T23:59:59+14:00", "past": "0001-01-01T00:00:00Z",
                "naive": "2026-12-01T00:00:00"}.get(mode, "2026-11-23T08:00:00+07:00")
    if mode == "nul":
        return "a\x00b"
    if mode == "control":
        return "a\x1b[31mb"
    if mode == "edge":
        return "x" * schema.get("maxLength", 1000)
    if mode == "long":
        return "x" * (schema.get("maxLength", 100_000) + 1)
    return "x" * max(schema.get("minLength", 1), 1)


BODY_MODES = ("nul", "control", "edge", "long", "huge", "far", "past", "naive")


def _deep(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _requests(app: Any, doc: dict[str, Any]
              ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(method, path template, path, httpx keyword arguments) for every route, each with one
    hostile value."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        params = _params_of(route)
        path_params = [p for p in params if p.where == "path"]
        query = [p for p in params if p.where == "query"]

        def url(hostile: dict[str, str], _path: str = context.path,
                _params: list[Any] = path_params) -> str:
            values = {p.name: hostile.get(p.name, DEFAULT_PATH_VALUE.get(p.kind, "x"))
                      for p in _params}
            return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: _quote(values[m.group(1)]), _path)

        operation = doc["paths"].get(context.path, {})
        for method in sorted(context.methods or ()):
            if method == "HEAD":
                continue
            op = operation.get(method.lower(), {})
            body = _bodies(doc, op, method)
            first_body = next(iter(body), {})
            for param in path_params:
                for value in PATH_VALUES:
                    yield method, context.path, url({param.name: value}), first_body
            for param in query:
                for value in QUERY_VALUES.get(param.kind, QUERY_VALUES["other"]):
                    yield method, context.path, url({}), {**first_body,
                                                          "params": {param.name: value}}
            for kwargs in body:
                yield method, context.path, url({}), kwargs


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def _bodies(doc: dict[str, Any], op: dict[str, Any], method: str) -> list[dict[str, Any]]:
    if method in ("GET", "DELETE"):
        return []
    content = op.get("requestBody", {}).get("content", {})
    headers = {"content-type": "application/json"}
    out: list[dict[str, Any]] = [
        {"content": b'{"a": 1,', "headers": headers},
        {"content": b"\xff\xfe{}", "headers": headers},
        {"content": _deep(MAX_JSON_DEPTH * 40).encode(), "headers": headers},
        {"content": b'{"a": NaN}', "headers": headers},
        {"content": b'"a\\u0000b"', "headers": headers},
    ]
    if "application/json" in content:
        schema = content["application/json"].get("schema", {})
        out += [{"content": json.dumps(instance(doc, schema, mode)).encode(),
                 "headers": headers} for mode in BODY_MODES]
    for kind in ("application/x-www-form-urlencoded", "multipart/form-data"):
        if kind in content:
            schema = _resolve(doc, content[kind].get("schema", {}))
            names = list(schema.get("properties", {}))
            for value in ("a\x00b", "x" * 100_000):
                fields = dict.fromkeys(names, value)
                if kind == "multipart/form-data":
                    out.append({"files": {n: (f"{value[:20]}.txt", value.encode())
                                          for n in names}})
                else:
                    out.append({"data": fields})
            for mode in ("nul", "edge", "long", "far", "past", "huge"):
                values = {n: instance(doc, sub, mode)
                          for n, sub in schema.get("properties", {}).items()}
                files = {n: ("data.csv", b"a,b\n1,2\n") for n, sub in
                         schema.get("properties", {}).items()
                         if _resolve(doc, sub).get("format") == "binary"}
                data = {n: str(v) for n, v in values.items() if n not in files}
                out.append({"data": data, "files": files} if files else {"data": data})
    if not content:  # a form of the pages, or a body the route reads itself
        out += [{"data": {"a": "a\x00b", "csrf_token": "x\x00"}},
                {"content": b"x" * 300_000, "headers": {"content-type": "text/plain"}}]
    return out


def _documented(doc: dict[str, Any], template: str, method: str) -> set[str] | None:
    """The status codes the document lists for an operation (None: not in the document)."""
    operation = doc["paths"].get(template, {}).get(method.lower())
    return None if operation is None else set(operation["responses"])


CALLERS = ["anonymous", "admin", "enterprise"]


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.slow
def test_no_hostile_value_answers_500(client: TestClient, auth: Callable[..., dict[str, str]],
                                      caller: str) -> None:
    doc = client.get("/openapi.json").json()
    headers = {} if caller == "anonymous" else auth(caller)
    failures: list[str] = []
    undocumented: set[str] = set()
    count = 0
    for method, template, path, kwargs in _requests(client.app, doc):
        extra = kwargs.pop("headers", {})
        response = client.request(method, path, headers={**headers, **extra},
                                  follow_redirects=False, **kwargs)
        count += 1
        if response.status_code >= 500 and response.status_code != 503:
            failures.append(f"{response.status_code} {method} {path[:120]} "
                            f"{str(kwargs)[:160]!s}")
        documented = _documented(doc, template, method)
        if documented is not None and str(response.status_code) not in documented:
            undocumented.add(f"{response.status_code} {method} {template}")
    assert count > 1000
    assert not failures, f"{len(failures)} of {count}:\n" + "\n".join(failures[:60])
    assert not undocumented, "answers the OpenAPI document does not list:\n" + "\n".join(
        sorted(undocumented))


def test_malformed_json_is_a_field_error(client: TestClient,
                                         auth: Callable[..., dict[str, str]]) -> None:
    response = client.post("/api/v1/declarations", content=b'{"goods": [',
                           headers={**auth("enterprise"), "content-type": "application/json"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"][0]["field"] == "body"
    assert "not valid JSON" in error["fields"][0]["reason"]


def test_deep_json_is_refused(client: TestClient,
                              auth: Callable[..., dict[str, str]]) -> None:
    response = client.post("/api/v1/declarations", content=_deep(MAX_JSON_DEPTH + 1).encode(),
                           headers={**auth("enterprise"), "content-type": "application/json"})
    assert response.status_code == 422
    assert "levels deep" in response.json()["error"]["fields"][0]["reason"]
