"""JSON documents shared by every feature: RFC 7386 merge patches, and Pydantic validation
errors turned into field errors with dotted paths (``goods[0].hs_code``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError

from borderflow.errors import FieldError


def pydantic_fields(exc: PydanticValidationError, prefix: str = "") -> list[FieldError]:
    """Pydantic errors as field errors with dotted paths (``gates[0].yards[1].capacity``)."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        out.append(FieldError(loc_to_path(err["loc"], prefix), clean_message(err["msg"])))
    return out


def loc_to_path(loc: tuple[int | str, ...] | list[int | str], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("body", "query", "path", "header") and not path:
            continue
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "body"


def clean_message(msg: str) -> str:
    for lead in ("Value error, ", "Assertion failed, "):
        if msg.startswith(lead):
            return msg[len(lead):]
    return msg


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch: objects merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
