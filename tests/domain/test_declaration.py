"""Declaration rules of the pure domain: plausibility warnings (an implausibly light load, a value
per kilogram outside the goods group's usual range) next to the payload error, and the network
rules checked on what is known of a declaration, so that a form shows every problem at once."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import cache

from hypothesis import given
from hypothesis import strategies as st

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.domain.declaration import (
    DeclarationFacts,
    GoodsFacts,
    VehicleFacts,
    check_declaration,
    plausibility,
)
from borderflow.domain.network import Network, ValueRange
from borderflow.errors import Text
from borderflow.network import service as networks
from borderflow.network.holidays import around

TODAY = date(2026, 11, 23)
HOLIDAYS = around(TODAY)
FRUIT = "081090"  # fresh-fruit: plant quarantine, usual 0.1–15 USD/kg


@cache
def _network() -> Network:
    return networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))


def _facts(weight_kg: int | None = 15_000, payload_t: str | None = "18",
           value_cents: int | None = 2_100_050, hs: str | None = FRUIT,
           **changes: object) -> DeclarationFacts:
    facts = DeclarationFacts(
        direction="export", flow=None, gate="huu-nghi", requested_date=date(2026, 11, 25),
        goods=[GoodsFacts(hs, weight_kg, value_cents)],
        vehicles=[VehicleFacts("29C80001", None,
                               Decimal(payload_t) if payload_t is not None else None)],
        quarantine_kinds=["plant"])
    return replace(facts, **changes)  # type: ignore[arg-type]


def _codes(facts: DeclarationFacts) -> list[tuple[str, str]]:
    return [(w.field, w.code) for w in plausibility(facts, _network())]


def test_a_plausible_declaration_has_no_warning_and_is_accepted() -> None:
    facts = _facts()
    derived, errors = check_declaration(facts, _network(), TODAY, HOLIDAYS)
    assert errors == []
    assert derived is not None
    assert derived.groups == ("fresh-fruit",)
    assert plausibility(facts, _network()) == []


def test_fifteen_kilograms_of_fruit_on_an_eighteen_tonne_truck_is_a_warning() -> None:
    """`15.000` kg read as 15 kg (a thousands separator taken for a decimal point)."""
    facts = _facts(weight_kg=15, value_cents=2_100_050)
    derived, errors = check_declaration(facts, _network(), TODAY, HOLIDAYS)
    assert errors == []
    assert derived is not None
    warnings = plausibility(facts, _network())
    assert [(w.field, w.code) for w in warnings] == [
        ("goods[0].net_weight_kg", "light_load"),
        ("goods[0].value_usd", "value_per_kg_high"),  # 1,400 USD per kg of dragon fruit
    ]
    light = warnings[0].message
    assert isinstance(light, Text)  # shown in the page's language
    assert light == ("total net weight 15 kg is under 5% of the vehicles' payload (18,000 kg); "
                     "check the weights (in kg) and the payload (in tonnes)")
    assert light.params["weight"] == 15
    assert warnings[1].message.startswith("1400.03 USD per kg is above the usual range for "
                                          "fresh-fruit (0.1 to 15 USD per kg)")
    assert warnings[0].as_dict()["code"] == "light_load"


def test_a_light_load_of_several_lines_is_flagged_on_the_goods() -> None:
    facts = _facts(goods=[GoodsFacts(FRUIT, 100, 20_000), GoodsFacts(FRUIT, 200, 40_000)])
    assert _codes(facts) == [("goods", "light_load")]


def test_a_value_per_kilogram_below_the_groups_range_is_a_warning() -> None:
    # 15 t of dragon fruit declared at 21 USD: 0.0014 USD per kg
    assert _codes(_facts(value_cents=2_100)) == [("goods[0].value_usd", "value_per_kg_low")]
    # a group without a usual range is not checked
    network = _network()
    bare = replace(network, goods=tuple(replace(g, value_usd_per_kg=None)
                                        for g in network.goods))
    assert plausibility(_facts(value_cents=2_100), bare) == []


def test_the_usual_range_is_read_from_the_network_file() -> None:
    fruit = _network().group("fresh-fruit")
    assert fruit is not None
    assert fruit.value_usd_per_kg == ValueRange(0.1, 15)
    assert all(g.value_usd_per_kg is not None for g in _network().goods)


def test_a_load_over_the_payload_stays_an_error_not_a_warning() -> None:
    facts = _facts(weight_kg=18_001)
    derived, errors = check_declaration(facts, _network(), TODAY, HOLIDAYS)
    assert derived is None
    assert [(e.field, e.reason) for e in errors] == [
        ("goods", "total net weight 18,001 kg exceeds the vehicles' payload (18,000 kg); "
                  "add a vehicle or correct the weights")]
    assert _codes(facts) == []


@given(payload_centitonnes=st.integers(min_value=1, max_value=10_000),
       share=st.fractions(min_value=Decimal("0.05"), max_value=1),
       lines=st.integers(min_value=1, max_value=4))
def test_a_weight_within_5_to_100_percent_of_the_payload_is_never_flagged(
    payload_centitonnes: int, share: Fraction, lines: int
) -> None:
    """Whatever the payload (0.01–100 t, at most 2 decimals) and however the weight is split
    over the goods lines: a total between 5 % and 100 % of the payload is neither a warning nor
    an error."""
    payload_kg = payload_centitonnes * 10
    low = -(-payload_kg // 20)  # the lightest whole kilogram at or above 5 %
    total = max(low, min(payload_kg, int(payload_kg * share)))
    if total < lines:
        lines = 1
    weights = [total // lines] * lines
    weights[0] += total - sum(weights)
    facts = _facts(payload_t=str(Decimal(payload_centitonnes) / 100),
                   goods=[GoodsFacts(FRUIT, w, w * 150) for w in weights])  # 1.50 USD/kg
    _, errors = check_declaration(facts, _network(), TODAY, HOLIDAYS)
    assert not [e for e in errors if e.field == "goods"]
    assert not [w for w in plausibility(facts, _network()) if w.code == "light_load"]


def test_the_rules_are_checked_on_what_is_known() -> None:
    """A declaration whose date, plate and one weight could not be read: the other rules are
    still checked (and nothing is derived)."""
    network = _network()
    export_only = next(g for g in network.gates if "import" not in g.directions)
    facts = _facts(direction="import", requested_date=None, gate=export_only.code,
                   weight_kg=None, quarantine_kinds=[])
    derived, errors = check_declaration(facts, network, TODAY, HOLIDAYS)
    assert derived is None
    fields = {e.field: e.reason for e in errors}
    assert "does not take import traffic" in fields["requested_gate"]
    assert "plant quarantine certificate is required" in fields["quarantine"]
    assert "goods" not in fields  # the payload is not checked on a partial weight
    assert plausibility(facts, network) == []
    # nothing known at all: no rule to check, no error invented
    empty = DeclarationFacts(direction=None, flow=None, gate=None, requested_date=None,
                             goods=[], vehicles=[], quarantine_kinds=[])
    assert check_declaration(empty, network, TODAY, HOLIDAYS) == (None, [])


def test_a_closed_day_names_the_gates_open_that_day_in_the_pages_language() -> None:
    network = _network()
    closed = next(
        (g, day) for g in network.gates for n in range(60)
        if (day := date.fromordinal(TODAY.toordinal() + n))
        and (cal := network.calendar(g.calendar)) is not None
        and cal.hours_on(day, HOLIDAYS).is_closed and "export" in g.directions
        and g.permits_group("fresh-fruit"))
    gate, day = closed
    _, errors = check_declaration(_facts(gate=gate.code, requested_date=day), network, TODAY,
                                  HOLIDAYS)
    reason = next(e.reason for e in errors if e.field == "requested_date")
    assert reason.startswith(f"gate '{gate.code}' is closed on {day.isoformat()}")
    assert isinstance(reason, Text)
    assert reason.params["gate"] == gate.code
    assert reason.params["day"] == day
