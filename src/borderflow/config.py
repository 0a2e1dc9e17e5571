"""Settings, read from the environment (prefix ``BORDERFLOW_``) and an optional ``.env`` file."""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_NETWORK_FILE = PACKAGE_DIR / "data" / "network" / "lang-son.yaml"
SANDBOX_SECRET = "sandbox-secret-for-the-demo-only"  # noqa: S105 - the public demo's, refused for vnpay
SANDBOX_PATH = "/sandbox/vnpay"
DEFAULT_TARIFF_FILE = PACKAGE_DIR / "data" / "tariff" / "lang-son-2025.yaml"
DEFAULT_SCENARIOS_DIR = PACKAGE_DIR / "data" / "scenarios"
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})  # noqa: S104 - compared, never bound
"""Hosts that mean "every interface": no one reaches the server at such an address."""
RATE_PATTERN = r"^[0-9]{1,9} ?(/|per) ?[0-9]{0,6} ?(second|minute|hour|day)s?$"
"""A rate limit as the ``limits`` library writes it (``600/minute``, ``10 per 5 seconds``)."""
NOTIFY_CHANNELS = ("in_app", "sms", "webhook")
"""Channels notifications can go out on."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BORDERFLOW_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/borderflow.db",
        description="SQLAlchemy URL. SQLite (default) or postgresql+psycopg://user@host/db.",
    )
    db_concurrency: int = Field(
        default=10, ge=1, le=500,
        description="Requests of one process that read the database at once; writes at once: "
        "half as many on PostgreSQL, one on SQLite. The others wait (in the event loop, "
        "holding no thread) up to DB_WAIT_SECONDS, then get 503 with Retry-After. The pool "
        "holds up to 2 x DB_CONCURRENCY + 10 connections per process.")
    db_wait_seconds: float = Field(
        default=2.0, gt=0, le=60,
        description="Longest a request waits for the database (a slot, SQLite's write lock, "
        "a pooled connection, a row lock) before it is answered 503 with Retry-After.")
    board_share_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="The public board's figures are computed at most once per this many "
        "seconds in a process and shared by every viewer (the pages refresh every 15 s; "
        "a browser holding the same drawing gets 304). 0: computed for each viewer.")
    caller_memory_seconds: float = Field(
        default=1.0, ge=0, le=60,
        description="How long a process remembers who a token or API key is, so that a "
        "burst of requests with one credential looks the account up once. A change to an "
        "account or key in the same process forgets at once; other processes see it within "
        "this time. 0: look up every request.")
    worker_threads: int = Field(
        default=40, ge=2, le=2000,
        description="Threads of one process that run request handlers and other blocking "
        "work (at least DB_CONCURRENCY; twice that or more so that requests that do not "
        "use the database are not kept waiting).")
    var_dir: Path = Field(default=Path("var"), description="Where local state is kept.")
    metrics_dir: Path | None = Field(
        default=None,
        description="Prometheus multi-process mode: the directory where every process of this "
        "machine (`serve --workers N`, `worker`, `telemetry process`) writes its metrics, so "
        "that /metrics answers their sum. `serve` empties it of ended processes' files at "
        "start. Unset: VAR_DIR/metrics when `serve --workers` is over 1, else one process's "
        "own metrics (docs/monitoring.md).")
    metrics_database_seconds: float = Field(
        default=5.0, ge=0, le=300,
        description="The figures /metrics reads from the database (outbox, trucks per gate, "
        "dead letters, the dispatcher's leader) are read at most once per this many seconds "
        "in a process. 0: at every scrape.")
    scenarios_dir: Path = Field(
        default=DEFAULT_SCENARIOS_DIR,
        description="Scenario files the scenario lab page offers (default: the packaged ones, "
        "whatever the working directory).")
    sim_workers: int = Field(
        default=1, ge=0, le=32,
        description="Simulations the scenario lab's pages queued that one process of the "
        "background work runs at once (0: this process runs none).")
    sim_lease_seconds: float = Field(
        default=60, gt=0, le=24 * 3600,
        description="How long a claimed simulation is left to its runner before another "
        "process may take it over; the runner renews it every third of it while it runs.")
    sim_job_retention_days: int = Field(
        default=30, ge=0, le=3650,
        description="Days a finished simulation (its results or failure) is kept, then "
        "purged with the other expired records.")
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key that signs access tokens. If unset, a random key is created once in "
            "VAR_DIR/secret.key (fine for one machine; set it explicitly when running several; "
            "required in production)."
        ),
    )
    access_token_minutes: int = Field(default=15, ge=1, le=24 * 60)
    env: Literal["development", "production"] = Field(
        default="development",
        description="production: refuse to start with any unsafe setting (see "
        "docs/security.md, Production mode); restrict /metrics and /docs; HSTS and Secure "
        "cookies.")
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis (redis://[:password@]host:6379/0) that keeps the rate limits and "
        "login failures of every worker; unset: each process keeps its own in memory.")
    ops_token: SecretStr | None = Field(
        default=None,
        description="In production, /metrics, /docs, /redoc and /openapi.json answer a request "
        "carrying `Authorization: Bearer <this token>` (e.g. Prometheus's scrape) or coming "
        "from OPS_NETWORKS; everyone else gets 404.")
    ops_networks: str = Field(
        default="",
        description="In production, comma-separated addresses or networks (CIDR, e.g. "
        "10.0.0.0/8, 127.0.0.1) that may read /metrics and the API documentation without "
        "the token.")
    throttling: bool = Field(
        default=True, description="Rate limits and login lockout on (false: off, for tests).")
    login_max_failures: int = Field(
        default=5, ge=1, le=1000,
        description="Failed logins of one account from one address before it is locked out.")
    login_max_failures_account: int = Field(
        default=20, ge=1, le=10000,
        description="Failed logins of one account from every address before it is locked out.")
    login_max_failures_ip: int = Field(
        default=50, ge=1, le=100000,
        description="Failed logins from one address over every account before it is locked "
        "out.")
    login_lockout_minutes: int = Field(
        default=15, ge=1, le=24 * 60,
        description="Window in which failed logins are counted; a lockout ends when the "
        "oldest failure in it is this old.")
    rate_limit_writes: str = Field(
        default="1200/minute", pattern=RATE_PATTERN,
        description="Writes (POST, PUT, PATCH, DELETE) one client (API key, token or "
        "session; else one address) may send, e.g. 1200/minute.")
    rate_limit_public_reads: str = Field(
        default="1200/minute", pattern=RATE_PATTERN,
        description="Reads without credentials one address may send.")
    rate_limit_telemetry: str = Field(
        default="12000/minute", pattern=RATE_PATTERN,
        description="Position messages (/api/v1/telemetry/osmand, owntracks, positions) one "
        "address may send.")
    demo_traffic: bool = Field(
        default=False, description="Run the demo traffic (simulated actors) next to the "
        "server; `make run` turns it on.")
    demo_speed: float = Field(default=60.0, gt=0, le=3600,
                              description="Simulated minutes per real minute of demo traffic.")
    demo_trucks_per_day: int = Field(default=1400, ge=1, le=20000,
                                     description="Trucks a simulated day of demo traffic has.")
    web_session_hours: int = Field(default=12, ge=1, le=7 * 24,
                                   description="How long a login in the browser lasts.")
    web_idle_minutes_officials: int = Field(
        default=30, ge=1, le=7 * 24 * 60,
        description="A browser session of an official (admin, regulator, cashier, officers at "
        "the checkpoints, yard operator) ends after this many minutes without a request.")
    web_idle_minutes: int = Field(
        default=240, ge=1, le=7 * 24 * 60,
        description="The same for everyone else (enterprises, drivers, other roles).")
    second_factor: Literal["auto", "required", "optional"] = Field(
        default="auto",
        description="Whether officials (admin, regulator, cashier, officers, yard operator) "
        "must log in with a TOTP code: `required`, `optional` (anyone may enrol), or `auto` "
        "(required when BORDERFLOW_ENV=production, optional otherwise).")
    password_hash_time_cost: int = Field(
        default=3, ge=1, le=100,
        description="Argon2id passes over memory for each new password, recovery code and "
        "reset code hash (stored hashes keep their own cost and are rehashed at login). "
        "Production refuses less than 2.")
    password_hash_memory_kib: int = Field(
        default=65536, ge=8, le=4 * 1024 * 1024,
        description="Argon2id memory per hash in KiB (65536: 64 MiB). Production refuses "
        "less than 19456 (19 MiB).")
    password_hash_parallelism: int = Field(
        default=4, ge=1, le=64,
        description="Argon2id lanes per hash (at most memory / 8 KiB).")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "json"
    network_file: Path = Field(default=DEFAULT_NETWORK_FILE)
    tariff_file: Path = Field(default=DEFAULT_TARIFF_FILE,
                              description="Fee schedule loaded at set-up if none is loaded.")
    dispatch_interval_seconds: int = Field(
        default=60, ge=0, description="How often the dispatcher runs; 0 turns it off."
    )
    background: Literal["all", "none"] = Field(
        default="all",
        description="What `borderflow serve` runs next to the API: 'all' (the dispatcher, "
        "notification sender, situation reports, purging, the scenario lab's simulations and "
        "the MQTT subscriber, as the "
        "embedded one-process default does) or 'none' (HTTP only; run `borderflow worker` "
        "for the background work).",
    )
    telemetry_bus: Literal["memory", "inline", "nats"] = Field(
        default="memory",
        description="How positions go from ingestion to the processor: 'memory' (an "
        "in-process queue processed in batches), 'inline' (processed in the request) or "
        "'nats' (NATS JetStream; run `borderflow telemetry process` workers).",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server.")
    nats_stream: str = Field(default="BORDERFLOW_POSITIONS", pattern=r"^[A-Za-z0-9_-]+$",
                             description="JetStream stream of positions.")
    nats_subject: str = Field(default="borderflow.positions", pattern=r"^[A-Za-z0-9_.-]+$",
                              description="Subject positions are published on.")
    nats_batch: int = Field(default=1000, ge=1, le=10_000,
                            description="Messages a processor writes in one transaction, at "
                            "most (a safety; what bounds a transaction is "
                            "BORDERFLOW_NATS_BATCH_POSITIONS).")
    nats_batch_positions: int = Field(
        default=4000, ge=1, le=100_000,
        description="Positions a processor writes in one transaction, at most: it takes what "
        "is waiting on its partition up to this many (a message is never split; one holding "
        "more is a transaction of its own).")
    nats_partitions: int = Field(
        default=1, ge=1, le=256,
        description="Partitions of the positions stream (by device); run one "
        "`borderflow telemetry process --partition N` per partition. The same value for "
        "every API, ingest and processor worker.")
    nats_retention: Literal["workqueue", "limits"] = Field(
        default="workqueue",
        description="Retention of the positions stream when it is created: 'workqueue' "
        "(a message is deleted once processed; a full stream refuses new messages, answered "
        "503) or 'limits' (processed messages are kept too, up to the age and size below, "
        "the oldest dropped). NATS cannot change it on an existing stream.")
    nats_max_age_hours: float = Field(
        default=168, gt=0, le=24 * 365,
        description="The positions stream drops messages older than this (7 days: older "
        "positions are refused at ingestion anyway).")
    nats_max_bytes: int = Field(
        default=-1, ge=-1,
        description="The positions stream holds at most this many bytes (-1: no limit but "
        "the server's storage); with 'workqueue' retention, publishing past it answers 503. "
        "NATS reserves it from the server's JetStream storage when the stream is created: "
        "more than the server has and the stream cannot be created.")
    nats_replicas: int = Field(
        default=1, ge=1, le=5,
        description="Copies of the positions stream in a NATS cluster (3 in production; 1 "
        "on a single server). Set when the stream is created.")
    nats_max_deliver: int = Field(
        default=5, ge=1, le=100,
        description="Deliveries of a positions message that keeps failing (for a reason "
        "other than the database or network being away) before it is set aside as a dead "
        "letter (`borderflow telemetry dead-letters list`).")
    telemetry_queue_positions: int = Field(
        default=50_000, ge=1, le=10_000_000,
        description="Positions the in-process queue (telemetry bus 'memory') holds at most; "
        "past that, ingestion answers 503 with Retry-After.")
    mqtt_url: str | None = Field(
        default=None,
        description="MQTT broker to take OwnTracks messages from (e.g. mqtt://127.0.0.1:1883); "
        "unset: no MQTT.",
    )
    mqtt_topic: str = Field(
        default="owntracks/+/+", min_length=1,
        description="Topic filter the MQTT subscriber takes OwnTracks messages from; several "
        "ingest workers share them with '$share/borderflow/owntracks/+/+'.",
    )
    mqtt_client_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="MQTT client id of this subscriber: set, its session (and the messages "
        "that arrive while it is away) outlives a restart; unset, a fresh session each time. "
        "Each ingest worker needs its own.",
    )
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = Field(
        default="auto",
        description="MQTT version the subscriber speaks: 'auto' tries 5 and falls back to "
        "3.1.1 when the broker does not speak 5 (NATS's MQTT listener, older brokers).")
    mqtt_keepalive_seconds: int = Field(
        default=60, ge=5, le=65535,
        description="MQTT keep-alive asked for (an MQTT 5 broker may set another: it is "
        "honoured).")
    mqtt_refused_attempts: int = Field(
        default=3, ge=1, le=100,
        description="Connections the broker refuses for bad credentials or authorisation "
        "before the subscriber stops (it reports the broker's reason each time).")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificates (PEM) to check the MQTT broker's TLS "
        "certificate with (mqtts://); unset: the system's.")
    mqtt_cert_file: Path | None = Field(
        default=None, description="Client certificate (PEM) presented to the MQTT broker "
        "over TLS.")
    mqtt_key_file: Path | None = Field(
        default=None, description="Private key (PEM) of the MQTT client certificate "
        "(unset: in the certificate file).")
    mqtt_public_url: str | None = Field(
        default=None,
        description="The MQTT broker's address as drivers' phones reach it, for OwnTracks in "
        "MQTT mode: mqtt://host:port, or mqtts://host:port for TLS (ports 1883 and 8883 "
        "unless given); no user or password (each device has its own account). Unset: not "
        "offered, and the driver's page shows no MQTT set-up.")
    geofence_margin_m: float = Field(
        default=30.0, ge=0, le=1000,
        description="Hysteresis of geofences: a truck leaves an area only this far outside it.",
    )
    position_retention_days: int = Field(
        default=90, ge=1, le=3650,
        description="GPS positions (and devices' last known places) older than this are "
        "deleted by the retention worker, `borderflow privacy purge` and "
        "`borderflow telemetry prune`.",
    )
    driver_retention_days: int = Field(
        default=180, ge=1, le=3650,
        description="Days after a trip finishes (crossed, rejected or cancelled) before its "
        "driver's name, document number and phone are purged from the trip and declaration "
        "(the document kept masked, e.g. 0010****2345).",
    )
    camera_image_retention_days: int = Field(
        default=30, ge=1, le=3650,
        description="Days a plate read keeps the reference to its camera image.",
    )
    notification_contact_retention_days: int = Field(
        default=90, ge=1, le=3650,
        description="Days a notification keeps its recipient's phone and document number.",
    )
    retention_interval_seconds: float = Field(
        default=3600, ge=0,
        description="How often the background work purges personal data past its retention "
        "period, expired idempotency keys, sessions and reset codes (0: never; then run "
        "`borderflow privacy purge` from cron).",
    )
    idempotency_key_retention_hours: int = Field(
        default=24, ge=1, le=24 * 365,
        description="Hours a write's stored response is replayed for a retry with the same "
        "Idempotency-Key; older keys are purged (a retry after that is a new request).",
    )
    expired_record_retention_days: int = Field(
        default=30, ge=0, le=3650,
        description="Days browser sessions and password reset codes are kept after they "
        "expired, were revoked or used, then purged.",
    )
    purge_batch_size: int = Field(
        default=1000, ge=1, le=100_000,
        description="Rows each purge transaction deletes at most (the purge repeats until "
        "nothing is left), so no purge holds long locks.",
    )
    device_silent_minutes: int = Field(
        default=15, ge=1, le=24 * 60,
        description="A device of an active trip silent this long raises an alert.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Base URL of the links, QR codes, payment return and callback URLs and the "
        "drivers' GPS server URL. Unset: where the server listens (HOST and PORT; "
        "`borderflow serve --host --port` sets it for its workers).",
    )
    payment_gateway: Literal["sandbox", "vnpay"] = Field(
        default="sandbox",
        description="sandbox: the built-in gateway at /sandbox/vnpay speaking VNPay's protocol "
        "(demo); vnpay: a real VNPay merchant account (set the VNPAY_* settings).",
    )
    vnpay_tmn_code: str = Field(default="BFSANDBX", min_length=1, max_length=20,
                                description="VNPay merchant (terminal) code.")
    vnpay_hash_secret: SecretStr = Field(
        default=SecretStr(SANDBOX_SECRET),
        description="VNPay hash secret; the default only works with the sandbox.")
    vnpay_pay_url: str | None = Field(
        default=None, description="VNPay payment page (default: the sandbox's).")
    vnpay_api_url: str | None = Field(
        default=None, description="VNPay merchant API, for refunds (default: the sandbox's).")
    notify_channels: str = Field(
        default="in_app,sms",
        description="Comma-separated channels notifications go out on: in_app, sms, webhook.",
    )
    notify_interval_seconds: int = Field(
        default=10, ge=0, description="How often pending notifications are sent; 0 turns it off."
    )
    webhook_url: str | None = Field(
        default=None, description="Where enterprise notifications are POSTed (webhook channel)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Key of the HMAC-SHA256 signature of every webhook body."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_concurrency: int = Field(
        default=8, ge=1, le=256,
        description="Notifications one sender has in flight at once (each on its own thread).",
    )
    notify_lease_seconds: float = Field(
        default=300, gt=0, le=24 * 3600,
        description="How long a claimed delivery is left to its sender before another may "
        "take it; the sender renews the lease every third of it while the message is in "
        "flight, so a slow webhook is never sent twice.",
    )
    sms_gateway: str = Field(
        default="log",
        description="SMS gateway: 'log' (writes each message to the log) or the name of a "
        "gateway registered under the 'borderflow.sms_gateways' entry point group.",
    )
    anpr_min_confidence: float = Field(
        default=0.9, ge=0, le=1,
        description="A camera's plate read records a movement on its own only at least this "
        "sure (0 to 1); less sure reads wait for an officer.",
    )
    situation_report_time: str = Field(
        default="17:30", pattern=r"^(|([01][0-9]|2[0-3]):[0-5][0-9])$",
        description="Local time (HH:MM, Lang Son) at which each gate's daily situation report "
        "is generated and kept; empty turns it off.",
    )
    forecast_refresh_time: str = Field(
        default="02:00", pattern=r"^(|([01][0-9]|2[0-3]):[0-5][0-9])$",
        description="Local time (HH:MM, Lang Son) after which the day's demand forecasts are "
        "refreshed (once a day, and after a start-up that missed it); empty turns it off.",
    )
    anpr_repeat_seconds: int = Field(
        default=300, ge=0, le=24 * 3600,
        description="A read of a plate the same checkpoint matched this recently is a repeat "
        "and records nothing.",
    )

    exchange_side: str = Field(
        default="VN", pattern=r"^[A-Z]{2}$",
        description="Our side in the daily bulletin exchange (ISO country code); bulletins "
        "from this side are refused on import.",
    )
    exchange_schema_version: Literal[1, 2] = Field(
        default=2,
        description="Schema version of the bulletins we build and publish: 2 (next-day plans "
        "with the forecast's trucks and intervals); 1 while the partner side's system reads "
        "only version 1 (the plans are then the declared trucks alone).",
    )
    exchange_key_file: Path | None = Field(
        default=None,
        description="PEM file of our Ed25519 key that signs our bulletins; default "
        "VAR_DIR/exchange-ed25519.pem, created once when missing.",
    )
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024,
        description="Largest request body, in bytes, for declarations and every route not "
        "named below; larger bodies are refused with 413 before they are parsed.",
    )
    max_body_telemetry_bytes: int = Field(
        default=1024 * 1024, ge=1024,
        description="Largest body for telemetry (position batches, /api/v1/telemetry/...).",
    )
    max_body_image_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024,
        description="Largest body for camera reads with their image (/api/v1/plate-reads).",
    )
    max_body_upload_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024,
        description="Largest body for uploaded documents: bulletins, bank statements, the "
        "network and the tariff.",
    )
    max_body_history_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024,
        description="Largest body for history imports (/api/v1/reports/history).",
    )

    @field_validator("mqtt_public_url")
    @classmethod
    def _public_broker(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://host:port or mqtts://host:port")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must hold no user or password: each device has its own account")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be mqtt://host:port or mqtts://host:port, nothing after it")
        return value

    @property
    def mqtt_public_broker(self) -> tuple[str, int, bool] | None:
        """Host, port and TLS of ``mqtt_public_url`` (None when it is not offered)."""
        if not self.mqtt_public_url:
            return None
        parts = urlsplit(self.mqtt_public_url)
        tls = parts.scheme == "mqtts"
        return parts.hostname or "", parts.port or (8883 if tls else 1883), tls

    @field_validator("notify_channels")
    @classmethod
    def _known_channels(cls, value: str) -> str:
        names = [c.strip().lower() for c in value.split(",") if c.strip()]
        unknown = [c for c in names if c not in NOTIFY_CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel(s) {', '.join(unknown)}; use "
                             f"{', '.join(NOTIFY_CHANNELS)}")
        return ",".join(dict.fromkeys(names))

    @model_validator(mode="after")
    def _public_base_url_follows_the_server(self) -> Settings:
        if "public_base_url" not in self.model_fields_set or not self.public_base_url.strip():
            self.public_base_url = base_url_for(self.host, self.port)
            self.model_fields_set.discard("public_base_url")  # derived, not given
        return self

    @model_validator(mode="after")
    def _password_hash_memory_fits_its_lanes(self) -> Settings:
        if self.password_hash_memory_kib < 8 * self.password_hash_parallelism:
            raise ValueError("BORDERFLOW_PASSWORD_HASH_MEMORY_KIB must be at least 8 KiB per "
                             "lane (BORDERFLOW_PASSWORD_HASH_PARALLELISM)")
        return self

    @model_validator(mode="after")
    def _webhook_configured(self) -> Settings:
        if "webhook" in self.notify_channel_list:
            if not self.webhook_url or not self.webhook_url.startswith(("http://", "https://")):
                raise ValueError("the webhook channel needs BORDERFLOW_WEBHOOK_URL (http or https)")
            if not self.webhook_secret:
                raise ValueError("the webhook channel needs BORDERFLOW_WEBHOOK_SECRET")
        return self

    @model_validator(mode="after")
    def _gateway_configured(self) -> Settings:
        if self.payment_gateway == "vnpay":
            if not self.vnpay_pay_url or not self.vnpay_api_url:
                raise ValueError("the vnpay gateway needs BORDERFLOW_VNPAY_PAY_URL and "
                                 "BORDERFLOW_VNPAY_API_URL")
            if secret(self.vnpay_hash_secret) == SANDBOX_SECRET:
                raise ValueError("the vnpay gateway needs the merchant's "
                                 "BORDERFLOW_VNPAY_HASH_SECRET")
        return self

    def gateway_urls(self) -> tuple[str, str]:
        """The payment page and merchant API of the configured gateway."""
        base = self.public_base_url.rstrip("/") + SANDBOX_PATH
        return (self.vnpay_pay_url or f"{base}/paymentv2/vpcpay.html",
                self.vnpay_api_url or f"{base}/merchant_webapi/api/transaction")

    @property
    def situation_report_at(self) -> time | None:
        if not self.situation_report_time:
            return None
        hour, minute = self.situation_report_time.split(":")
        return time(int(hour), int(minute))

    @property
    def forecast_refresh_at(self) -> time | None:
        if not self.forecast_refresh_time:
            return None
        hour, minute = self.forecast_refresh_time.split(":")
        return time(int(hour), int(minute))

    @property
    def notify_channel_list(self) -> tuple[str, ...]:
        return tuple(c for c in self.notify_channels.split(",") if c)

    @property
    def exchange_key_path(self) -> Path:
        return self.exchange_key_file or self.var_dir / "exchange-ed25519.pem"

    @property
    def public_base_url_is_set(self) -> bool:
        """``BORDERFLOW_PUBLIC_BASE_URL`` was given (it wins over where the server listens)."""
        return "public_base_url" in self.model_fields_set

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def ops_network_list(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n.strip(), strict=False)
                     for n in self.ops_networks.split(",") if n.strip())

    @field_validator("ops_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        for part in (n.strip() for n in value.split(",")):
            if part:
                try:
                    ipaddress.ip_network(part, strict=False)
                except ValueError:
                    raise ValueError(f"{part!r} is not an address or network") from None
        return value

    def resolved_secret_key(self) -> str:
        explicit = secret(self.secret_key)
        if explicit:
            return explicit
        path = self.var_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        write_private(path, key.encode())
        return key


def secret(value: SecretStr | str | None) -> str | None:
    """The text of a secret setting (``SecretStr`` keeps it out of reprs and logs)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def write_private(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only (0600) from the first byte: the file is
    opened with that mode (never widened and narrowed afterwards); an existing file is left
    alone (FileExistsError)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def machine_name() -> str | None:
    """This machine's name, when it resolves to one of the machine's own addresses other than
    loopback (so other machines on the network may reach it by that name); else None."""
    name = socket.gethostname()
    try:
        found = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    for family, _type, _proto, _canon, sockaddr in found:
        if ipaddress.ip_address(str(sockaddr[0]).split("%")[0]).is_loopback:
            continue
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            try:  # only an address of this machine can be bound
                probe.bind((sockaddr[0], 0, *sockaddr[2:]))
            except OSError:
                continue
        return name
    return None


def reachable_host(host: str) -> str:
    """The name to reach a server listening on ``host`` at: the host itself, or, for every
    interface (0.0.0.0, ::), the machine's name (see :func:`machine_name`) else 127.0.0.1."""
    if host.strip() in WILDCARD_HOSTS:
        return machine_name() or "127.0.0.1"
    return host.strip()


def base_url_for(host: str, port: int) -> str:
    """``http://HOST:PORT`` of a server listening on ``host`` and ``port``."""
    name = reachable_host(host).strip("[]")
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"http://{name}:{port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
