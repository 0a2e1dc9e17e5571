"""docs/architecture.md is the newcomer's map: every package it names exists and every package
is named; every rule of its index is where it says; the pure rules follow the one naming
scheme (``domain/<feature>.py`` or ``domain/<feature>_<part>.py``, or shared vocabulary)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "borderflow"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

SHARED_VOCABULARY = {
    "values": "tax codes, plates, HS codes, phones, documents, money: used by every feature",
    "labels": "the words each code is shown with, on every page and document",
    "access": "roles and the permission matrix: every endpoint and service asks it",
    "procedure": "checkpoint steps and deadlines, defined by the network, run by trips",
}


def _features() -> set[str]:
    return {p.name for p in PACKAGE.iterdir()
            if p.is_dir() and (p / "__init__.py").is_file() and p.name != "domain"}


def test_every_pure_rule_module_is_named_after_its_feature_or_is_shared_vocabulary() -> None:
    features = _features()
    misnamed = []
    for module in sorted((PACKAGE / "domain").glob("*.py")):
        name = module.stem
        if name == "__init__" or name in SHARED_VOCABULARY:
            continue
        if name.split("_")[0] not in features:
            misnamed.append(f"domain/{module.name}")
    assert misnamed == [], (
        f"{misnamed}: name a pure module after the feature folder whose rules it holds "
        f"(domain/<feature>.py or domain/<feature>_<part>.py), see docs/architecture.md")


def test_every_package_is_on_the_map_and_the_map_names_no_missing_package() -> None:
    table = DOC.split("## The packages", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `([a-z_]+)/`", table, flags=re.M))
    packages = _features() | {"domain"}
    assert packages - named == set(), f"packages not described: {sorted(packages - named)}"
    on_disk = {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert named - on_disk == set(), f"described but missing: {sorted(named - on_disk)}"


def _defines(path: Path, name: str) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == name:
                return True
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                return True
    return False


def test_every_place_the_rule_index_names_exists() -> None:
    index = DOC.split("## Where does this rule live", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in index.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 10
    for needed in ("call-forward order", "no-show", "bar from booking", "fee computation",
                   "geofence", "plate matching", "priority cycle", "occupancy", "deadlines"):
        assert any(needed in row for row in rows), f"the index has no row for {needed}"
    missing = []
    for ref in re.findall(r"`([a-z_/]+\.py)(?:::([A-Za-z_]+))?`", "\n".join(rows)):
        path, name = PACKAGE / ref[0], ref[1]
        if not path.is_file():
            missing.append(ref[0])
        elif name and not _defines(path, name):
            missing.append(f"{ref[0]}::{name}")
    assert missing == [], f"the rule index names what does not exist: {missing}"
