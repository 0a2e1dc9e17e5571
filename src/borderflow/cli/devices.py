"""``borderflow devices``: GPS devices' accounts with the MQTT broker."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from borderflow.cli.common import err, session_scope
from borderflow.config import get_settings
from borderflow.telemetry import mqtt_accounts

devices_app = typer.Typer(help="GPS devices: their MQTT accounts.", no_args_is_help=True)


@devices_app.command("mqtt-credentials")
def mqtt_credentials(
    password_file: Annotated[Path, typer.Option(
        "--password-file", help="Mosquitto's password_file: device accounts written, other "
        "users' lines kept.")],
    acl_file: Annotated[Path | None, typer.Option(
        "--acl-file", help="Mosquitto's acl_file, written whole: each device publishes only "
        "under its own topic; the --subscriber accounts read owntracks/#.")] = None,
    subscriber: Annotated[list[str] | None, typer.Option(
        "--subscriber", help="An account that reads every device's topic (Borderflow's "
        "subscriber); repeat for several.")] = None,
    show: Annotated[str | None, typer.Option(
        "--show", help="Print this device's MQTT user, password and topic (to set up its "
        "phone) instead of writing files.")] = None,
) -> None:
    """Write one Mosquitto account per device bound with a live token (user: the token's
    SHA-256; password: derived from it with the secret key; PBKDF2-SHA512 as
    mosquitto_passwd writes it) and the ACL that keeps each to its own topic. Run it again
    after binding or revoking devices, then reload the broker (SIGHUP)."""
    settings = get_settings()
    with session_scope() as session:
        found = mqtt_accounts.accounts(session, settings.resolved_secret_key())
    if show is not None:
        mine = [a for a in found if a.device_id == show]
        if not mine:
            err.print(f"[red]error:[/red] no device '{show}' bound with a live token")
            raise typer.Exit(code=1)
        typer.echo(f"user: {mine[0].username}\npassword: {mine[0].password}\n"
                   f"topic: {mine[0].topic}")  # whole lines, never wrapped
        return
    if any(":" in name or not name.strip() for name in subscriber or []):
        err.print("[red]error:[/red] a --subscriber name holds no colon and is not empty")
        raise typer.Exit(code=1)
    done = mqtt_accounts.write(found, password_file, acl_file, subscriber or [])
    typer.echo(f"{done.devices} device accounts written to {password_file} "
               f"({done.kept} other lines kept)"
               + (f"; ACL written to {acl_file}" if acl_file else ""))
    for device in done.skipped:
        err.print(f"skipped {device!r}: its OwnTracks device name cannot be a topic level",
                  markup=False)
