"""Production mode (``BORDERFLOW_ENV=production``): the platform refuses to start while any
setting is unsafe, and says which, all at once."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from borderflow.account.security import MINIMUM_COST
from borderflow.bootstrap import demo_accounts
from borderflow.config import SANDBOX_SECRET, Settings, secret
from borderflow.store.models import Account

MIN_SECRET_KEY_LENGTH = 32


class UnsafeForProduction(RuntimeError):
    """Settings that production mode refuses; the message names each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"BORDERFLOW_ENV=production refuses to start with {len(problems)} "
                         f"unsafe setting(s):\n{lines}\nSee docs/security.md, Production mode.")


def unsafe_settings(settings: Settings) -> list[str]:
    """Every unsafe setting, one sentence each naming the setting (empty: safe)."""
    found: list[str] = []
    if settings.payment_gateway == "sandbox":
        found.append("BORDERFLOW_PAYMENT_GATEWAY=sandbox: the built-in sandbox gateway's "
                     "secret is public; use vnpay with the merchant's VNPAY_* settings")
    elif secret(settings.vnpay_hash_secret) == SANDBOX_SECRET:
        found.append("BORDERFLOW_VNPAY_HASH_SECRET is the sandbox's public secret")
    if settings.demo_traffic:
        found.append("BORDERFLOW_DEMO_TRAFFIC=true: simulated actors would write to the "
                     "database; turn it off")
    key = secret(settings.secret_key)
    if not key:
        found.append("BORDERFLOW_SECRET_KEY is not set: a key generated on this machine "
                     f"(VAR_DIR/secret.key) would sign tokens; set at least "
                     f"{MIN_SECRET_KEY_LENGTH} random characters")
    elif len(key) < MIN_SECRET_KEY_LENGTH:
        found.append(f"BORDERFLOW_SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} "
                     "characters")
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        found.append("BORDERFLOW_DATABASE_URL is SQLite: use PostgreSQL "
                     "(postgresql+psycopg://...)")
    for name, url in (("BORDERFLOW_PUBLIC_BASE_URL", settings.public_base_url),
                      ("BORDERFLOW_VNPAY_PAY_URL", settings.vnpay_pay_url),
                      ("BORDERFLOW_VNPAY_API_URL", settings.vnpay_api_url),
                      ("BORDERFLOW_WEBHOOK_URL", settings.webhook_url)):
        if url and urlsplit(url).scheme != "https":
            shown = url if name != "BORDERFLOW_PUBLIC_BASE_URL" or \
                settings.public_base_url_is_set else f"{url}, derived from HOST and PORT"
            found.append(f"{name} is not HTTPS ({shown}): use an https:// address")
    if settings.password_hash_time_cost < MINIMUM_COST.time_cost:
        found.append(f"BORDERFLOW_PASSWORD_HASH_TIME_COST={settings.password_hash_time_cost} "
                     f"is below {MINIMUM_COST.time_cost} Argon2id passes")
    if settings.password_hash_memory_kib < MINIMUM_COST.memory_kib:
        found.append(f"BORDERFLOW_PASSWORD_HASH_MEMORY_KIB={settings.password_hash_memory_kib} "
                     f"is below {MINIMUM_COST.memory_kib} KiB (19 MiB) of Argon2id memory")
    if not settings.redis_url:
        found.append("BORDERFLOW_REDIS_URL is not set: rate limits and login lockouts would "
                      "be counted in each process alone")
    return found


def demo_accounts_present(engine: Engine) -> list[str]:
    """Usernames of the demo accounts (`borderflow setup --demo`) still active."""
    demos = {(d.username, d.display_name) for d in demo_accounts("-", "-", "-")}
    try:
        with Session(engine) as session:
            rows = session.execute(select(Account.username, Account.display_name)
                                   .where(Account.active.is_(True))).all()
    except SQLAlchemyError:  # not migrated yet: no accounts
        return []
    return sorted(u for u, name in rows if (u, name) in demos)


def unsafe_topology(settings: Settings, workers: int) -> list[str]:
    """What is unsafe about ``borderflow serve --workers N`` running the background work in
    each of its N processes (``BORDERFLOW_BACKGROUND=all``).

    Most of it is safe on PostgreSQL: one dispatcher leads (a session advisory lock, and each
    cycle locks as well), a notification is claimed by one sender under a renewed lease, the
    purges and situation reports only repeat each other's work. The MQTT subscriber is not:
    every process would connect with the same ``BORDERFLOW_MQTT_CLIENT_ID``, and a broker
    lets one connection hold a client id, so they would take the session from each other
    in turn."""
    if workers <= 1 or settings.background != "all" or not settings.mqtt_url:
        return []
    if settings.mqtt_client_id:
        return [f"BORDERFLOW_MQTT_CLIENT_ID with --workers {workers} and "
                "BORDERFLOW_BACKGROUND=all: every worker would subscribe with the same client "
                "id and the broker would disconnect one for the other; set "
                "BORDERFLOW_BACKGROUND=none and run `borderflow worker` (one client id each), "
                "or leave the client id unset"]
    return []


def check(settings: Settings, engine: Engine | None = None, *, workers: int = 1) -> None:
    """Raise :class:`UnsafeForProduction` naming every unsafe setting, in production only;
    ``workers``: the processes ``borderflow serve`` starts."""
    if not settings.production:
        return
    problems = unsafe_settings(settings) + unsafe_topology(settings, workers)
    if engine is not None:
        demo = demo_accounts_present(engine)
        if demo:
            problems.append(f"demo accounts are active ({', '.join(demo)}): disable them "
                            "(PATCH /api/v1/accounts/ID {\"active\": false})")
    if problems:
        raise UnsafeForProduction(problems)
