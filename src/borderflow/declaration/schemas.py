"""API shapes of declarations. Field formats are checked by the domain's value parsers."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from borderflow.domain.declaration import (
    MAX_GOODS_LINES,
    MAX_VEHICLES,
    Container,
    Direction,
    VehicleType,
)
from borderflow.domain.network import Flow
from borderflow.domain.values import (
    DocumentType,
    cents_to_usd,
    parse_document,
    parse_hs_code,
    parse_phone,
    parse_plate,
    parse_tax_code,
    usd_to_cents,
)
from borderflow.fieldtypes import Day

TaxCode = Annotated[str, Field(max_length=20), AfterValidator(parse_tax_code)]
HsCode = Annotated[str, Field(max_length=20), AfterValidator(parse_hs_code)]
Phone = Annotated[str, Field(max_length=30), AfterValidator(parse_phone)]
PlateText = Annotated[str, Field(max_length=20), AfterValidator(lambda v: parse_plate(v).text)]
Text = Annotated[str, Field(min_length=1, max_length=500)]

Unit = Literal["kg", "tonne", "piece", "carton", "bag", "box", "crate", "pallet", "litre",
               "m3", "head", "set", "roll", "bale"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EnterpriseIn(_In):
    tax_code: TaxCode = Field(description="Vietnamese tax code: 10 digits, or 10+3 (branch).",
                              examples=["0100109106"])
    name: Text = Field(description="Registered name of the declaring enterprise.")


class GoodsLineIn(_In):
    hs_code: HsCode = Field(description="HS code, 4 to 10 digits.", examples=["08109000"])
    description: Text
    quantity: Decimal = Field(gt=0, max_digits=14, decimal_places=3)
    unit: Unit
    net_weight_kg: int = Field(gt=0, le=200_000, description="Net weight in kilograms.")
    value_usd: Decimal = Field(
        ge=0, max_digits=15, decimal_places=2,
        description="Declared value in US dollars (at most 2 decimals).", examples=["12500.00"],
    )

    @field_validator("value_usd", mode="before")
    @classmethod
    def _money_not_float_noise(cls, v: Any) -> Any:
        return str(v) if isinstance(v, float) else v


class DriverIn(_In):
    name: Text
    document_type: DocumentType = Field(
        description="vn_citizen_id (12 digits), vn_id_card (9), passport, cn_resident_id, "
                    "border_pass."
    )
    document_number: str = Field(min_length=1, max_length=40)
    phone: Phone = Field(description="Phone number; national numbers are read as Vietnamese.",
                         examples=["0912345678"])
    crosses_border: bool = Field(
        default=False,
        description="The driver drives across into the partner country (needs the medical "
                    "examination step).",
    )

    @field_validator("document_number")
    @classmethod
    def _document_matches_type(cls, v: str, info: ValidationInfo) -> str:
        doc_type = info.data.get("document_type")
        if doc_type is None:  # the type itself is invalid and reported on its own
            return v
        return parse_document(doc_type, v)


class VehicleIn(_In):
    plate: PlateText = Field(description="Vietnamese (29C-123.45, 12H-01234) or Chinese plate.",
                             examples=["29C-123.45"])
    trailer_plate: PlateText | None = Field(default=None, examples=["29R-012.34"])
    vehicle_type: VehicleType
    payload_tonnes: Decimal = Field(gt=0, le=100, max_digits=6, decimal_places=2)
    container: Container = "none"
    driver: DriverIn


class QuarantineIn(_In):
    kind: Literal["plant", "animal"]
    certificate_number: str = Field(min_length=3, max_length=60)
    issued_by: str | None = Field(default=None, max_length=200)


class DeclarationIn(_In):
    """A pre-arrival declaration as submitted by an enterprise or its customs agent."""

    direction: Direction = Field(description="Customs regime of the goods.")
    flow: Flow | None = Field(
        default=None,
        description="Direction at the gate: export (leaving Vietnam) or import. Derived for "
                    "export and import; required for the other regimes.",
    )
    enterprise: EnterpriseIn
    customs_agent_tax_code: TaxCode | None = Field(
        default=None, description="Tax code of the customs agent declaring on the enterprise's "
                                  "behalf, if any."
    )
    requested_gate: str = Field(min_length=1, max_length=40, examples=["huu-nghi"])
    requested_date: Day
    goods: list[GoodsLineIn] = Field(min_length=1, max_length=MAX_GOODS_LINES)
    vehicles: list[VehicleIn] = Field(min_length=1, max_length=MAX_VEHICLES)
    quarantine: list[QuarantineIn] = Field(
        default_factory=list, max_length=50,
        description="Quarantine certificates; required when the goods need plant or animal "
                    "quarantine.",
    )
    note: str | None = Field(default=None, max_length=2000)


class CancelIn(_In):
    reason: str = Field(min_length=3, max_length=500)


class GoodsLineOut(BaseModel):
    hs_code: str
    description: str
    quantity: Decimal
    unit: str
    net_weight_kg: int
    value_usd: str
    group: str | None = None


class DeclarationWarningOut(BaseModel):
    """A figure that is allowed but implausible; the declaration is stored all the same."""

    field: str = Field(description="Where: `goods[0].net_weight_kg`, `goods[1].value_usd`...",
                       examples=["goods[0].net_weight_kg"])
    code: Literal["light_load", "value_per_kg_low", "value_per_kg_high"] = Field(
        description="`light_load`: the total net weight is under 5 % of the vehicles' "
                    "payload; `value_per_kg_low` / `value_per_kg_high`: a line's value per "
                    "kilogram is outside the usual range of its goods group (the network's "
                    "`value_usd_per_kg`).")
    message: str = Field(description="What to check, in English.")


class DeclarationOut(BaseModel):
    id: str
    reference: str
    status: Literal["submitted", "cancelled"]
    revision: int
    direction: Direction
    flow: Flow
    enterprise: EnterpriseIn
    customs_agent_tax_code: str | None
    requested_gate: str
    requested_date: date
    goods: list[GoodsLineOut]
    vehicles: list[VehicleIn]
    quarantine: list[QuarantineIn]
    note: str | None
    perishable: bool = Field(description="Derived from the goods catalogue.")
    quarantine_kind: Literal["none", "plant", "animal", "plant_animal"] = Field(
        description="Quarantine the goods need, derived from the goods catalogue."
    )
    total_net_weight_kg: int
    total_value_usd: str
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    qr_png: str
    qr_svg: str
    warnings: list[DeclarationWarningOut] = Field(
        default_factory=list,
        description="Plausibility warnings about the figures as sent, in the answers of "
                    "`POST` and `PATCH` (empty elsewhere): an implausibly light load, a value "
                    "per kilogram far outside the goods group's usual range. They never block "
                    "the declaration; check the figures and amend if they are wrong.",
    )


class DeclarationPage(BaseModel):
    items: list[DeclarationOut]
    total: int
    page: int
    page_size: int


def money_out(cents: int) -> str:
    return cents_to_usd(cents)


def money_in(value: Decimal) -> int:
    return usd_to_cents(format(value, "f"))
