"""The reference network file: it loads, it round-trips, and it holds the Lang Son facts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.errors import ValidationFailed
from borderflow.network import service as networks


def test_the_file_round_trips_through_the_format() -> None:
    document = networks.read_file(DEFAULT_NETWORK_FILE)
    network = networks.parse(document)
    dumped = networks.dump(network)
    assert networks.parse(dumped) == network
    again = networks.parse(yaml.safe_load(networks.to_yaml(network)))
    assert again == network
    assert networks.dump(again) == dumped


def test_the_lang_son_network_holds_the_documented_facts() -> None:
    n = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    codes = {g.code for g in n.gates}
    assert {"huu-nghi", "tan-thanh-dedicated", "tan-thanh-clearance", "coc-nam", "chi-ma"} <= codes
    assert any(g.kind == "secondary" for g in n.gates)
    landmarks = {g.code: g.landmarks or "" for g in n.gates}
    assert "1088/2" in landmarks["tan-thanh-dedicated"]
    assert "1090" in landmarks["tan-thanh-clearance"]
    assert "1104" in landmarks["coc-nam"]
    park = n.staging_areas[0]
    assert park.vehicles_per_day == 1500
    assert "Viettel" in park.name.en
    for gate in n.gates:
        assert gate.yards, gate.code
        assert n.calendar(gate.calendar) is not None
    # every chapter of the HS nomenclature has a group, so any valid HS code can be declared
    for chapter in range(1, 98):
        if chapter != 77:
            assert n.group_for_hs(f"{chapter:02d}00") is not None, chapter
    assert any(g.perishable and g.quarantine == "plant" for g in n.goods)
    assert any(g.quarantine == "animal" for g in n.goods)


def test_a_broken_file_lists_every_problem(tmp_path: Path) -> None:
    doc = networks.read_file(DEFAULT_NETWORK_FILE)
    doc["gates"][0]["calendar"] = "missing"
    doc["gates"][1]["goods"] = ["not-a-group"]
    doc["gates"].append(dict(doc["gates"][2]))
    with pytest.raises(ValidationFailed) as info:
        networks.parse(doc)
    fields = {f.field for f in info.value.fields}
    assert "gates[0].calendar" in fields
    assert "gates[1].goods[0]" in fields
    assert any(f.startswith("gates[") and f.endswith(".code") for f in fields)
    bad = tmp_path / "bad.yaml"
    bad.write_text("gates: [unclosed")
    with pytest.raises(ValidationFailed, match="not valid YAML"):
        networks.parse(networks.read_file(bad))
