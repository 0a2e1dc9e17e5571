"""JSON documents shared by every feature: RFC 7386 merge patches, Pydantic validation
errors turned into field errors with dotted paths (``goods[0].hs_code``), and reference-data
documents (the network, the fee schedule) read from YAML and checked into dataclasses."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from borderflow.errors import FieldError, ValidationFailed


class Checked(Protocol):
    def problems(self) -> list[FieldError]: ...


T = TypeVar("T", bound=Checked)


def parse_checked(adapter: TypeAdapter[T], document: Any, what: str) -> T:
    """A document checked field by field, then across fields (its ``problems()``); every
    problem is reported at once."""
    if not isinstance(document, dict):
        raise ValidationFailed([FieldError("document", f"a {what} document must be a mapping")])
    try:
        value = adapter.validate_python(document)
    except PydanticValidationError as exc:
        raise ValidationFailed(pydantic_fields(exc)) from None
    problems = value.problems()
    if problems:
        raise ValidationFailed(problems)
    return value


def read_yaml_file(path: Path) -> dict[str, Any]:
    """A YAML (or JSON) file holding one mapping, or a 422 saying what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problem = FieldError("file", f"cannot read {path}: {exc.strerror}")
        raise ValidationFailed([problem]) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed([FieldError("file", f"not valid YAML: {exc}")]) from None
    if not isinstance(doc, dict):
        raise ValidationFailed([FieldError("file", "the file must hold a YAML mapping")])
    return doc


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
