"""Every test here drives a real browser: marked ``e2e`` so ``pytest -m "not e2e"`` leaves them
out (``make test`` runs them)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.path)).resolve().parent == HERE:
            item.add_marker(pytest.mark.e2e)
