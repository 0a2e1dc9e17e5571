"""The scoping rule as SQL: which rows a caller may see (declarations, trips)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import ColumnElement, and_, false, func, or_, true
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


def recipient_clause(
    scope: DeclarationScope,
    *,
    kind_column: InstrumentedAttribute[str],
    key_column: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """Messages addressed to someone ``scope`` covers: all, or those to its enterprises (by
    the 10-digit tax code head) and to its drivers (by document number)."""
    if scope.everything:
        return true()
    clauses: list[ColumnElement[bool]] = []
    if scope.tax_code_heads:
        clauses.append(and_(kind_column == "enterprise",
                            key_column.in_(sorted(scope.tax_code_heads))))
    if scope.driver_documents:
        clauses.append(and_(kind_column == "driver",
                            key_column.in_(sorted(scope.driver_documents))))
    return or_(*clauses) if clauses else false()
