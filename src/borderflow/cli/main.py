"""``borderflow``: serve the platform and manage its database, network and accounts."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

import structlog
import typer
from rich.table import Table

from borderflow import bootstrap, handlers, production
from borderflow.account import service as accounts
from borderflow.cli.audit import audit_app
from borderflow.cli.common import console, err, session_scope
from borderflow.cli.devices import devices_app
from borderflow.cli.exchange import exchange_app
from borderflow.cli.forecast import forecast_app
from borderflow.cli.privacy import privacy_app
from borderflow.cli.report import report_app
from borderflow.cli.sim import sim_app
from borderflow.clock import SystemClock
from borderflow.config import WILDCARD_HOSTS, base_url_for, get_settings
from borderflow.domain.access import SYSTEM, Role
from borderflow.errors import AppError
from borderflow.exchange import signing
from borderflow.fees import tariffs
from borderflow.logging import configure_logging
from borderflow.network import service as networks
from borderflow.redaction import redact
from borderflow.store import migrate
from borderflow.store.session import make_engine, make_session_factory

app = typer.Typer(help="Borderflow digital border gate platform.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
network_app = typer.Typer(help="The reference network (gates, yards, calendars, goods).",
                          no_args_is_help=True)
user_app = typer.Typer(help="Users and machine clients.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(network_app, name="network")
tariff_app = typer.Typer(help="The fee schedule (tariff versions).", no_args_is_help=True)
app.add_typer(tariff_app, name="tariff")
docs_app = typer.Typer(help="Generated documentation sections.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(docs_app, name="docs")
telemetry_app = typer.Typer(help="GPS positions and devices.", no_args_is_help=True)
app.add_typer(telemetry_app, name="telemetry")
app.add_typer(devices_app, name="devices")
app.add_typer(report_app, name="report")
app.add_typer(exchange_app, name="exchange")
app.add_typer(sim_app, name="sim")
app.add_typer(forecast_app, name="forecast")
app.add_typer(audit_app, name="audit")
app.add_typer(privacy_app, name="privacy")

log = structlog.get_logger("borderflow.cli")


@app.callback()
def _wire() -> None:
    """Borderflow digital border gate platform."""
    handlers.install()  # every command, and the workers they start, may change trips


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default from settings)")]
    = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000)")] = None,
    workers: Annotated[int, typer.Option(help="Worker processes (PostgreSQL only if > 1)")] = 1,
) -> None:
    """Serve the API and OpenAPI docs (http://127.0.0.1:8000/docs).

    With BORDERFLOW_BACKGROUND=all (the default) each process also runs the background work
    (dispatcher, notification sender, situation reports, purges, MQTT subscriber); with
    BORDERFLOW_BACKGROUND=none it serves HTTP only (and the demo traffic when asked) and
    `borderflow worker` processes run the background work.

    Links, QR codes and the payment gateway's return and callback URLs use
    BORDERFLOW_PUBLIC_BASE_URL, or, when it is unset, the host and port served here."""
    import uvicorn

    settings = get_settings()
    host, port = host or settings.host, port or settings.port
    derived = not settings.public_base_url_is_set
    if derived:
        # every worker process reads its settings again: the environment reaches them all
        os.environ[PUBLIC_BASE_URL_VAR] = base_url_for(host, port)
        get_settings.cache_clear()
        settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        production.check(settings, make_engine(settings.database_url), workers=workers)
    except production.UnsafeForProduction as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    _log_public_base_url(settings.public_base_url, host, port, derived=derived)
    settings.resolved_secret_key()  # created once, before workers start
    _metrics_directory(settings.metrics_dir, settings.var_dir, workers)
    uvicorn.run("borderflow.app:create_server_app", factory=True, host=host, port=port,
                workers=workers, log_config=None,
                timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS)


@app.command()
def worker() -> None:
    """Run the background work without HTTP, until SIGTERM or SIGINT.

    The dispatcher (on PostgreSQL one worker leads, elected with an advisory lock; another
    takes over within one BORDERFLOW_DISPATCH_INTERVAL_SECONDS when it dies), the notification
    sender (BORDERFLOW_NOTIFY_CONCURRENCY in flight, leases renewed while sending), the daily
    situation reports, the purges (personal data past retention, expired idempotency keys,
    browser sessions, reset codes and finished simulations), the pool that runs the scenario
    lab's simulations (BORDERFLOW_SIM_WORKERS at once) and, with BORDERFLOW_MQTT_URL, the MQTT
    subscriber.
    Run several for availability; pair them with `BORDERFLOW_BACKGROUND=none borderflow
    serve`. On SIGTERM each part stops cleanly and the leadership is given up."""
    join_metrics_directory()  # before the metrics are imported
    from borderflow.ops.runtime import tune_gc
    from borderflow.ops.worker import create_worker, run_worker

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        background = create_worker(settings)
    except production.UnsafeForProduction as exc:
        err.print(f"[red]error:[/red] {exc}", markup=True, highlight=False)
        raise typer.Exit(code=2) from None
    tune_gc()
    _run_until_signal(lambda stop: run_worker(background, stop))


WORKER_HEALTHCHECK_SECONDS = 60
"""How long ``serve --workers N`` waits for a worker to answer its supervisor before it kills
and replaces it: a worker starting on a busy machine takes longer than uvicorn's 5 seconds to
import the platform, and would be killed and started again for ever."""


def _metrics_directory(metrics_dir: Path | None, var_dir: Path, workers: int, *,
                       clean: bool = True) -> None:
    """Prometheus multi-process mode (docs/monitoring.md) when several processes serve, set up
    before the application and its metrics are imported and before the workers start."""
    from borderflow.ops import multiprocess

    path = multiprocess.chosen(metrics_dir, var_dir, workers)
    if path is not None:
        multiprocess.use_directory(path, clean=clean)
        log.info("metrics of every process summed", directory=str(path.resolve()))


def join_metrics_directory() -> None:
    """For a process without HTTP (``worker``, ``telemetry process``): with
    BORDERFLOW_METRICS_DIR (or PROMETHEUS_MULTIPROC_DIR) set, write its metrics there, so that
    the /metrics of the API processes of the same machine count them. Call it first, before
    the platform's modules (and their metrics) are imported."""
    settings = get_settings()
    _metrics_directory(settings.metrics_dir, settings.var_dir, 1, clean=False)


PUBLIC_BASE_URL_VAR = "BORDERFLOW_PUBLIC_BASE_URL"


def _log_public_base_url(url: str, host: str, port: int, *, derived: bool) -> None:
    """Which base URL links, QR codes and payment URLs use, and where it comes from."""
    if not derived:
        log.info("public base URL", url=url, set_by=PUBLIC_BASE_URL_VAR)
    elif host.strip() not in WILDCARD_HOSTS:
        log.info("public base URL", url=url, derived_from=f"the address served, {host}:{port}",
                 note=f"set {PUBLIC_BASE_URL_VAR} when others reach the server at another")
    elif urlsplit(url).hostname == "127.0.0.1":
        log.warning("public base URL", url=url, derived_from=f"every interface, {host}:{port}",
                    note="this machine's name resolves to none of its addresses but loopback, so "
                    "links, QR codes and payment return URLs use 127.0.0.1 and work on this "
                    f"machine only; set {PUBLIC_BASE_URL_VAR} to the address others reach it at")
    else:
        log.info("public base URL", url=url, derived_from=f"every interface, {host}:{port}",
                 note="links use this machine's name; set "
                 f"{PUBLIC_BASE_URL_VAR} if others reach it at another address")


@app.command()
def setup(
    demo: Annotated[bool, typer.Option(help="Create demo accounts, one per role")] = False,
) -> None:
    """Migrate the database, load the reference network and the fee schedule if none is loaded,
    create demo accounts.

    Safe to run again: it only does what is missing.
    """
    settings = get_settings()
    if demo and settings.production:
        err.print("[red]error:[/red] BORDERFLOW_ENV=production: no demo accounts")
        raise typer.Exit(code=2)
    migrate.upgrade(settings.database_url)
    clock = SystemClock()
    with session_scope() as session:
        row = bootstrap.ensure_network(session, clock, settings.network_file)
        if row is not None:
            console.print(f"Loaded reference network {row.version} from {settings.network_file}")
        tariff = bootstrap.ensure_tariff(session, clock, settings.tariff_file)
        if tariff is not None:
            console.print(f"Loaded fee schedule {tariff.version} from {settings.tariff_file}")
        created = bootstrap.create_demo_accounts(session, clock) if demo else []
    if signing.generate(settings.exchange_key_path):
        console.print(f"Created the bulletin signing key {settings.exchange_key_path}")
    if created:
        table = Table(title="Demo accounts (passwords are shown only this once)")
        for col in ("username", "password", "roles", "scope"):
            table.add_column(col)
        for acct, password in created:
            scope = acct.enterprise_tax_code or acct.driver_document or ", ".join(
                acct.gate_scope + acct.yard_scope)
            table.add_row(acct.username, password, ", ".join(acct.roles), scope or "-")
        console.print(table)
        console.print("Lost a password? `borderflow user reset-password USERNAME`.")
    elif demo:
        console.print("Demo accounts already exist (reset one with "
                      "`borderflow user reset-password USERNAME`).")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    url = get_settings().database_url
    migrate.upgrade(url, revision)
    console.print(f"Database at {revision}: {url.split('@')[-1]}")


@network_app.command("load")
def network_load(
    file: Annotated[Path, typer.Argument(help="Network YAML file", exists=True, dir_okay=False)],
    effective_from: Annotated[
        datetime | None,
        typer.Option(help="When it takes effect, with a timezone, e.g. 2026-12-01T06:00+07:00 "
                          "(default: now; the first load is in force from 2000-01-01)"),
    ] = None,
    note: Annotated[str, typer.Option(help="Why it changed (kept in the audit log)")] = "",
) -> None:
    """Validate FILE and publish it as a new network version (audited)."""
    with session_scope() as session:
        network = networks.parse(networks.read_file(file))
        row = networks.publish(session, network, actor=SYSTEM, now=SystemClock().now(),
                               effective_from=effective_from, note=note or f"loaded {file.name}",
                               allow_past=True)
        console.print(f"Published network {row.version} (id {row.id}) in force from "
                      f"{row.effective_from.isoformat()}")


T = TypeVar("T")


def _checked(parse: Callable[[], T]) -> T:
    """A reference-data file checked, or every problem printed and exit code 1."""
    try:
        return parse()
    except AppError as exc:
        for f in exc.fields:
            err.print(f"{f.field}: {f.reason}")
        raise typer.Exit(code=1) from None


@network_app.command("validate")
def network_validate(
    file: Annotated[Path, typer.Argument(help="Network YAML file", exists=True, dir_okay=False)],
) -> None:
    """Check FILE without loading it; list every problem."""
    network = _checked(lambda: networks.parse(networks.read_file(file)))
    console.print(f"OK: {network.version}, {len(network.gates)} gates, "
                  f"{sum(len(g.yards) for g in network.gates)} yards, "
                  f"{len(network.goods)} goods groups")


@tariff_app.command("load")
def tariff_load(
    file: Annotated[Path, typer.Argument(help="Tariff YAML file", exists=True, dir_okay=False)],
    note: Annotated[str, typer.Option(help="Why it changed (kept in the audit log)")] = "",
) -> None:
    """Validate FILE and publish it as a new fee schedule version (audited). It takes effect
    at its own effective_from, which must not be in the past."""
    with session_scope() as session:
        tariff = tariffs.parse(tariffs.read_file(file))
        row = tariffs.publish(session, tariff, actor=SYSTEM, now=SystemClock().now(),
                              note=note or f"loaded {file.name}")
        console.print(f"Published fee schedule {row.version} in force from "
                      f"{row.effective_from.isoformat()}")


@tariff_app.command("validate")
def tariff_validate(
    file: Annotated[Path, typer.Argument(help="Tariff YAML file", exists=True, dir_okay=False)],
) -> None:
    """Check FILE without loading it; list every problem."""
    tariff = _checked(lambda: tariffs.parse(tariffs.read_file(file)))
    console.print(f"OK: {tariff.version}, {len(tariff.vehicle_categories)} vehicle categories, "
                  f"{len(tariff.goods_classes)} goods classes, {len(tariff.multipliers)} "
                  "multipliers")


@network_app.command("export")
def network_export(
    output: Annotated[Path | None, typer.Option("-o", help="Write to this file")] = None,
    at: Annotated[datetime | None, typer.Option(help="Version in force at (default: now)")]
    = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of YAML")] = False,
) -> None:
    """Write the network in force (now or AT) in the file format."""
    with session_scope() as session:
        _, network = networks.network_at(session, at or SystemClock().now())
        text = (json.dumps(networks.dump(network), ensure_ascii=False, indent=2) if as_json
                else networks.to_yaml(network))
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"Wrote {output}")
    else:
        typer.echo(text)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name")],
    role: Annotated[list[Role], typer.Option("--role", "-r", help="Role (repeat for several)")],
    name: Annotated[str, typer.Option(help="Display name")] = "",
    password: Annotated[str | None, typer.Option(help="Password (asked if omitted)")] = None,
    client: Annotated[bool, typer.Option(help="A machine client (API key, no password)")]
    = False,
    tax_code: Annotated[str | None, typer.Option(help="Enterprise tax code (enterprise role)")]
    = None,
    driver_document: Annotated[str | None, typer.Option(help="Driver's document number")]
    = None,
    gate: Annotated[list[str] | None, typer.Option(help="Gate scope (cashier)")] = None,
    yard: Annotated[list[str] | None, typer.Option(help="Yard scope (yard operator)")] = None,
) -> None:
    """Create a user (or with --client a machine client and its first API key)."""
    if not client and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    clock = SystemClock()
    with session_scope() as session:
        row = networks.version_in_force(session, clock.now())
        network = networks.network_of(row) if row else None
        account = accounts.create_account(
            session,
            accounts.AccountSpec(
                username=username, display_name=name or username, roles=tuple(role),
                kind="client" if client else "user", password=None if client else password,
                enterprise_tax_code=tax_code, driver_document=driver_document,
                gate_scope=tuple(gate or ()), yard_scope=tuple(yard or ()),
            ),
            actor=SYSTEM, now=clock.now(), network=network,
        )
        console.print(f"Created {account.kind} '{account.username}' ({', '.join(account.roles)})")
        if client:
            _, key = accounts.create_api_key(session, account, "created with the CLI",
                                             actor=SYSTEM, now=clock.now())
            typer.echo(f"API key (shown once): {key}")


@user_app.command("list")
def user_list() -> None:
    """List accounts with their roles and scopes."""
    with session_scope() as session:
        table = Table()
        for col in ("username", "kind", "roles", "scope", "active"):
            table.add_column(col)
        for a in accounts.list_accounts(session):
            scope = a.enterprise_tax_code or a.driver_document or ", ".join(
                [*a.gate_scope, *a.yard_scope])
            table.add_row(a.username, a.kind, ", ".join(a.roles), scope or "-",
                          "yes" if a.active else "no")
        console.print(table)


@user_app.command("reset-password")
def user_reset_password(
    username: Annotated[str, typer.Argument(help="Login name")],
    password: Annotated[str | None, typer.Option(help="New password (random if omitted)")]
    = None,
) -> None:
    """Set a new password (printed once when generated)."""
    new = password or secrets.token_urlsafe(12)
    with session_scope() as session:
        account = accounts.find_account(session, username)
        accounts.update_account(session, account, {"password": new}, actor=SYSTEM,
                                now=SystemClock().now(), network=None)
    console.print(f"Password of '{username}' changed." + ("" if password else f" New: {new}"))


@user_app.command("api-key")
def user_api_key(
    username: Annotated[str, typer.Argument(help="Login name of the (client) account")],
    name: Annotated[str, typer.Option(help="What uses the key")] = "created with the CLI",
) -> None:
    """Issue a new API key for an account (printed once)."""
    with session_scope() as session:
        account = accounts.find_account(session, username)
        _, key = accounts.create_api_key(session, account, name, actor=SYSTEM,
                                         now=SystemClock().now())
    typer.echo(f"API key (shown once): {key}")


@docs_app.command("generate")
def docs_generate(
    docs_dir: Annotated[Path, typer.Option(help="Documentation folder")] = Path("docs"),
    network_file: Annotated[Path | None, typer.Option(help="Network file (default: settings)")]
    = None,
    check: Annotated[bool, typer.Option(help="Only report stale sections (exit 1 if any)")]
    = False,
) -> None:
    """Rewrite the generated sections of the docs (roles matrix, trip states, procedures)."""
    from borderflow import docgen

    network = networks.parse(networks.read_file(network_file or get_settings().network_file))
    stale = docgen.render(docs_dir, network, check=check)
    if check and stale:
        err.print("stale: " + ", ".join(stale) + " (run `borderflow docs generate`)")
        raise typer.Exit(code=1)
    console.print("up to date" if not stale else "updated: " + ", ".join(stale))


@telemetry_app.command("prune")
def telemetry_prune(
    days: Annotated[int | None, typer.Option(help="Keep this many days (default: "
                                                  "BORDERFLOW_POSITION_RETENTION_DAYS)")]
    = None,
) -> None:
    """Delete positions older than the retention (PostgreSQL: drops whole day partitions).
    Run it daily, e.g. from cron."""
    from datetime import UTC, datetime, timedelta

    from borderflow.telemetry import service as telemetry

    keep = days if days is not None else get_settings().position_retention_days
    with session_scope() as session:
        deleted = telemetry.prune(session, datetime.now(UTC) - timedelta(days=keep))
    console.print(f"kept the last {keep} days; {deleted} positions deleted")


def _run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run an async worker until SIGINT or SIGTERM."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


@telemetry_app.command("process")
def telemetry_process(
    partition: Annotated[list[int] | None, typer.Option(
        "--partition", "-p", help="A partition of the stream to consume (repeat for several; "
        "default: all BORDERFLOW_NATS_PARTITIONS). Run one processor per partition.")] = None,
) -> None:
    """Run a telemetry processor: take positions from NATS JetStream, store them, move trips.
    Each batch is acknowledged only after it is committed. On PostgreSQL a partition is
    consumed by one processor at a time (a lease); another given it stands by."""
    join_metrics_directory()  # before the metrics are imported
    from borderflow.ops.runtime import tune_gc
    from borderflow.telemetry.bus import FenceCache, Processor, stream_limits
    from borderflow.telemetry.dead_letters import DeadLetterStore
    from borderflow.telemetry.lease import PartitionLease
    from borderflow.telemetry.nats_bus import RetryPolicy, run_processor

    settings = get_settings()
    count = settings.nats_partitions
    owned = sorted(set(partition)) if partition else list(range(count))
    outside = [p for p in owned if not 0 <= p < count]
    if outside:
        err.print(f"[red]error:[/red] --partition {outside[0]}: the stream has {count} "
                  f"partition(s), numbered 0 to {count - 1} (BORDERFLOW_NATS_PARTITIONS)")
        raise typer.Exit(code=2)
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    cache = FenceCache(settings.geofence_margin_m)
    clock = SystemClock()
    console.print(f"processing positions from {redact(settings.nats_url)} "
                  f"({settings.nats_stream}, "
                  f"partition(s) {', '.join(map(str, owned))} of {count})")
    processor = Processor(sessions, clock, cache)
    tune_gc()
    _run_until_signal(lambda stop: run_processor(
        settings.nats_url, settings.nats_stream, settings.nats_subject, processor, stop,
        batch=settings.nats_batch, positions=settings.nats_batch_positions,
        partitions=owned,
        dead_letters=DeadLetterStore(sessions, clock),
        retry=RetryPolicy(max_deliver=settings.nats_max_deliver),
        limits=stream_limits(settings),
        lease=PartitionLease(engine, settings.nats_stream)
        if engine.dialect.name == "postgresql" else None))
    engine.dispose()


@telemetry_app.command("mqtt")
def telemetry_mqtt() -> None:
    """Take OwnTracks messages from the MQTT broker (BORDERFLOW_MQTT_URL) and publish them to
    the telemetry bus (BORDERFLOW_TELEMETRY_BUS=nats for a separate processor)."""
    from borderflow.ops.runtime import tune_gc
    from borderflow.telemetry import mqtt
    from borderflow.telemetry.bus import FenceCache, build_bus

    settings = get_settings()
    if not settings.mqtt_url:
        err.print("[red]error:[/red] set BORDERFLOW_MQTT_URL, e.g. mqtt://127.0.0.1:1883")
        raise typer.Exit(code=1)
    engine = make_engine(settings.database_url)
    clock = SystemClock()
    bus = build_bus(settings, make_session_factory(engine), clock,
                    FenceCache(settings.geofence_margin_m))
    url = settings.mqtt_url
    tune_gc()

    refused: list[str] = []

    async def main(stop: asyncio.Event) -> None:
        try:
            await mqtt.run(url, lambda items: bus.apublish(items, clock.now()), clock.now, stop,
                           topic=settings.mqtt_topic, client_id=settings.mqtt_client_id,
                           options=mqtt.Options.of(settings))
        except mqtt.NotAllowed as exc:
            refused.append(str(exc))
        finally:
            await bus.aclose()  # what is queued in-process is written first

    _run_until_signal(main)
    engine.dispose()
    if refused:
        err.print(f"[red]error:[/red] {refused[0]} (broker {redact(url)})")
        raise typer.Exit(code=1)


dead_letters_app = typer.Typer(help="Telemetry messages set aside after their retries.",
                               no_args_is_help=True)
telemetry_app.add_typer(dead_letters_app, name="dead-letters")


@dead_letters_app.command("list")
def dead_letters_list(
    limit: Annotated[int, typer.Option(help="How many, latest first (at most 500).")] = 50,
    before: Annotated[int | None, typer.Option(help="Only those with a smaller id (the "
                                                    "next page).")] = None,
) -> None:
    """List the dead letters: when, from where, how many positions, why."""
    from borderflow.telemetry import dead_letters

    with session_scope() as session:
        rows = dead_letters.listing(session, limit=limit, before=before)
        waiting = dead_letters.counts(session)
    for r in rows:  # one line each, the reason last and whole (it is what one reads)
        where = f"{r['subject']} #{r['sequence']}" if r["subject"] else r["source"]
        done = f", sent through again {r['retried_at']:%Y-%m-%d %H:%M}" if r["retried_at"] \
            else ""
        console.print(f"{r['id']}  {r['at']:%Y-%m-%d %H:%M:%S} UTC  {where}  "
                      f"{r['positions']} positions, tried {r['deliveries']}x{done}: "
                      f"{r['reason']}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"{sum(waiting.values())} waiting to be sent through again")


@dead_letters_app.command("retry")
def dead_letters_retry(
    ids: Annotated[list[int], typer.Argument(help="Dead letters to send through again.")],
) -> None:
    """Send dead letters through the processor again (once their cause is fixed); each one
    stored is marked retried."""
    from datetime import UTC

    from borderflow.telemetry import dead_letters
    from borderflow.telemetry.bus import FenceCache, Processor

    settings = get_settings()
    engine = make_engine(settings.database_url)
    sessions = make_session_factory(engine)
    processor = Processor(sessions, SystemClock(), FenceCache(settings.geofence_margin_m))
    results = dead_letters.retry(sessions, processor, ids, datetime.now(UTC))
    engine.dispose()
    for dead_id, outcome in results.items():
        console.print(f"{dead_id}: {outcome}")
    if any(outcome != "stored" for outcome in results.values()):
        raise typer.Exit(code=1)


if __name__ == "__main__":
    app()
