"""The border-gate infrastructure fee: the tariff as data and the fee of one trip.

A tariff is shaped like Lang Son's fee schedule (Resolution 09/2025 of the provincial People's
Council): a fee per trip by **vehicle category** (payload-tonnage bands, 20ft and 40ft
containers) and **goods class** (e.g. fresh fruit and vegetables, ordinary goods, goods
temporarily imported for re-export), then **multipliers** that depend on the customs regime,
the direction and the procedure (e.g. 130% for imports for domestic delivery, 30% for
transshipment only). A mixed load pays the highest applicable rate. Money is integer VND.

Pure: no database, no clock. The fee that applies to a trip is computed with the tariff in
force when the trip enters the gate area (the caller picks the tariff).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from borderflow.domain.network import Names
from borderflow.errors import FieldError, msg

TARIFF_FORMAT = 1


@dataclass(frozen=True)
class VehicleCategory:
    """A vehicle category: a payload band ``[min_payload_tonnes, max_payload_tonnes)`` for
    trucks without a container, or a container size."""

    code: str
    name: Names
    container: str = "none"
    min_payload_tonnes: Decimal = Decimal(0)
    max_payload_tonnes: Decimal | None = None

    def __post_init__(self) -> None:
        if self.container not in ("none", "20ft", "40ft"):
            raise ValueError(msg("container must be none, 20ft or 40ft"))
        if self.max_payload_tonnes is not None and \
                self.max_payload_tonnes <= self.min_payload_tonnes:
            raise ValueError(msg("max_payload_tonnes must be above min_payload_tonnes"))

    def fits(self, payload_tonnes: Decimal, container: str) -> bool:
        if container != self.container:
            return False
        if container != "none":
            return True
        return self.min_payload_tonnes <= payload_tonnes and (
            self.max_payload_tonnes is None or payload_tonnes < self.max_payload_tonnes)


@dataclass(frozen=True)
class Condition:
    """When a goods class or a multiplier applies; an empty list means any."""

    regimes: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    procedures: tuple[str, ...] = ()

    def holds(self, regime: str, flow: str, procedure: str) -> bool:
        return ((not self.regimes or regime in self.regimes)
                and (not self.flows or flow in self.flows)
                and (not self.procedures or procedure in self.procedures))


@dataclass(frozen=True)
class GoodsClass:
    """A goods class of the tariff: the network's goods groups it covers (empty: any) and the
    regimes, directions or procedures it is limited to."""

    code: str
    name: Names
    goods_groups: tuple[str, ...] = ()
    when: Condition = field(default_factory=Condition)

    def covers(self, group: str | None, regime: str, flow: str, procedure: str) -> bool:
        if self.goods_groups and group not in self.goods_groups:
            return False
        return self.when.holds(regime, flow, procedure)


@dataclass(frozen=True)
class Multiplier:
    """A percentage applied to the rate when its condition holds (several multiply)."""

    code: str
    name: Names
    percent: int
    when: Condition = field(default_factory=Condition)

    def __post_init__(self) -> None:
        if not 0 <= self.percent <= 1000:
            raise ValueError(msg("percent must be between 0 and 1000"))


@dataclass(frozen=True)
class Tariff:
    """One version of the fee schedule."""

    format_version: int
    version: str
    title: Names
    legal_basis: str
    effective_from: datetime
    vehicle_categories: tuple[VehicleCategory, ...]
    goods_classes: tuple[GoodsClass, ...]
    rates: dict[str, dict[str, int]]
    """goods class -> vehicle category -> VND per trip."""
    multipliers: tuple[Multiplier, ...] = ()
    effective_to: datetime | None = None
    currency: str = "VND"
    notes: str | None = None

    def problems(self) -> list[FieldError]:
        """Cross-reference checks a single dataclass cannot make on its own."""
        out: list[FieldError] = []
        if self.format_version != TARIFF_FORMAT:
            out.append(FieldError("format_version", msg(
                "unsupported format {found}; this version reads {supported}",
                found=str(self.format_version), supported=str(TARIFF_FORMAT))))
        if self.currency != "VND":
            out.append(FieldError("currency", msg("fees are in VND")))
        naive = [name for name, at in (("effective_from", self.effective_from),
                                       ("effective_to", self.effective_to))
                 if at is not None and at.tzinfo is None]
        for name in naive:
            out.append(FieldError(name, msg("give a timezone, e.g. 2026-12-01T00:00:00+07:00")))
        if not naive and self.effective_to is not None and \
                self.effective_to <= self.effective_from:
            out.append(FieldError("effective_to", msg("must be after effective_from")))
        categories = [c.code for c in self.vehicle_categories]
        classes = [c.code for c in self.goods_classes]
        for name, codes in (("vehicle_categories", categories), ("goods_classes", classes),
                            ("multipliers", [m.code for m in self.multipliers])):
            dupes = sorted({c for c in codes if codes.count(c) > 1})
            if dupes:
                out.append(FieldError(name, msg("duplicate codes: {codes}", codes=dupes)))
        if not any(not c.goods_groups and c.when == Condition() for c in self.goods_classes):
            out.append(FieldError("goods_classes", msg("one class must cover any goods (no "
                                                       "goods_groups and no conditions)")))
        for cls in classes:
            row = self.rates.get(cls)
            if row is None:
                out.append(FieldError(f"rates.{cls}", msg("no rates for this goods class")))
                continue
            missing = [c for c in dict.fromkeys(categories) if c not in row]
            if missing:
                out.append(FieldError(f"rates.{cls}", msg("no rate for {codes}", codes=missing)))
        for cls, row in self.rates.items():
            if cls not in classes:
                out.append(FieldError(f"rates.{cls}", msg("not a goods class of the tariff")))
            for cat, amount in row.items():
                if cat not in categories:
                    out.append(FieldError(f"rates.{cls}.{cat}", msg("not a vehicle category")))
                elif amount < 0 or amount % 1 != 0:
                    out.append(FieldError(f"rates.{cls}.{cat}", msg(
                        "must be a whole, non-negative number of VND")))
        return out

    def in_force(self, at: datetime) -> bool:
        return self.effective_from <= at and (self.effective_to is None or at < self.effective_to)

    def category_for(self, payload_tonnes: Decimal, container: str) -> VehicleCategory | None:
        return next((c for c in self.vehicle_categories if c.fits(payload_tonnes, container)),
                    None)


@dataclass(frozen=True)
class Line:
    code: str
    description: str
    """In English; the Vietnamese and Chinese follow."""
    amount: int
    description_vi: str = ""
    description_zh: str = ""


@dataclass(frozen=True)
class Assessment:
    """The fee of one trip: line items and their total (integer VND)."""

    tariff_version: str
    vehicle_category: str
    goods_class: str
    lines: tuple[Line, ...]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


class NoRate(ValueError):
    """The tariff has no rate for the vehicle (e.g. no category fits its payload)."""


def assess(tariff: Tariff, *, payload_tonnes: Decimal, container: str,
           goods_groups: tuple[str, ...] | list[str], regime: str, flow: str,
           procedure: str) -> Assessment:
    """The fee of one trip under ``tariff``. Each goods group of the load falls in the tariff's
    specific classes that cover it (by goods group, regime, direction, procedure), or else in
    the catch-all class; the load pays the highest of their rates for its vehicle category (a
    mixed load pays the highest applicable rate). Then each applicable multiplier in turn,
    rounded down to whole VND."""
    category = tariff.category_for(payload_tonnes, container)
    if category is None:
        if container == "none":
            raise NoRate(msg("no vehicle category of tariff {version} fits a payload of {tonnes} "
                             "t without a container", version=tariff.version,
                             tonnes=payload_tonnes))
        raise NoRate(msg("no vehicle category of tariff {version} fits a payload of {tonnes} t "
                         "with container '{container}'", version=tariff.version,
                         tonnes=payload_tonnes, container=container))
    catch_all = next(c for c in tariff.goods_classes
                     if not c.goods_groups and c.when == Condition())
    best: tuple[int, GoodsClass] = (-1, catch_all)
    load: list[str | None] = [*goods_groups] or [None]
    for group in load:
        # the specific classes covering this goods group, or else the catch-all
        specific = [c for c in tariff.goods_classes if c is not catch_all
                    and c.covers(group, regime, flow, procedure)] or [catch_all]
        for cls in specific:
            rate = tariff.rates[cls.code][category.code]
            if rate > best[0]:
                best = (rate, cls)
    rate, cls = best
    lines = [Line("base", f"{category.name.en}, {cls.name.en}", rate,
                  f"{category.name.vi}, {cls.name.vi}", f"{category.name.zh}，{cls.name.zh}")]
    amount = rate
    for m in tariff.multipliers:
        if m.when.holds(regime, flow, procedure):
            adjusted = amount * m.percent // 100
            lines.append(Line(m.code, f"{m.name.en} ({m.percent}%)", adjusted - amount,
                              f"{m.name.vi} ({m.percent}%)", f"{m.name.zh}（{m.percent}%）"))
            amount = adjusted
    return Assessment(tariff.version, category.code, cls.code, tuple(lines))


# --- reconciliation ------------------------------------------------------------------------------


class PaymentLike(Protocol):
    amount: int
    refunded_amount: int | None
    status: str


UNOWED = frozenset({"waived", "void", "refunded"})
"""Invoice statuses that owe nothing."""


def kept(payments: Iterable[PaymentLike]) -> int:
    """Money kept from an invoice's payments: completed and refunded ones, less what was
    refunded; voided entries count for nothing."""
    return sum(p.amount - (p.refunded_amount or 0) for p in payments if p.status != "voided")


def owed(total: int, status: str, kept_vnd: int) -> int:
    """What an invoice still owes: nothing when waived, void or refunded, else its total less
    the money kept (never below zero)."""
    return 0 if status in UNOWED else max(0, total - kept_vnd)


@dataclass(frozen=True)
class Entry:
    """One online payment, as the gateway's statement or our books have it (VND)."""

    txn_ref: str
    amount: int
    refunded: int = 0
    transaction_no: str = ""


def reconcile(theirs: list[Entry], ours: list[Entry]) -> dict[str, list[dict[str, object]]]:
    """Compare a gateway statement with our payments of the same period: ``matched``,
    ``missing_ours`` (the gateway took money we have no payment for: a callback that never
    arrived), ``missing_theirs`` (we recorded a payment the gateway does not list), and
    ``amount_mismatch`` (same order, different amount or refund), and ``duplicates`` (an order
    the statement lists more than once). Pure; the order of the input does not matter; each
    order reference appears in exactly one of the first four lists."""
    mine = {e.txn_ref: e for e in ours}
    seen: set[str] = set()
    out: dict[str, list[dict[str, object]]] = {
        "matched": [], "missing_ours": [], "missing_theirs": [], "amount_mismatch": [],
        "duplicates": []}
    for t in sorted(theirs, key=lambda e: (e.txn_ref, e.amount, e.refunded)):
        if t.txn_ref in seen:
            out["duplicates"].append({"txn_ref": t.txn_ref, "amount": t.amount})
            continue
        seen.add(t.txn_ref)
        o = mine.get(t.txn_ref)
        if o is None:
            out["missing_ours"].append({"txn_ref": t.txn_ref, "amount": t.amount,
                                        "transaction_no": t.transaction_no})
        elif (o.amount, o.refunded) != (t.amount, t.refunded):
            out["amount_mismatch"].append({
                "txn_ref": t.txn_ref, "ours": o.amount, "theirs": t.amount,
                "refunded_ours": o.refunded, "refunded_theirs": t.refunded})
        else:
            out["matched"].append({"txn_ref": t.txn_ref, "amount": t.amount})
    for o in sorted(ours, key=lambda e: e.txn_ref):
        if o.txn_ref not in seen:
            out["missing_theirs"].append({"txn_ref": o.txn_ref, "amount": o.amount,
                                          "transaction_no": o.transaction_no})
    return out
