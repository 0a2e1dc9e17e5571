"""Every field a client sends is bounded in the OpenAPI document: strings by a maximum
length (or an enumeration, a pattern or a date format), lists by a maximum number of items,
whole numbers by a maximum; dates and date-times are checked by the shared types (see
borderflow.api.bounds)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

# Fields whose bound is their route's body limit: a file uploaded, and the OAuth2 password
# form whose fields are only compared (never stored).
UNBOUNDED = {"file", "username", "password", "scope", "client_id", "client_secret"}


def _unbounded(doc: dict[str, Any], schema: dict[str, Any], where: str,
               seen: set[str]) -> list[str]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return []
        seen.add(name)
        return _unbounded(doc, doc["components"]["schemas"][name], name, seen)
    out: list[str] = []
    options = schema.get("anyOf", []) + schema.get("allOf", [])
    if any(o.get("type") == "number" for o in options):
        # a decimal: its string form is bounded by its digits (max_digits), the number by
        # its maximum where it has one
        options = [o for o in options if o.get("type") != "string"]
    for option in options:
        out += _unbounded(doc, option, where, seen)
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        for field, sub in schema.get("properties", {}).items():
            if field not in UNBOUNDED:
                out += _unbounded(doc, sub, f"{where}.{field}", seen)
    elif kind == "array":
        if "maxItems" not in schema:
            out.append(f"{where}: list without maxItems")
        out += _unbounded(doc, schema.get("items", {}), f"{where}[]", seen)
    elif kind == "string":
        bounded = {"maxLength", "enum", "const", "pattern"} & set(schema) or \
            schema.get("format") in ("date", "date-time", "binary")
        if not bounded:
            out.append(f"{where}: string without maxLength")
    elif kind == "integer" and "maximum" not in schema and "exclusiveMaximum" not in schema:
        out.append(f"{where}: integer without maximum")
    return out


def test_every_request_field_is_bounded(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    problems: list[str] = []
    bodies = 0
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            for content in op.get("requestBody", {}).get("content", {}).values():
                bodies += 1
                problems += [f"{method.upper()} {path}: {p}" for p in
                             _unbounded(doc, content.get("schema", {}), "body", set())]
    assert bodies > 40
    assert not problems, "\n".join(sorted(set(problems)))
