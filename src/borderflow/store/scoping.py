"""The scoping rule as SQL: which rows a caller may see (declarations, trips)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, false, func, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from borderflow.domain.access import DeclarationScope


def scope_clause(
    scope: DeclarationScope,
    *,
    tax_columns: Sequence[InstrumentedAttribute[str] | InstrumentedAttribute[str | None]],
    driver_clause: Callable[[list[str]], ColumnElement[bool]],
    gate_column: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """Rows visible under ``scope``: all, or those matching the enterprise tax codes (declarant
    or customs agent, by the 10-digit head), the driver's document, or the gates in scope."""
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.tax_code_heads:
        heads = sorted(scope.tax_code_heads)
        clauses += [func.substr(col, 1, 10).in_(heads) for col in tax_columns]
    if scope.driver_documents:
        clauses.append(driver_clause(sorted(scope.driver_documents)))
    if scope.gates:
        clauses.append(gate_column.in_(sorted(scope.gates)))
    return or_(*clauses) if clauses else false()
