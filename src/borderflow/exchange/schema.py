"""The bulletin's JSON Schema (versioned in ``data/exchange/``) and validation against it, with
every problem reported by its JSON path."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from borderflow.config import PACKAGE_DIR
from borderflow.errors import FieldError, ValidationFailed, msg

SCHEMA_FILE = PACKAGE_DIR / "data" / "exchange" / "bulletin-v1.schema.json"
MAX_ERRORS = 50


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return loaded


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def path_of(parts: Iterable[str | int]) -> str:
    """``["bulletin", "yards", 0, "gate"]`` -> ``bulletin.yards[0].gate``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "body"


def _reason(err: ValidationError) -> str:
    if err.validator == "required":
        return "this field is required"
    if err.validator == "additionalProperties":
        instance: Any = err.instance
        known: Any = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
        return "unexpected field(s): " + ", ".join(sorted(set(instance) - set(known)))
    if err.validator == "oneOf" and err.context:
        best = min(err.context, key=lambda e: len(list(e.relative_path)))
        return best.message
    return err.message


def _field(err: ValidationError) -> FieldError:
    if err.validator == "required":
        required: Any = err.validator_value
        present: Any = err.instance
        missing = next(iter(m for m in required if m not in present), "")
        return FieldError(path_of([*err.absolute_path, missing]), _reason(err))
    return FieldError(path_of(err.absolute_path), _reason(err))


def validate(document: Any) -> dict[str, Any]:
    """The envelope if it matches the schema, else a 422 naming each bad field."""
    if not isinstance(document, dict):
        raise ValidationFailed([FieldError("body", msg("a bulletin is a JSON object with "
                                                       "'bulletin' and 'signature'"))])
    if "signature" not in document and "bulletin" in document:
        raise ValidationFailed([FieldError("signature", msg("the bulletin is not signed; only "
                                                            "signed bulletins are accepted"))],
                               message=msg("unsigned bulletin refused"))
    errors = sorted(_validator().iter_errors(document),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ValidationFailed([_field(e) for e in errors[:MAX_ERRORS]])
    return document
