"""Declaration queries, always filtered by what the caller may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from borderflow.domain.access import DeclarationScope
from borderflow.store import scoping
from borderflow.store.models import Declaration, DeclarationVehicle


def scope_clause(scope: DeclarationScope) -> ColumnElement[bool]:
    """SQL for the declarations a caller may see."""
    return scoping.scope_clause(
        scope,
        tax_columns=(Declaration.enterprise_tax_code, Declaration.customs_agent_tax_code),
        driver_clause=lambda docs: Declaration.id.in_(
            select(DeclarationVehicle.declaration_id).where(
                DeclarationVehicle.driver_document.in_(docs)
            )
        ),
        gate_column=Declaration.requested_gate,
    )


def find_visible(
    session: Session, scope: DeclarationScope, id_or_ref: str, *, for_update: bool = False
) -> Declaration | None:
    """One declaration by id or reference, if in scope. ``for_update`` locks the row until the
    transaction ends (PostgreSQL), so concurrent amendments are applied one after another."""
    key = id_or_ref.strip()
    q = select(Declaration).where(
        scope_clause(scope),
        or_(Declaration.id == key, Declaration.reference == key.upper()),
    )
    if for_update:
        q = q.with_for_update()
    return session.scalar(q)


@dataclass(frozen=True)
class ListFilter:
    status: str | None = None
    direction: str | None = None
    flow: str | None = None
    gate: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    plate_key: str | None = None
    tax_code_head: str | None = None
    perishable: bool | None = None


def _filtered(scope: DeclarationScope, f: ListFilter) -> Select[Declaration]:
    q = select(Declaration).where(scope_clause(scope))
    if f.status:
        q = q.where(Declaration.status == f.status)
    if f.direction:
        q = q.where(Declaration.direction == f.direction)
    if f.flow:
        q = q.where(Declaration.flow == f.flow)
    if f.gate:
        q = q.where(Declaration.requested_gate == f.gate)
    if f.date_from:
        q = q.where(Declaration.requested_date >= f.date_from)
    if f.date_to:
        q = q.where(Declaration.requested_date <= f.date_to)
    if f.perishable is not None:
        q = q.where(Declaration.perishable == f.perishable)
    if f.tax_code_head:
        q = q.where(func.substr(Declaration.enterprise_tax_code, 1, 10) == f.tax_code_head)
    if f.plate_key:
        q = q.where(
            Declaration.id.in_(
                select(DeclarationVehicle.declaration_id).where(
                    DeclarationVehicle.plate_key == f.plate_key
                )
            )
        )
    return q


def page(
    session: Session, scope: DeclarationScope, f: ListFilter, page: int, size: int
) -> tuple[list[Declaration], int]:
    q = _filtered(scope, f)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(
        q.order_by(Declaration.created_at.desc(), Declaration.id.desc())
        .offset((page - 1) * size)
        .limit(size)
    ).all()
    return list(rows), total
