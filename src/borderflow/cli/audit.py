"""``borderflow audit``: check the audit log's hash chain."""

from __future__ import annotations

import typer

from borderflow import audit
from borderflow.cli.common import console, err, session_scope

audit_app = typer.Typer(help="The audit log.", no_args_is_help=True)


@audit_app.command("verify")
def audit_verify() -> None:
    """Recompute the hash chain of the audit log from its first row. Prints the first broken
    link (the row and what differs) and exits with code 1, or confirms the chain holds."""
    with session_scope() as session:
        result = audit.verify(session)
    if result.broken is not None:
        b = result.broken
        where = f"row id {b.row_id}" if b.row_id is not None else "end of the log"
        err.print(f"[red]broken:[/red] audit chain breaks at seq {b.seq} ({where}): {b.reason}")
        err.print(f"{result.last_seq:,} rows verified before the break")
        raise typer.Exit(code=1)
    console.print(f"audit chain intact: {result.rows:,} rows, last seq {result.last_seq}")
