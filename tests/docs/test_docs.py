"""The documentation states what the code does."""

from __future__ import annotations

from pathlib import Path

from borderflow import docgen
from borderflow.config import DEFAULT_NETWORK_FILE, Settings
from borderflow.domain.access import PERMISSIONS, Role
from borderflow.network import service as networks

ROOT = Path(__file__).resolve().parents[2]


def test_generated_sections_of_the_docs_are_current() -> None:
    """Roles matrix, trip states and procedures per gate come from the code and the network
    file; `borderflow docs generate` refreshes them."""
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    assert docgen.render(ROOT / "docs", network, check=True) == []


def test_the_roles_matrix_shows_every_permission() -> None:
    text = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    for action, roles in PERMISSIONS.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{action}` |"))
        cells = [c.strip() for c in row.strip("|").split("|")][1:]
        assert {r for r, c in zip(Role, cells, strict=True) if c == "✔"} == roles, action


def test_every_step_kind_and_gate_is_in_the_procedures_page() -> None:
    text = (ROOT / "docs" / "trip-lifecycle.md").read_text(encoding="utf-8")
    network = networks.parse(networks.read_file(DEFAULT_NETWORK_FILE))
    for gate in network.gates:
        assert f"`{gate.code}`" in text
    for procedure in network.procedures:
        assert f"### `{procedure.code}`" in text


def test_readme_first_screen_shows_the_two_commands() -> None:
    first_screen = "\n".join(
        (ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"BORDERFLOW_{name.upper()}" in readme, name
