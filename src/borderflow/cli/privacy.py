"""``borderflow privacy``: purge personal data past its retention period, export everything
stored about a driver."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from borderflow.cli.common import console, err, session_scope
from borderflow.clock import SystemClock
from borderflow.domain.access import SYSTEM, Principal, Role

privacy_app = typer.Typer(help="Personal data: retention and data-subject exports.",
                          no_args_is_help=True)


@privacy_app.command("purge")
def privacy_purge() -> None:
    """Delete or anonymise personal data past its retention period (the BORDERFLOW_*_RETENTION
    settings; see docs/security.md), then expired idempotency keys, browser sessions and reset
    codes in batches. The background work does the same every
    BORDERFLOW_RETENTION_INTERVAL_SECONDS; safe to run again."""
    from borderflow.config import get_settings
    from borderflow.privacy import service
    from borderflow.privacy.loop import purge_expired, retention
    from borderflow.store.session import make_engine, make_session_factory

    settings, now = get_settings(), SystemClock().now()
    with session_scope() as session:
        done = service.purge(session, retention(settings), now=now, actor=SYSTEM)
    engine = make_engine(settings.database_url)
    try:
        done |= purge_expired(make_session_factory(engine), settings, now)
    finally:
        engine.dispose()
    console.print("purged: " + ", ".join(f"{k} {v:,}" for k, v in done.items()))


@privacy_app.command("export")
def privacy_export(
    driver_document: Annotated[str, typer.Option(help="The driver's document number")],
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON file to write")],
    by: Annotated[str | None, typer.Option(help="Username of the admin making the export "
                                                "(recorded in the audit log)")] = None,
) -> None:
    """Write everything stored about one driver (accounts, declarations naming them, trips and
    their events, devices, positions, notifications, audit rows about them) to a JSON file.
    Other drivers' data is left out or masked. Audited."""
    from borderflow.account import service as accounts
    from borderflow.privacy import service

    with session_scope() as session:
        actor: Principal = SYSTEM
        if by is not None:
            actor = accounts.to_principal(accounts.find_account(session, by))
            if Role.ADMIN not in actor.roles:
                err.print(f"[red]error:[/red] --by {by}: only an admin exports personal data")
                raise typer.Exit(code=1)
        data = service.export_driver(session, driver_document.strip(), actor=actor,
                                     now=SystemClock().now())
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # private at once
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=2, default=str)
        output.chmod(0o600)  # a file that already existed
    counts = ", ".join(f"{k} {len(v):,}" for k, v in data.items() if isinstance(v, list))
    console.print(f"Wrote {output} ({counts})")
