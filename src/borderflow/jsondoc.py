"""JSON documents shared by every feature: RFC 7386 merge patches, Pydantic validation
errors turned into field errors with dotted paths (``goods[0].hs_code``), and reference-data
documents (the network, the fee schedule) read from YAML and checked into dataclasses."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from borderflow.errors import FieldError, Text, ValidationFailed, msg


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
    """Pydantic errors as field errors with dotted paths (``gates[0].yards[1].capacity``),
    each reason a :class:`Text` a page can show in its own language."""
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        out.append(FieldError(loc_to_path(err["loc"], prefix), pydantic_reason(err)))
    return out


def pydantic_reason(err: Any, english: str | None = None) -> str:
    """One Pydantic error as a message: the English text the API has always given, made from
    a catalogue template chosen by the error's type (its limits as parameters), or the
    validator's own :class:`Text` for the checks the platform writes itself."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    plain = english if english is not None else clean_message(str(err.get("msg", "invalid")))
    cause = ctx.get("error")
    if isinstance(cause, Exception) and cause.args and isinstance(cause.args[0], Text):
        found: Text = cause.args[0]
        return found
    made = _pydantic_message(kind, ctx)
    if made is None:
        made = msg("This value is not accepted.")
    return Text(plain, made.template, made.params)


def _number(value: Any) -> Any:
    try:
        return float(value) if not isinstance(value, int) else value
    except (TypeError, ValueError):
        return value


def _pydantic_message(kind: str, ctx: dict[str, Any]) -> Text | None:
    """The catalogue message for a Pydantic error type (None: the general one)."""
    if kind == "missing":
        return msg("This field is required.")
    if kind in ("decimal_parsing", "float_parsing", "int_parsing", "decimal_type",
                "float_type", "int_type", "finite_number"):
        return msg("Enter a number.")
    if kind in ("int_from_float", "int_parsing_size"):
        return msg("Enter a whole number.")
    if kind == "decimal_max_places":
        return msg("At most {places} decimals.", places=_number(ctx.get("decimal_places")))
    if kind == "decimal_max_digits":
        return msg("At most {digits} digits.", digits=_number(ctx.get("max_digits")))
    if kind == "decimal_whole_digits":
        return msg("At most {digits} digits before the decimal mark.",
                   digits=_number(ctx.get("whole_digits")))
    if kind == "greater_than":
        return msg("Must be more than {limit}.", limit=_number(ctx.get("gt")))
    if kind == "greater_than_equal":
        return msg("Must be at least {limit}.", limit=_number(ctx.get("ge")))
    if kind == "less_than":
        return msg("Must be less than {limit}.", limit=_number(ctx.get("lt")))
    if kind == "less_than_equal":
        return msg("Must be at most {limit}.", limit=_number(ctx.get("le")))
    if kind in ("string_too_short", "too_short"):
        if kind == "too_short":
            return msg("Give at least {count}.", count=_number(ctx.get("min_length")))
        return msg("At least {count} characters.", count=_number(ctx.get("min_length")))
    if kind == "string_too_long":
        return msg("At most {count} characters.", count=_number(ctx.get("max_length")))
    if kind == "too_long":
        return msg("At most {count} items.", count=_number(ctx.get("max_length")))
    if kind in ("string_type", "string_unicode"):
        return msg("Enter a text.")
    if kind in ("literal_error", "enum"):
        return msg("Choose one of the options offered.")
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_type",
                "date_from_datetime_inexact"):
        return msg("Enter a date.")
    if kind in ("datetime_parsing", "datetime_type", "datetime_from_date_parsing"):
        return msg("Enter a date and time.")
    if kind in ("bool_parsing", "bool_type"):
        return msg("Answer yes or no.")
    if kind == "extra_forbidden":
        return msg("This field is not expected here.")
    if kind in ("model_type", "model_attributes_type", "dict_type", "list_type"):
        return msg("This part of the form is not filled in as expected.")
    if kind == "json_invalid":
        return msg("The request body is not valid JSON.")
    return None


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
