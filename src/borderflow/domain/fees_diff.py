"""What a new fee schedule changes against the one in force, for the admin to read before
publishing it: each rate (goods class × vehicle category) with its old and new amount, and
every other field or entry changed. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from borderflow.domain import network_diff
from borderflow.domain.network_diff import Change

IGNORED = frozenset({"version", "effective_from", "effective_to"})
"""Fields that every new version changes: shown beside the changes, not among them."""


@dataclass(frozen=True)
class RateChange:
    """One tariff line: the VND per trip for a goods class and a vehicle category, before
    (None: the line is new) and after (None: the line is gone)."""

    goods_class: str
    vehicle_category: str
    old: int | None
    new: int | None


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Every difference between two tariff documents (see :func:`network_diff.diff`)."""
    return network_diff.diff(dict(old), dict(new))


def _lines(document: Mapping[str, Any]) -> dict[tuple[str, str], int]:
    rates = document.get("rates") or {}
    return {(cls, cat): int(amount) for cls, row in rates.items() if isinstance(row, dict)
            for cat, amount in row.items() if isinstance(amount, int)}


def rate_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[RateChange]:
    """The tariff lines whose amount changed, appeared or went, in the new schedule's order
    (lines that went last)."""
    before, after = _lines(old), _lines(new)
    out = [RateChange(cls, cat, before.get((cls, cat)), amount)
           for (cls, cat), amount in after.items() if before.get((cls, cat)) != amount]
    out += [RateChange(cls, cat, amount, None) for (cls, cat), amount in before.items()
            if (cls, cat) not in after]
    return out


def other_changes(changes: Sequence[Change]) -> list[Change]:
    """The changes that are neither a rate nor a field every version changes."""
    return [c for c in changes if not c.path or c.path[0] not in IGNORED | {"rates"}]


def with_rates(document: Mapping[str, Any], rates: Mapping[tuple[str, str], int]
               ) -> dict[str, Any]:
    """The document with some of its rates set (goods class, vehicle category -> VND)."""
    out = {**document, "rates": {cls: dict(row) for cls, row in
                                 (document.get("rates") or {}).items()}}
    for (cls, cat), amount in rates.items():
        out["rates"].setdefault(cls, {})[cat] = amount
    return out
