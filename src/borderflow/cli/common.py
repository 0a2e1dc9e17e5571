"""What every ``borderflow`` command shares: the consoles and one transaction per command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.orm import Session

from borderflow.account import security
from borderflow.config import get_settings
from borderflow.errors import AppError
from borderflow.store.session import make_engine, make_session_factory

console = Console()
err = Console(stderr=True)


@contextmanager
def session_scope() -> Iterator[Session]:
    """One transaction for one command; errors are printed, not dumped as tracebacks."""
    settings = get_settings()
    security.use_settings(settings)  # accounts the command creates: the configured cost
    engine = make_engine(settings.database_url)
    session = make_session_factory(engine)()
    try:
        yield session
        session.commit()
    except AppError as exc:
        session.rollback()
        err.print(f"[red]error:[/red] {exc.message}")
        for f in exc.fields:
            err.print(f"  {f.field}: {f.reason}")
        raise typer.Exit(code=1) from None
    finally:
        session.close()
        engine.dispose()
