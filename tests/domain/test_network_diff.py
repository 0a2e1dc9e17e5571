"""The preview of a new network or fee schedule: the changes reported are exactly those that
turn the document in force into the new one, and a document compared with itself changes
nothing."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from borderflow.config import DEFAULT_NETWORK_FILE, DEFAULT_TARIFF_FILE
from borderflow.domain import fees_diff, network_diff
from borderflow.domain.network_diff import Entry
from borderflow.fees import tariffs
from borderflow.network import service as networks

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.text(max_size=8))
codes = st.sampled_from(["a", "b", "c", "d", "e", "f"])


def _coded(children: st.SearchStrategy[Any], key: str) -> st.SearchStrategy[list[Any]]:
    """A list of entries named by ``key`` (unique names), like gates or capacity lines."""
    return st.lists(st.tuples(codes, st.dictionaries(st.sampled_from(["x", "y", "z"]),
                                                     children, max_size=3)),
                    unique_by=lambda t: t[0], max_size=5).map(
        lambda items: [{key: name, **body} for name, body in items])


documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["gates", "yards", "capacity", "open", "n"]), children,
                        max_size=4),
        _coded(children, "code"),
        _coded(children, "direction"),
    ),
    max_leaves=25,
)


@given(documents)
def test_a_document_compared_with_itself_changes_nothing(doc: Any) -> None:
    assert network_diff.diff(doc, copy.deepcopy(doc)) == []
    assert network_diff.by_entry([]) == []


@given(documents, documents)
def test_the_changes_reported_turn_the_old_document_into_the_new_one(old: Any, new: Any
                                                                     ) -> None:
    changes = network_diff.diff(old, new)
    kept = copy.deepcopy(old)
    assert network_diff.apply(old, changes) == new
    assert old == kept  # the document given is not touched
    assert (changes == []) == (old == new)


def _mutations() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"gate": st.integers(0, 5), "capacity": st.integers(1, 500),
                                  "drop_yard": st.booleans(), "new_gate": st.booleans()})


NETWORK = networks.dump(networks.parse(networks.read_file(DEFAULT_NETWORK_FILE)))
TARIFF = tariffs.dump(tariffs.parse(tariffs.read_file(DEFAULT_TARIFF_FILE)))


@given(_mutations())
def test_a_changed_capacity_removed_yard_and_added_gate_are_named_by_their_entries(
    m: dict[str, Any]
) -> None:
    new = copy.deepcopy(NETWORK)
    gate = new["gates"][m["gate"]]
    line = gate["capacity"][0]
    old_capacity = line["vehicles_per_hour"]
    line["vehicles_per_hour"] = m["capacity"]
    removed = gate["yards"].pop() if m["drop_yard"] and gate["yards"] else None
    if m["new_gate"]:
        new["gates"].insert(1, {**copy.deepcopy(new["gates"][0]), "code": "new-gate"})
    changes = network_diff.diff(NETWORK, new)
    assert network_diff.apply(NETWORK, changes) == new
    groups = network_diff.by_entry(changes)
    where = (Entry("code", gate["code"]), Entry("direction", line["direction"]))
    if m["capacity"] != old_capacity:
        found = next(g for g in groups if g.entries == where)
        assert found.section == "gates"
        assert [(f.path, f.old, f.new) for f in found.fields] == [
            (("vehicles_per_hour",), old_capacity, m["capacity"])]
    if removed is not None:
        assert any(g.kind == "removed" and g.entries[-1] == Entry("code", removed["code"])
                   for g in groups)
    if m["new_gate"]:
        assert any(g.kind == "added" and g.entries == (Entry("code", "new-gate"),)
                   for g in groups)


@given(st.dictionaries(st.tuples(st.sampled_from(sorted(TARIFF["rates"])),
                                 st.sampled_from(sorted(TARIFF["rates"]["general"]))),
                       st.integers(0, 10**8), max_size=6))
def test_a_tariff_preview_lists_each_changed_line_with_its_old_and_new_amount(
    rates: dict[tuple[str, str], int]
) -> None:
    new = fees_diff.with_rates({**TARIFF, "version": "next"}, rates)
    lines = fees_diff.rate_changes(TARIFF, new)
    expected = {k: (TARIFF["rates"][k[0]][k[1]], v) for k, v in rates.items()
                if TARIFF["rates"][k[0]][k[1]] != v}
    assert {(r.goods_class, r.vehicle_category): (r.old, r.new) for r in lines} == expected
    changes = fees_diff.diff(TARIFF, new)
    assert network_diff.apply(TARIFF, changes) == new
    assert fees_diff.other_changes(changes) == []  # the version is no change of substance
    assert fees_diff.rate_changes(TARIFF, TARIFF) == []


def test_a_changed_closing_hour_is_named_by_its_place_in_the_weekly_hours() -> None:
    new = copy.deepcopy(NETWORK)
    new["calendars"][0]["regular"][0]["close"] = "19:00:00"
    groups = network_diff.by_entry(network_diff.diff(NETWORK, new))
    assert [(g.section, g.entries, [(f.path, f.old, f.new) for f in g.fields])
            for g in groups] == [("calendars", (Entry("code", "key-gate"),),
                                  [(("regular", 0, "close"), "18:00:00", "19:00:00")])]
