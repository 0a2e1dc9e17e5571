"""Account use cases: log in, resolve callers, manage users, clients and API keys."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from borderflow import audit
from borderflow.account import passwords, second_factor, security
from borderflow.account.principals import to_principal as to_principal  # re-exported
from borderflow.config import Settings
from borderflow.domain.access import ANONYMOUS, Principal, Role
from borderflow.domain.network import Network
from borderflow.domain.values import parse_tax_code
from borderflow.errors import (
    Conflict,
    FieldError,
    NotFound,
    Unauthorized,
    ValidationFailed,
    msg,
    reason_of,
)
from borderflow.store.models import Account, ApiKey, Enterprise

MIN_PASSWORD_LENGTH = passwords.MIN_LENGTH


def snapshot(account: Account) -> dict[str, Any]:
    """The audited view of an account (never the password hash)."""
    return {
        "id": account.id,
        "kind": account.kind,
        "username": account.username,
        "display_name": account.display_name,
        "roles": list(account.roles),
        "enterprise_tax_code": account.enterprise_tax_code,
        "driver_document": account.driver_document,
        "gate_scope": list(account.gate_scope or ()),
        "yard_scope": list(account.yard_scope or ()),
        "active": account.active,
    }


def authenticate(session: Session, username: str, password: str, *, now: datetime,
                 channel: str = "api") -> Account:
    """The active user account with this password; a refusal is audited (the caller commits
    before answering so that the row stays)."""
    name = username.strip()
    account = session.scalar(select(Account).where(Account.username == name))
    ok = security.verify_password(account.password_hash if account else None, password)
    if account is None or not ok or not account.active or account.kind != "user":
        audit.record(session, actor=ANONYMOUS, action="auth.login_failed",
                     target_type="account", target_id=str(account.id) if account else "-",
                     at=now, after={"username": name[:80], "channel": channel,
                                    "reason": "password" if account else "unknown user"})
        raise Unauthorized(msg("wrong username or password"))
    if account.password_hash and security.needs_rehash(account.password_hash):
        account.password_hash = security.hash_password(password)
    return account


def second_factor_passes(session: Session, account: Account, code: str | None, *,
                         now: datetime, required: bool, channel: str) -> None:
    """Refuse (audited) a login without the code of a second factor the account has, or of
    one it must have and has not set up."""
    if second_factor.confirmed(session, account.id) is None:
        if required:
            audit.record(session, actor=ANONYMOUS, action="auth.login_failed",
                         target_type="account", target_id=str(account.id), at=now,
                         after={"username": account.username, "channel": channel,
                                "reason": "second factor not set up"})
            raise Unauthorized(msg("this account must set up a second factor first: log in "
                                   "on the web and follow the steps"), field="otp")
        return
    if not code:
        raise Unauthorized(msg("give the code from your authenticator app"), field="otp")
    if second_factor.check(session, account, code, now=now) is None:
        audit.record(session, actor=ANONYMOUS, action="auth.login_failed",
                     target_type="account", target_id=str(account.id), at=now,
                     after={"username": account.username, "channel": channel,
                            "reason": "second factor"})
        raise Unauthorized(msg("wrong or expired code"), field="otp")


def logged_in(session: Session, account: Account, *, now: datetime, channel: str,
              **details: Any) -> None:
    audit.record(session, actor=to_principal(account), action="auth.login",
                 target_type="account", target_id=str(account.id), at=now,
                 after={"channel": channel, **details})


def login(session: Session, username: str, password: str, *, key: str, now: datetime,
          minutes: int, code: str | None = None, settings: Settings | None = None) -> str:
    """An API access token for a user's password (and second-factor code), audited."""
    account = authenticate(session, username, password, now=now)
    required = settings is not None and second_factor.required(
        settings, second_factor.roles_of(account))
    second_factor_passes(session, account, code, now=now, required=required, channel="api")
    logged_in(session, account, now=now, channel="api")
    return security.issue_token(account.id, account.username, key=key, now=now, minutes=minutes,
                                version=account.token_version or 0)


def principal_for_token(session: Session, token: str, *, key: str, now: datetime,
                        kind: str = "access") -> Principal:
    account_id, version = security.read_claims(token, key=key, now=now, kind=kind)
    account = session.get(Account, account_id)
    if account is None or not account.active:
        raise Unauthorized(msg("account is disabled or no longer exists"))
    if version != (account.token_version or 0):
        raise Unauthorized(msg("this token was revoked; log in again"))
    return to_principal(account)


def principal_for_api_key(session: Session, key: str, *, now: datetime) -> Principal:
    prefix, secret = security.split_api_key(key)
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None:
        raise Unauthorized(msg("API key is unknown or revoked"))
    if not security.same_digest(row.secret_sha256, security.digest(secret)):
        raise Unauthorized(msg("API key is unknown or revoked"))
    account = session.get(Account, row.account_id)
    if account is None or not account.active:
        raise Unauthorized(msg("API key belongs to a disabled account"))
    return to_principal(account)


@dataclass(frozen=True)
class AccountSpec:
    """What an admin gives to create or change an account."""

    username: str
    display_name: str
    roles: tuple[Role, ...]
    kind: Literal["user", "client"] = "user"
    password: str | None = None
    enterprise_tax_code: str | None = None
    driver_document: str | None = None
    gate_scope: tuple[str, ...] = ()
    yard_scope: tuple[str, ...] = ()


def check_spec(spec: AccountSpec, network: Network | None) -> tuple[AccountSpec, list[FieldError]]:
    """Validate an account's roles and scopes; return the canonical spec and any errors."""
    errors: list[FieldError] = []
    tax = spec.enterprise_tax_code
    if not spec.roles:
        errors.append(FieldError("roles", msg("give at least one role")))
    if Role.PUBLIC in spec.roles:
        errors.append(FieldError("roles", msg("'{role}' is the anonymous role; it cannot be "
                                             "given", role="public")))
    if not spec.username.strip() or len(spec.username) > 80:
        errors.append(FieldError("username", msg("must be 1 to 80 characters")))
    if spec.kind == "user":
        if spec.password is not None:
            errors.extend(FieldError("password", reason)
                          for reason in passwords.problems(spec.password, spec.username))
    elif spec.password is not None:
        errors.append(FieldError("password", msg("machine clients use API keys, not passwords")))
    if Role.ENTERPRISE in spec.roles:
        if not tax:
            errors.append(FieldError("enterprise_tax_code",
                                     msg("required for the enterprise role")))
        else:
            try:
                tax = parse_tax_code(tax)
            except ValueError as exc:
                errors.append(FieldError("enterprise_tax_code",
                                         reason_of(exc)))
    elif tax:
        errors.append(FieldError("enterprise_tax_code", msg("only enterprise accounts have one")))
    if Role.DRIVER in spec.roles and not spec.driver_document:
        errors.append(FieldError("driver_document", msg("required for the driver role")))
    if Role.CASHIER in spec.roles and not spec.gate_scope:
        errors.append(FieldError("gate_scope",
                                 msg("a cashier must be scoped to at least one gate")))
    if Role.YARD_OPERATOR in spec.roles and not spec.yard_scope:
        errors.append(FieldError("yard_scope", msg("a yard operator needs at least one yard")))
    if network is not None:
        gates = {g.code for g in network.gates}
        for i, code in enumerate(spec.gate_scope):
            if code not in gates:
                errors.append(FieldError(f"gate_scope[{i}]", msg("unknown gate '{code}'",
                                                                   code=code)))
        staging = {s.code for s in network.staging_areas}
        for i, code in enumerate(spec.yard_scope):
            if network.yard(code) is None and code not in staging:
                errors.append(FieldError(f"yard_scope[{i}]",
                                         msg("unknown yard or staging area '{code}'",
                                             code=code)))
    canonical = AccountSpec(
        username=spec.username.strip(),
        display_name=spec.display_name.strip() or spec.username.strip(),
        roles=tuple(dict.fromkeys(spec.roles)),
        kind=spec.kind,
        password=spec.password,
        enterprise_tax_code=tax,
        driver_document=(spec.driver_document or "").strip().upper() or None,
        gate_scope=tuple(dict.fromkeys(spec.gate_scope)),
        yard_scope=tuple(dict.fromkeys(spec.yard_scope)),
    )
    return canonical, errors


def create_account(
    session: Session, spec: AccountSpec, *, actor: Principal, now: datetime,
    network: Network | None,
) -> Account:
    spec, errors = check_spec(spec, network)
    if spec.kind == "user" and spec.password is None:
        errors.append(FieldError("password", msg("required for a user")))
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(Account.id).where(Account.username == spec.username)) is not None:
        raise Conflict(msg("username '{username}' is taken", username=spec.username),
                       field="username")
    account = Account(
        kind=spec.kind,
        username=spec.username,
        display_name=spec.display_name,
        password_hash=security.hash_password(spec.password) if spec.password else None,
        roles=[r.value for r in spec.roles],
        enterprise_tax_code=spec.enterprise_tax_code,
        driver_document=spec.driver_document,
        gate_scope=list(spec.gate_scope),
        yard_scope=list(spec.yard_scope),
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    session.flush()
    audit.record(session, actor=actor, action="account.create", target_type="account",
                 target_id=str(account.id), at=now, after=snapshot(account))
    return account


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(msg("no account {number}", number=str(account_id)))
    return account


def find_account(session: Session, username: str) -> Account:
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound(msg("no account named '{username}'", username=username))
    return account


def list_accounts(session: Session, role: Role | None = None) -> list[Account]:
    rows = session.scalars(select(Account).order_by(Account.username)).all()
    if role is None:
        return list(rows)
    return [a for a in rows if role.value in a.roles]


def update_account(
    session: Session, account: Account, changes: dict[str, Any], *, actor: Principal,
    now: datetime, network: Network | None,
) -> Account:
    """Change roles, scopes, display name, active flag or password of an account."""
    before = snapshot(account)

    def kept(key: str, current: Any) -> Any:
        """An explicit null keeps the name, roles and password; it clears scopes."""
        value = changes.get(key, current)
        return current if value is None and key in ("display_name", "roles") else value

    spec = AccountSpec(
        username=account.username,
        display_name=kept("display_name", account.display_name),
        roles=tuple(Role(r) for r in kept("roles", account.roles)),
        kind="client" if account.kind == "client" else "user",
        password=changes.get("password"),
        enterprise_tax_code=kept("enterprise_tax_code", account.enterprise_tax_code),
        driver_document=kept("driver_document", account.driver_document),
        gate_scope=tuple(kept("gate_scope", account.gate_scope) or ()),
        yard_scope=tuple(kept("yard_scope", account.yard_scope) or ()),
    )
    spec, errors = check_spec(spec, network)
    if errors:
        raise ValidationFailed(errors)
    if actor.id == account.id and changes.get("active") is False:
        raise ValidationFailed([FieldError("active", msg("you cannot disable your own account"))])
    if actor.id == account.id and Role.ADMIN not in spec.roles and Role.ADMIN in actor.roles:
        raise ValidationFailed([FieldError("roles", msg("you cannot remove your own admin role"))])
    account.display_name = spec.display_name
    account.roles = [r.value for r in spec.roles]
    account.enterprise_tax_code = spec.enterprise_tax_code
    account.driver_document = spec.driver_document
    account.gate_scope = list(spec.gate_scope)
    account.yard_scope = list(spec.yard_scope)
    if "active" in changes and changes["active"] is not None:
        account.active = bool(changes["active"])
    if spec.password:
        account.password_hash = security.hash_password(spec.password)
    account.updated_at = now
    after = snapshot(account)
    if spec.password:
        after["password_changed"] = True
    audit.record(session, actor=actor, action="account.update", target_type="account",
                 target_id=str(account.id), at=now, before=before, after=after)
    _security_changes(session, account, before, after, actor=actor, now=now)
    return account


def _security_changes(session: Session, account: Account, before: dict[str, Any],
                      after: dict[str, Any], *, actor: Principal, now: datetime) -> None:
    """A password, role or scope change, or a disabled account, is audited on its own and
    ends the account's browser sessions and API tokens (privileges are taken anew at the
    next login)."""
    from borderflow.account import sessions

    events: list[tuple[str, dict[str, Any]]] = []
    if after.get("password_changed"):
        events.append(("account.password_change", {}))
    if sorted(before["roles"]) != sorted(after["roles"]) or any(
            before[k] != after[k] for k in ("gate_scope", "yard_scope", "enterprise_tax_code",
                                            "driver_document")):
        events.append(("account.roles_change", {"before": before["roles"],
                                                "after": after["roles"]}))
    if before["active"] and not after["active"]:
        events.append(("account.disable", {}))
    for action, details in events:
        audit.record(session, actor=actor, action=action, target_type="account",
                     target_id=str(account.id), at=now, after=details or None)
    if events:
        sessions.revoke_all(session, account, actor=actor, now=now,
                            reason=events[0][0].removeprefix("account."))


def create_api_key(
    session: Session, account: Account, name: str, *, actor: Principal, now: datetime
) -> tuple[ApiKey, str]:
    if not name.strip():
        raise ValidationFailed([FieldError("name", msg("give the key a name (what uses it)"))])
    full, prefix, digest = security.new_api_key()
    row = ApiKey(account_id=account.id, prefix=prefix, secret_sha256=digest, name=name.strip(),
                 created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_key.create", target_type="api_key",
                 target_id=str(row.id), at=now,
                 after={"account_id": account.id, "prefix": prefix, "name": row.name})
    return row, full


def revoke_api_key(session: Session, key_id: int, *, actor: Principal, now: datetime) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(msg("no API key {number}", number=str(key_id)))
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(session, actor=actor, action="api_key.revoke", target_type="api_key",
                     target_id=str(row.id), at=now, after={"prefix": row.prefix})
    return row


def api_keys_of(session: Session, account_ids: Iterable[int]) -> list[ApiKey]:
    ids = list(account_ids)
    return list(session.scalars(select(ApiKey).where(ApiKey.account_id.in_(ids))).all())


def upsert_enterprise(session: Session, tax_code: str, name: str, aeo: bool,
                      aeo_valid_until: date | None, *, actor: Principal, now: datetime
                      ) -> Enterprise:
    """Register an enterprise or change its name and AEO status (audited)."""
    try:
        head = parse_tax_code(tax_code)[:10]
    except ValueError as exc:
        raise ValidationFailed([FieldError("tax_code", reason_of(exc))]
                               ) from None
    row = session.get(Enterprise, head)
    before = None if row is None else {"name": row.name, "aeo": row.aeo,
                                       "aeo_valid_until": str(row.aeo_valid_until or "")}
    if row is None:
        row = Enterprise(tax_code=head, name=name, aeo=aeo, aeo_valid_until=aeo_valid_until,
                         updated_at=now)
        session.add(row)
    else:
        row.name, row.aeo, row.aeo_valid_until, row.updated_at = name, aeo, aeo_valid_until, now
    session.flush()
    audit.record(session, actor=actor, action="enterprise.update", target_type="enterprise",
                 target_id=head, at=now, before=before,
                 after={"name": name, "aeo": aeo, "aeo_valid_until": str(aeo_valid_until or "")})
    return row


def list_enterprises(session: Session) -> list[Enterprise]:
    return list(session.scalars(select(Enterprise).order_by(Enterprise.tax_code)).all())
