"""The bulletin's JSON Schemas (one file per version in ``data/exchange/``) and validation
against the version a bulletin names, with every problem reported by its JSON path."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from borderflow.config import PACKAGE_DIR
from borderflow.domain.exchange import SCHEMA_VERSION, SCHEMA_VERSIONS
from borderflow.errors import FieldError, ValidationFailed, msg

SCHEMA_DIR = PACKAGE_DIR / "data" / "exchange"
MAX_ERRORS = 50


def schema_file(version: int) -> Path:
    return SCHEMA_DIR / f"bulletin-v{version}.schema.json"


@lru_cache(maxsize=len(SCHEMA_VERSIONS))
def schema(version: int = 1) -> dict[str, Any]:
    """The JSON Schema of one version (a version we read, see ``SCHEMA_VERSIONS``)."""
    if version not in SCHEMA_VERSIONS:
        raise ValueError(f"no bulletin schema version {version}")
    loaded: dict[str, Any] = json.loads(schema_file(version).read_text(encoding="utf-8"))
    return loaded


@lru_cache(maxsize=len(SCHEMA_VERSIONS))
def _validator(version: int) -> Draft202012Validator:
    return Draft202012Validator(schema(version))


def version_of(document: Any) -> int:
    """The schema version an envelope's bulletin names, when it is one we read; otherwise the
    newest (whose schema then says what is wrong)."""
    body = document.get("bulletin") if isinstance(document, dict) else None
    named = body.get("schema_version") if isinstance(body, dict) else None
    return named if type(named) is int and named in SCHEMA_VERSIONS else SCHEMA_VERSION


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
    """The envelope if it matches the schema of the version its bulletin names, else a 422
    naming each bad field."""
    if not isinstance(document, dict):
        raise ValidationFailed([FieldError("body", msg("a bulletin is a JSON object with "
                                                       "'bulletin' and 'signature'"))])
    if "signature" not in document and "bulletin" in document:
        raise ValidationFailed([FieldError("signature", msg("the bulletin is not signed; only "
                                                            "signed bulletins are accepted"))],
                               message=msg("unsigned bulletin refused"))
    body = document.get("bulletin")
    named = body.get("schema_version") if isinstance(body, dict) else None
    if named is not None and version_of(document) != named:
        raise ValidationFailed([FieldError("bulletin.schema_version", msg(
            "{value} is not a schema version this platform reads ({versions})",
            value=json.dumps(named), versions=", ".join(map(str, SCHEMA_VERSIONS))))])
    errors = sorted(_validator(version_of(document)).iter_errors(document),
                    key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ValidationFailed([_field(e) for e in errors[:MAX_ERRORS]])
    return document
