"""Generated parts of the documentation: the roles matrix, the trip states and the procedure
of every gate, rendered from the code and the reference network so they cannot drift.

``borderflow docs generate`` rewrites the sections between ``<!-- generated:NAME:start -->``
and ``<!-- generated:NAME:end -->``; ``--check`` (and the test suite) report stale sections.
"""

from __future__ import annotations

import re
from pathlib import Path

from borderflow.domain.access import PERMISSIONS, Role
from borderflow.domain.network import Network
from borderflow.domain.procedure import Procedure
from borderflow.domain.trip import STATUS_TRANSITIONS

_MARK = re.compile(
    r"(<!-- generated:(?P<name>[a-z-]+):start -->\n)(?P<body>.*?)"
    r"(<!-- generated:(?P=name):end -->)",
    re.DOTALL,
)


def roles_matrix() -> str:
    roles = list(Role)
    lines = ["| action | " + " | ".join(r.value for r in roles) + " |",
             "|---|" + "---|" * len(roles)]
    for action, allowed in PERMISSIONS.items():
        cells = " | ".join("✔" if r in allowed else "" for r in roles)
        lines.append(f"| `{action}` | {cells} |")
    return "\n".join(lines) + "\n"


def trip_states() -> str:
    lines = ["```mermaid", "stateDiagram-v2", "    [*] --> declared"]
    for before, after, why in STATUS_TRANSITIONS:
        lines.append(f"    {before} --> {after}: {why}")
    lines += ["    completed --> [*]", "    rejected --> [*]", "    cancelled --> [*]", "```"]
    return "\n".join(lines) + "\n"


_CONDITION = {"always": "", "quarantine": "if the goods need quarantine",
              "transshipment": "where the gate transships", "driver_crosses":
              "if the driver crosses"}


def _flowchart(p: Procedure) -> list[str]:
    lines = ["```mermaid", "flowchart LR"]
    for s in p.steps:
        cond = _CONDITION[s.applies]
        label = f"{s.name_en}<br/><i>{s.role.replace('_', ' ')}</i>"
        if cond:
            label += f"<br/>({cond})"
        lines.append(f'    {s.code}["{label}"]')
    for s in p.steps:
        lines += [f"    {before} --> {s.code}" for before in p.prerequisites(s.code)]
    lines.append("```")
    return lines


def procedures(network: Network) -> str:
    out: list[str] = ["| gate | export | import |", "|---|---|---|"]
    for g in network.gates:
        exp = g.capacity_for("export")
        imp = g.capacity_for("import")
        out.append(f"| `{g.code}` ({g.name.en}) | {f'`{exp.procedure}`' if exp else '—'} | "
                   f"{f'`{imp.procedure}`' if imp else '—'} |")
    for p in network.procedures:
        gates = [g.code for g in network.gates
                 if (c := g.capacity_for(p.direction)) and c.procedure == p.code]
        out += ["", f"### `{p.code}` ({p.direction})", "",
                f"Used at: {', '.join(f'`{c}`' for c in gates) or 'no gate'}.", ""]
        out += _flowchart(p)
        out += ["", "| step | recorded by | applies | after | runs in parallel with |",
                "|---|---|---|---|---|"]
        for s in p.steps:
            after = ", ".join(p.prerequisites(s.code)) or "—"
            par = ", ".join(p.parallel_with(s.code)) or "—"
            out.append(f"| `{s.code}` {s.name_en} | {s.role} | {s.applies} | {after} | {par} |")
        if p.deadlines:
            out += ["", "| deadline | from | to | minutes | applies |", "|---|---|---|---|---|"]
            out += [f"| `{d.code}` {d.name_en} | {d.starts} | {d.ends} | {d.minutes} | "
                    f"{d.applies} |" for d in p.deadlines]
    return "\n".join(out) + "\n"


def sections(network: Network) -> dict[str, str]:
    return {"roles-matrix": roles_matrix(), "trip-states": trip_states(),
            "procedures": procedures(network)}


def render(docs_dir: Path, network: Network, *, check: bool = False) -> list[str]:
    """Rewrite generated sections (or, with ``check``, only list the stale ones)."""
    wanted = sections(network)
    stale: list[str] = []
    for path in sorted(docs_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")

        def fill(m: re.Match[str], path: Path = path) -> str:
            name = m.group("name")
            if name not in wanted:
                return m.group(0)
            if m.group("body") != wanted[name]:
                stale.append(f"{path.name}:{name}")
            return m.group(1) + wanted[name] + m.group(4)

        new = _MARK.sub(fill, text)
        if not check and new != text:
            path.write_text(new, encoding="utf-8")
    return stale
