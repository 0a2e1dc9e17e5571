"""Declaration use cases. Services never commit: the request or task boundary does."""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.clock import LOCAL_TZ
from borderflow.declaration import repository
from borderflow.declaration.schemas import (
    DeclarationIn,
    GoodsLineIn,
    VehicleIn,
    money_in,
    money_out,
)
from borderflow.domain.access import (
    Principal,
    Role,
    declaration_scope,
    may_change_declaration,
)
from borderflow.domain.declaration import (
    AMENDABLE,
    DIRECTIONS,
    DeclarationFacts,
    DeclarationWarning,
    Derived,
    GoodsFacts,
    VehicleFacts,
    check_declaration,
    plausibility,
)
from borderflow.domain.network import FLOWS, Network
from borderflow.domain.values import parse_plate, plate_key
from borderflow.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from borderflow.jsondoc import merge_patch, pydantic_fields
from borderflow.store.models import Declaration, DeclarationVehicle
from borderflow.trip import service as trips

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ITEM_LISTS = ("goods", "vehicles", "quarantine")


def new_reference() -> str:
    """A short reference officers can read out or type: ``BF-7K3M-9QX2``."""
    chars = "".join(secrets.choice(_CROCKFORD) for _ in range(8))
    return f"BF-{chars[:4]}-{chars[4:]}"


def scope_for(principal: Principal, network: Network | None) -> Any:
    gates_of_yards = (
        {y.code: g.code for g in network.gates for y in g.yards} if network is not None else {}
    )
    return declaration_scope(principal, gates_of_yards)


def _facts(data: DeclarationIn) -> DeclarationFacts:
    return DeclarationFacts(
        direction=data.direction,
        flow=data.flow,
        gate=data.requested_gate,
        requested_date=data.requested_date,
        goods=[GoodsFacts(g.hs_code, g.net_weight_kg, money_in(g.value_usd))
               for g in data.goods],
        vehicles=[
            VehicleFacts(
                plate_key(v.plate),
                plate_key(v.trailer_plate) if v.trailer_plate else None,
                v.payload_tonnes,
            )
            for v in data.vehicles
        ],
        quarantine_kinds=[q.kind for q in data.quarantine],
    )


T = TypeVar("T")
_DATE: TypeAdapter[date] = TypeAdapter(date)
_GOODS_FIELDS = GoodsLineIn.model_fields
_VEHICLE_FIELDS = VehicleIn.model_fields


def _read(value: Any, read: Callable[[Any], T]) -> T | None:
    """A value of the document read as the API reads it, or None when it cannot be (the field
    errors say why)."""
    if value is None:
        return None
    try:
        return read(value)
    except (ValueError, TypeError, ArithmeticError):  # pydantic's errors are ValueErrors
        return None


def _field(model_fields: Any, name: str) -> Callable[[Any], Any]:
    """A reader of one field of an API model, with the model's own rules (limits, formats)."""
    info = model_fields[name]
    kind: Any = Annotated[(info.annotation, *info.metadata)] if info.metadata else \
        info.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    return adapter.validate_python


_READ_HS = _field(_GOODS_FIELDS, "hs_code")
_READ_WEIGHT = _field(_GOODS_FIELDS, "net_weight_kg")
_READ_VALUE = _field(_GOODS_FIELDS, "value_usd")
_READ_PAYLOAD = _field(_VEHICLE_FIELDS, "payload_tonnes")


def _plate(text: Any) -> str:
    return plate_key(parse_plate(str(text)).text)


def _items(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = document.get(key)
    if not isinstance(items, list):
        return []
    return [x if isinstance(x, Mapping) else {} for x in items]


def facts_of_document(document: Mapping[str, Any]) -> DeclarationFacts:
    """The facts the network rules need, read best-effort from a raw declaration document:
    every part that is valid on its own, ``None`` for the others (their field errors say
    what is wrong), so that the rules can be checked together with the field errors."""
    direction = document.get("direction")
    flow = document.get("flow")
    gate = document.get("requested_gate")
    goods = [GoodsFacts(
        _read(g.get("hs_code"), _READ_HS),
        _read(g.get("net_weight_kg"), _READ_WEIGHT),
        _read(g.get("value_usd"), lambda v: money_in(_READ_VALUE(v))),
    ) for g in _items(document, "goods")]
    vehicles = [VehicleFacts(
        _read(v.get("plate"), _plate),
        _read(v.get("trailer_plate"), _plate),
        _read(v.get("payload_tonnes"), _READ_PAYLOAD),
    ) for v in _items(document, "vehicles")]
    kinds = [q.get("kind") for q in _items(document, "quarantine")]
    return DeclarationFacts(
        direction=direction if direction in DIRECTIONS else None,
        flow=flow if flow in FLOWS else None,
        gate=gate.strip() if isinstance(gate, str) and gate.strip() else None,
        requested_date=_read(document.get("requested_date"), _DATE.validate_python),
        goods=goods,
        vehicles=vehicles,
        quarantine_kinds=[k for k in kinds if k in ("plant", "animal")],
        quarantine_complete=all(k in ("plant", "animal") for k in kinds),
    )


@dataclass
class Checked:
    """A declaration document checked: the valid declaration (None with errors), what the
    goods catalogue derives from it, every error (field formats and network rules together)
    and the plausibility warnings."""

    data: DeclarationIn | None = None
    derived: Derived | None = None
    errors: list[FieldError] = field(default_factory=list)
    warnings: list[DeclarationWarning] = field(default_factory=list)


def check_document(
    document: Mapping[str, Any], *, network: Network, now: datetime,
    holidays: Mapping[str, Collection[date]],
) -> Checked:
    """Check a raw declaration document (the API's JSON shape) in one round: the field
    errors of its format, and every network rule that can be checked from the parts that are
    valid (gate and direction, date and the gate's calendar, goods permitted at the gate,
    quarantine certificates, payload). Warnings come only with a valid declaration."""
    today = now.astimezone(LOCAL_TZ).date()
    try:
        data = DeclarationIn.model_validate(document)
    except PydanticValidationError as exc:
        _, rules = check_declaration(facts_of_document(document), network, today, holidays)
        return Checked(errors=pydantic_fields(exc) + rules)
    facts = _facts(data)
    derived, errors = check_declaration(facts, network, today, holidays)
    if errors or derived is None:
        return Checked(errors=errors)
    return Checked(data=data, derived=derived, warnings=plausibility(facts, network))


def warnings_of(row: Declaration, network: Network) -> list[DeclarationWarning]:
    """The plausibility warnings of a stored declaration's figures."""
    return plausibility(_facts(DeclarationIn.model_validate(input_document(row))), network)


def _check_declarant(principal: Principal, data: DeclarationIn) -> None:
    """An enterprise declares for itself, or as the customs agent named on the declaration."""
    if Role.ADMIN in principal.roles:
        return
    if not may_change_declaration(principal, data.enterprise.tax_code,
                                  data.customs_agent_tax_code):
        raise Forbidden(
            "you may only declare for your own enterprise, or as its customs agent",
            field="enterprise.tax_code",
        )


def _validate(
    data: DeclarationIn, network: Network, now: datetime,
    holidays: Mapping[str, Collection[date]],
) -> Derived:
    today = now.astimezone(LOCAL_TZ).date()
    derived, errors = check_declaration(_facts(data), network, today, holidays)
    if errors or derived is None:
        raise ValidationFailed(errors)
    return derived


def _apply(row: Declaration, data: DeclarationIn, derived: Derived, network: Network) -> None:
    goods = []
    for g in data.goods:
        line = g.model_dump(mode="json")
        line["value_usd"] = money_out(money_in(g.value_usd))
        group = network.group_for_hs(g.hs_code)
        line["group"] = group.code if group else None
        goods.append(line)
    row.direction = data.direction
    row.flow = derived.flow
    row.enterprise_tax_code = data.enterprise.tax_code
    row.enterprise_name = data.enterprise.name
    row.customs_agent_tax_code = data.customs_agent_tax_code
    row.requested_gate = data.requested_gate
    row.requested_date = data.requested_date
    row.perishable = derived.perishable
    row.quarantine_kind = derived.quarantine_kind
    row.goods = goods
    row.vehicles = [v.model_dump(mode="json") for v in data.vehicles]
    row.quarantine = [q.model_dump(mode="json") for q in data.quarantine]
    row.note = data.note
    row.total_net_weight_kg = sum(g.net_weight_kg for g in data.goods)
    row.total_value_usd_cents = sum(money_in(g.value_usd) for g in data.goods)


def _index_vehicles(session: Session, row: Declaration, data: DeclarationIn) -> None:
    session.execute(delete(DeclarationVehicle).where(DeclarationVehicle.declaration_id == row.id))
    for i, v in enumerate(data.vehicles):
        session.add(
            DeclarationVehicle(
                declaration_id=row.id,
                position=i,
                plate_key=plate_key(v.plate),
                driver_document=v.driver.document_number,
            )
        )


def snapshot(row: Declaration) -> dict[str, Any]:
    """The stored declaration as a JSON document (for the audit log and amendments)."""
    return {
        "reference": row.reference,
        "status": row.status,
        "revision": row.revision,
        **input_document(row),
        "flow": row.flow,
        "perishable": row.perishable,
        "quarantine_kind": row.quarantine_kind,
    }


def input_document(row: Declaration) -> dict[str, Any]:
    """The declaration as the declarant would submit it (what amendments patch).

    A deep copy: changing it never touches the stored row.
    """
    goods = [{k: v for k, v in g.items() if k != "group"} for g in row.goods]
    return copy.deepcopy({
        "direction": row.direction,
        "flow": row.flow,
        "enterprise": {"tax_code": row.enterprise_tax_code, "name": row.enterprise_name},
        "customs_agent_tax_code": row.customs_agent_tax_code,
        "requested_gate": row.requested_gate,
        "requested_date": row.requested_date.isoformat(),
        "goods": goods,
        "vehicles": row.vehicles,
        "quarantine": row.quarantine,
        "note": row.note,
    })


def create(
    session: Session,
    data: DeclarationIn,
    *,
    actor: Principal,
    now: datetime,
    network: Network,
    holidays: Mapping[str, Collection[date]],
) -> Declaration:
    _check_declarant(actor, data)
    derived = _validate(data, network, now, holidays)
    reference = new_reference()
    while session.scalar(select(Declaration.id).where(Declaration.reference == reference)):
        reference = new_reference()
    row = Declaration(
        id=str(uuid.uuid4()),
        reference=reference,
        status="submitted",
        revision=1,
        created_by=actor.id,
        created_at=now,
        updated_at=now,
    )
    _apply(row, data, derived, network)
    session.add(row)
    session.flush()
    _index_vehicles(session, row, data)
    audit.record(session, actor=actor, action="declaration.create", target_type="declaration",
                 target_id=row.id, at=now, after=snapshot(row))
    trips.create_for_declaration(session, row, network, actor=actor, now=now)
    return row


def get(session: Session, id_or_ref: str, *, actor: Principal, network: Network | None,
        for_update: bool = False) -> Declaration:
    row = repository.find_visible(session, scope_for(actor, network), id_or_ref,
                                  for_update=for_update)
    if row is None:
        raise NotFound(f"no declaration '{id_or_ref}' that you may see")
    return row


def list_page(
    session: Session, f: repository.ListFilter, page: int, size: int, *, actor: Principal,
    network: Network | None,
) -> tuple[list[Declaration], int]:
    return repository.page(session, scope_for(actor, network), f, page, size)


def _changeable(session: Session, row: Declaration, actor: Principal, if_match: int | None
                ) -> None:
    if not may_change_declaration(actor, row.enterprise_tax_code, row.customs_agent_tax_code):
        raise Forbidden("only the declaring enterprise or its customs agent may change this")
    if row.status not in AMENDABLE:
        raise Conflict(f"a {row.status} declaration can no longer be changed",
                       code="not_amendable")
    if if_match is not None and if_match != row.revision:
        raise Conflict(
            f"the declaration has changed (revision {row.revision}, you had {if_match}); "
            "reload it and amend again",
            status_code=412,
            code="revision_mismatch",
        )
    trips.check_not_started(session, row)


def amend(
    session: Session,
    id_or_ref: str,
    patch: dict[str, Any],
    *,
    actor: Principal,
    now: datetime,
    network: Network,
    holidays: Mapping[str, Collection[date]],
    if_match: int | None = None,
    item: tuple[str, int] | None = None,
) -> Declaration:
    """Amend a submitted declaration with a JSON Merge Patch.

    Without ``item`` the patch applies to the whole document (lists such as ``goods`` and
    ``vehicles`` are replaced whole). With ``item=("vehicles", 1)`` it applies to one goods line,
    vehicle (with its driver) or quarantine certificate, counted from 1.
    """
    row = get(session, id_or_ref, actor=actor, network=network, for_update=True)
    _changeable(session, row, actor, if_match)
    if not isinstance(patch, dict) or not patch:
        raise ValidationFailed([FieldError("body", "give at least one field to change")])
    document = input_document(row)
    if item is None:
        for forbidden in ("id", "reference", "status", "revision"):
            if forbidden in patch:
                raise ValidationFailed([FieldError(forbidden, "cannot be amended")])
        document = merge_patch(document, patch)
    else:
        section, position = item
        items: list[Any] = document[section]
        if not 1 <= position <= len(items):
            raise NotFound(f"{section} has {len(items)} item(s); there is no item {position}")
        items[position - 1] = merge_patch(items[position - 1], patch)
    return _store_amendment(session, row, document, actor=actor, now=now, network=network,
                            holidays=holidays)


def _store_amendment(
    session: Session,
    row: Declaration,
    document: dict[str, Any],
    *,
    actor: Principal,
    now: datetime,
    network: Network,
    holidays: Mapping[str, Collection[date]],
) -> Declaration:
    # Round-trip through JSON so the amended document is validated exactly like a new one;
    # a bad field and the network rules the rest breaks are reported together.
    try:
        data = DeclarationIn.model_validate_json(json.dumps(document))
    except PydanticValidationError as exc:
        today = now.astimezone(LOCAL_TZ).date()
        _, rules = check_declaration(facts_of_document(document), network, today, holidays)
        raise ValidationFailed(pydantic_fields(exc) + rules) from None
    if data.model_dump(mode="json") == DeclarationIn.model_validate_json(
        json.dumps(input_document(row))
    ).model_dump(mode="json"):
        return row  # nothing changed: no new revision, no audit noise
    _check_declarant(actor, data)
    derived = _validate(data, network, now, holidays)
    before = snapshot(row)
    _apply(row, data, derived, network)
    row.revision += 1
    row.updated_at = now
    _index_vehicles(session, row, data)
    session.flush()
    audit.record(session, actor=actor, action="declaration.amend", target_type="declaration",
                 target_id=row.id, at=now, before=before, after=snapshot(row))
    trips.sync_declaration(session, row, network, actor=actor, now=now)
    return row


def cancel(
    session: Session, id_or_ref: str, reason: str, *, actor: Principal, now: datetime,
    network: Network | None,
) -> Declaration:
    row = get(session, id_or_ref, actor=actor, network=network, for_update=True)
    if row.status == "cancelled":
        return row
    _changeable(session, row, actor, None)
    before = snapshot(row)
    row.status = "cancelled"
    row.cancelled_at = now
    row.cancel_reason = reason
    row.updated_at = now
    row.revision += 1
    audit.record(session, actor=actor, action="declaration.cancel", target_type="declaration",
                 target_id=row.id, at=now, before=before, after=snapshot(row))
    trips.cancel_for_declaration(session, row, reason, actor=actor, now=now, network=network)
    return row


def to_out(row: Declaration, api_base: str) -> dict[str, Any]:
    """The API representation (see ``DeclarationOut``)."""
    doc = input_document(row)
    return {
        "id": row.id,
        "reference": row.reference,
        "status": row.status,
        "revision": row.revision,
        **doc,
        "goods": row.goods,
        "perishable": row.perishable,
        "quarantine_kind": row.quarantine_kind,
        "total_net_weight_kg": row.total_net_weight_kg,
        "total_value_usd": money_out(row.total_value_usd_cents),
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
        "cancel_reason": row.cancel_reason,
        "qr_png": f"{api_base}/declarations/{row.id}/qr.png",
        "qr_svg": f"{api_base}/declarations/{row.id}/qr.svg",
    }


def qr_payload(row: Declaration, public_base_url: str) -> str:
    """What the QR code holds: a link officers' scanners open or type into a search field."""
    return f"{public_base_url.rstrip('/')}/d/{row.reference}"


def plate_search_key(text: str) -> str:
    try:
        return parse_plate(text).key
    except ValueError:
        return plate_key(text)
