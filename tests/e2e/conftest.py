"""What every browser test shares: Debian's Chromium (headless, driven by Playwright), one per
test module, and the ``e2e`` marker on every test here (``pytest -m "not e2e"`` leaves them
out; ``make test`` runs them). ``make test`` installs Chromium; without it the tests are
skipped locally, and in CI (``CI=true``) a missing browser fails the run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

collect_ignore_glob: list[str] = []
if CHROMIUM is None:
    if os.environ.get("CI") == "true":
        raise RuntimeError("Chromium is needed for the browser tests (apt-get install chromium)")
    collect_ignore_glob.append("test_*.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).resolve().parent == HERE:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()
