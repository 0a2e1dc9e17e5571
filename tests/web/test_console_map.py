"""The console's map shows geography from the reference network (the border, QL1A, the roads
between the park and the gates), labels that never overlap, and charts with axes."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from borderflow.config import DEFAULT_NETWORK_FILE
from borderflow.errors import ValidationFailed
from borderflow.network import service as networks
from borderflow.web import console
from borderflow.web.i18n import Formatter
from tests.conftest import NOW
from tests.web.test_driver import _login

DOCUMENT = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.floats(0, console.WIDTH), st.floats(0, console.HEIGHT),
                          st.text(alphabet="Cửa khẩuTânThanh友谊关 –()", min_size=1,
                                  max_size=40), st.integers(1, 3)),
                min_size=1, max_size=14))
def test_no_two_labels_ever_overlap(gates: list[tuple[float, float, str, int]]) -> None:
    anchors = console.spread([(x, y) for x, y, _t, _n in gates])
    sizes = [(console.text_width(t) + 10, n * console.LINE + 6) for _x, _y, t, n in gates]
    markers = [(x - console.MARKER, y - console.MARKER, 2 * console.MARKER, 2 * console.MARKER)
               for x, y in anchors]
    boxes, height = console.place_labels(anchors, sizes, console.WIDTH, console.HEIGHT, markers)
    assert len(boxes) == len(gates)
    for i, a in enumerate(boxes):
        assert (a[2], a[3]) == sizes[i]
        assert a[0] >= 0
        assert a[0] + a[2] <= console.WIDTH
        assert a[1] >= 0
        assert a[1] + a[3] <= height
        for b in boxes[i + 1:]:
            assert not console.overlaps(a, b), (a, b)
        if a[1] + a[3] <= console.HEIGHT:  # beside its place: never over a marker
            assert not any(console.overlaps(a, m) for m in markers)


def test_the_lang_son_map_has_the_border_the_highway_and_the_roads() -> None:
    network = networks.parse(DOCUMENT)
    assert network.map is not None
    assert network.map.border is not None
    drawing = console.draw(network, [], Formatter("vi", network), [], NOW)
    kinds = {line.code: line.kind for line in drawing.lines}
    assert kinds["vn-cn-border"] == "border"
    assert kinds["ql1a"] == "highway"
    assert {"park-access", "tan-thanh-road", "coc-nam-road"} <= set(kinds)
    assert drawing.height == drawing.map_height  # every label found room beside its place
    boxes = [label.box for label in drawing.labels]
    assert not any(console.overlaps(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert {label.lines[0] for label in drawing.labels} >= {"Hữu Nghị", "Cốc Nam", "Chi Ma"}
    # north is up: the gates lie north of the park, Chi Ma east of Huu Nghi
    at = {n.code: n for n in drawing.nodes}
    assert at["huu-nghi"].at_y < at["viettel-logistics-park"].at_y
    assert at["chi-ma"].at_x > at["huu-nghi"].at_x


def test_the_map_section_is_checked_when_a_network_is_loaded() -> None:
    bad = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    bad["map"]["short_names"]["no-such-gate"] = {"vi": "X", "en": "X", "zh": "X"}
    bad["map"]["roads"][1]["code"] = "ql1a"
    bad["map"]["border"]["kind"] = "road"
    with pytest.raises(ValidationFailed) as refused:
        networks.parse(bad)
    fields = {f.field for f in refused.value.fields}
    assert {"map.short_names.no-such-gate", "map.roads[1].code", "map.border.kind"} <= fields
    one_point = yaml.safe_load(DEFAULT_NETWORK_FILE.read_text(encoding="utf-8"))
    one_point["map"]["roads"][0]["line"] = one_point["map"]["roads"][0]["line"][:1]
    with pytest.raises(ValidationFailed) as short:
        networks.parse(one_point)
    assert any("map" in f.field for f in short.value.fields)


def test_the_charts_have_axes_ticks_and_values() -> None:
    chart = console.bar_chart([0] * 8 + [12, 40, 7] + [0] * 13, Formatter("vi"))
    assert chart.peak == 40
    assert [t for _y, t in chart.y_ticks] == ["0", "10", "20", "30", "40"]
    assert [t for _x, t in chart.x_ticks] == [f"{h:02d}" for h in range(0, 24, 3)]
    assert [b.text for b in chart.bars if b.value] == ["12", "40", "7"]
    big = console.bar_chart([1200] + [0] * 23, Formatter("vi"))
    assert big.bars[0].text == "1.200"  # numbers as the page writes them
    assert console.nice_step(7) == 2
    assert console.nice_step(1) == 1


def test_the_page_draws_roads_and_text_no_smaller_than_12_px(
    client: TestClient, auth: Any
) -> None:
    _login(client, "regulator")
    page = client.get("/console", params={"lang": "zh"}).text
    assert re.search(r'<path d="M[^"]+" class="line border" id="line-vn-cn-border">', page)
    assert re.search(r'class="line highway" id="line-ql1a"><title>1A号国道</title>', page)
    assert "友谊" in page  # the short name on the label
    css = (DEFAULT_NETWORK_FILE.parents[2] / "web/static/console.css").read_text()
    sizes = [int(s) for s in re.findall(r"font-size: (\d+)px", css)]
    assert sizes
    assert min(sizes) >= 12
    geo = re.search(r'<svg viewBox="0 0 (\d+) (\d+)" width="\1"', page)
    assert geo is not None
    min_width = re.search(r"svg\.geo \{[^}]*min-width: (\d+)px", css)
    assert min_width is not None
    assert int(min_width.group(1)) / int(geo.group(1)) * 13 >= 12  # never drawn smaller
