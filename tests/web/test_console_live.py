"""The console refreshes itself: each figure panel has its own fragment, polled every few
seconds, with the time of its data; the forms are outside them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from borderflow.web.control_room import PARTS, REFRESH_SECONDS
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _login


@pytest.mark.parametrize("part", PARTS)
def test_every_panel_refreshes_from_its_fragment(client: TestClient, part: str) -> None:
    _login(client, "regulator")
    page = client.get("/console", params={"lang": "en"}).text
    poll = re.search(rf'id="console-{part}" hx-get="/console/live/{part}\?lang=en[^"]*" '
                     rf'hx-trigger="every {REFRESH_SECONDS}s"', page)
    assert poll is not None, part
    r = client.get(f"/console/live/{part}", params={"lang": "en"},
                   headers={"HX-Request": "true"})
    assert r.status_code == 200
    assert "<html" not in r.text  # a panel only: the forms being typed are never replaced
    assert 'action="/console/controls"' not in r.text
    assert "Data of 23 Nov 2026, 08:00:00" in r.text


def test_the_fragments_carry_fresh_figures(client: TestClient, auth: Any) -> None:
    _login(client, "regulator")
    before = client.get("/console/live/queue", params={"lang": "en"}).text
    assert "Nobody is waiting." in before
    ref = staged(client, auth, "29C-712.01")
    after = client.get("/console/live/queue", params={"lang": "en"}).text
    assert f'<a href="/console/trips/{ref}">{ref}</a>' in after
    charts = client.get("/console/live/charts", params={"lang": "en"}).text
    assert re.search(r'class="chart axes park".*?data-hour="8" data-count="1"', charts, re.S)
    assert 'class="value">1</text>' in charts  # the value written on its bar


def test_a_visitor_who_is_no_longer_the_control_room_gets_nothing_to_swap(
    client: TestClient
) -> None:
    assert client.get("/console/live/map", headers={"HX-Request": "true"}).status_code == 204
    assert client.get("/console/live/map", follow_redirects=False).status_code == 303
    _login(client, "customs")
    assert client.get("/console/live/map").status_code == 403
    _login(client, "regulator")
    assert client.get("/console/live/nothing").status_code == 404
