"""A basic accessibility check of the main pages: every input has a label, the colours meet
WCAG AA contrast, and every action is a native link or button (reachable by keyboard)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from fastapi.testclient import TestClient

from borderflow.web.pages import STATIC
from tests.trip.test_rerouting import staged
from tests.web.test_driver import _login


class Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.fields: list[dict[str, str | None]] = []
        self.in_label = 0
        self.clickables: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.labels.add(str(a["for"]))
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.fields.append({**a, "_wrapped": "yes" if self.in_label else None})
        if "onclick" in a and tag not in ("button", "a"):
            self.clickables.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def _unlabelled(html: str) -> list[str]:
    audit = Audit()
    audit.feed(html)
    assert audit.clickables == []  # nothing clickable that a keyboard cannot reach
    return [str(f.get("name") or f.get("id")) for f in audit.fields
            if not (f.get("_wrapped") or f.get("aria-label") or (f.get("id") in audit.labels))]


def test_every_input_of_the_main_pages_has_a_label(client: TestClient, auth: Any) -> None:
    ref = staged(client, auth, "29C-900.01")
    client.post("/api/v1/dispatch/run", headers=auth("regulator"))
    pages = {"/board": None, "/login": None, "/driver": "driver", "/officer": "customs",
             f"/officer/trips/{ref}": "borderguard", "/console": "regulator",
             "/portal": "enterprise", "/portal/declarations/new": "enterprise",
             f"/portal/declarations/{ref.rsplit('-', 1)[0]}/amend": "enterprise",
             f"/portal/trips/{ref}": "enterprise"}
    for path, user in pages.items():
        client.cookies.clear()
        if user:
            _login(client, user)
        page = client.get(path)
        assert page.status_code == 200, (path, page.status_code)
        assert _unlabelled(page.text) == [], path


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_text_colours_meet_wcag_aa_contrast() -> None:
    css = (STATIC / "app.css").read_text(encoding="utf-8")
    var = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-f]{3,6})\b", css))
    var = {k: v if len(v) == 7 else "#" + "".join(c * 2 for c in v[1:]) for k, v in var.items()}
    pairs = [(var["ink"], var["bg"]), (var["ink"], var["card"]), (var["muted"], var["card"]),
             ("#ffffff", var["accent"]), (var["accent"], var["card"]), ("#ffffff", var["alert"]),
             ("#ffffff", "#0b2e52"),
             ("#f0f3f6", "#0d1117"), ("#c9d1d9", "#161b22"), (var["alert"], var["card"]),
             # the console's map and its legend: key letters and counts on the fill colours
             (var["ink"], "#eef2f6"), (var["ink"], "#cfe8d4"), (var["ink"], "#f7dd9b"),
             (var["ink"], "#f3b3b3")]
    for fg, bg in pairs:
        assert contrast(fg, bg) >= 4.5, (fg, bg, round(contrast(fg, bg), 2))
