"""``borderflow exchange``: our signing key, the partner side's keys, bulletins from files."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from borderflow.cli.common import session_scope
from borderflow.clock import SystemClock
from borderflow.config import get_settings
from borderflow.domain.access import SYSTEM
from borderflow.errors import FieldError, ValidationFailed
from borderflow.exchange import render, service, signing
from borderflow.network import service as networks

exchange_app = typer.Typer(help="The daily bulletin exchanged with the partner side.",
                           no_args_is_help=True)
console = Console()


@exchange_app.command("keygen")
def keygen() -> None:
    """Create our Ed25519 signing key (BORDERFLOW_EXCHANGE_KEY_FILE) unless it exists."""
    path = get_settings().exchange_key_path
    created = signing.generate(path)
    key = signing.load(path)
    console.print(f"{'Created' if created else 'Kept the existing'} key {key.key_id} in {path}")


@exchange_app.command("public-key")
def public_key() -> None:
    """Print our public key (PEM) and its key id, to give to the partner side."""
    key = signing.load(get_settings().exchange_key_path)
    typer.echo(f"key_id: {key.key_id}")
    typer.echo(f"base64: {base64.b64encode(key.public).decode()}")
    typer.echo(key.public_pem, nl=False)


@exchange_app.command("add-key")
def add_key(
    file: Annotated[Path, typer.Argument(help="The partner's public key: PEM file, or a file "
                                              "holding the base64 of its 32 bytes",
                                         exists=True, dir_okay=False)],
    side: Annotated[str, typer.Option(help="The partner side (ISO country code)")] = "CN",
    key_id: Annotated[str | None, typer.Option(help="Key id the partner puts in its "
                                                    "signatures (default: derived)")] = None,
    note: Annotated[str, typer.Option(help="Who gave it, when")] = "",
) -> None:
    """Register a partner side's public key: its signed bulletins are accepted from now on."""
    settings = get_settings()
    with session_scope() as session:
        row = service.register_key(
            session, service.KeySpec(side=side, public_key=file.read_text(encoding="utf-8"),
                                     key_id=key_id, note=note),
            our_side=settings.exchange_side, actor=SYSTEM, now=SystemClock().now())
        console.print(f"Registered key {row.key_id} of side {row.side}")


@exchange_app.command("keys")
def list_keys() -> None:
    """List the partner keys."""
    with session_scope() as session:
        table = Table()
        for col in ("key_id", "side", "registered", "revoked", "note"):
            table.add_column(col)
        for k in service.keys(session):
            table.add_row(k.key_id, k.side, k.created_at.isoformat(timespec="minutes"),
                          k.revoked_at.isoformat(timespec="minutes") if k.revoked_at else "-",
                          k.note)
        console.print(table)


@exchange_app.command("publish")
def publish(
    output: Annotated[Path, typer.Option("-o", help="Write the bulletin to this file")],
    fmt: Annotated[str, typer.Option("--format", help="json, csv or pdf")] = "json",
) -> None:
    """Publish our bulletin for today (kept as a version unless nothing changed) and write it
    to a file to send to the partner side."""
    if fmt not in ("json", "csv", "pdf"):
        raise typer.BadParameter("use json, csv or pdf", param_hint="--format")
    settings = get_settings()
    clock = SystemClock()
    with session_scope() as session:
        network = networks.in_force(session, clock.now())
        row, created = service.publish(session, network, signing.load(settings.exchange_key_path),
                                       side=settings.exchange_side, actor=SYSTEM,
                                       now=clock.now())
        envelope = service.envelope_of(row)
        names = {g.code: f"{g.name.vi} / {g.name.zh}" for g in network.gates}
    if fmt == "pdf":
        output.write_bytes(render.to_pdf(envelope, names))
    elif fmt == "csv":
        output.write_text("\ufeff" + render.to_csv(envelope), encoding="utf-8")
    else:
        output.write_text(json.dumps(envelope, ensure_ascii=False, indent=2), encoding="utf-8")
    state = "Published" if created else "Unchanged since"
    console.print(f"{state} version {row.version} of {row.side} {row.day}; wrote {output}")


@exchange_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="The partner side's signed bulletin (JSON)",
                                         exists=True, dir_okay=False)],
) -> None:
    """Receive a partner bulletin from a file: the same checks as the API."""
    settings = get_settings()
    clock = SystemClock()
    with session_scope() as session:
        try:
            document = json.loads(file.read_text(encoding="utf-8-sig"))
        except ValueError as exc:
            raise ValidationFailed([FieldError("file", f"is not a JSON document: {exc}")]
                                   ) from None
        network = networks.in_force(session, clock.now())
        row, created = service.receive(session, network, document, source="cli",
                                       our_side=settings.exchange_side, actor=SYSTEM,
                                       now=clock.now())
        state = "Kept" if created else "Already had"
        console.print(f"{state} bulletin {row.side} {row.day} version {row.version}")
        for f in row.fed:
            used = "used" if f["used"] else f"not used: {f['reason']}"
            console.print(f"  {f['gate']} {f['direction']}: {f['vehicles']} vehicles ({used})")
