"""HTTP API for login, the caller's own account, account administration and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from borderflow import audit
from borderflow.account import (
    admin_views,
    messages,
    password_reset,
    registration,
    service,
    throttle,
)
from borderflow.account.schemas import (
    AccountIn,
    AccountOut,
    AccountPatch,
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    AuditOut,
    AuditPage,
    EnterpriseIn,
    EnterpriseOut,
    PasswordChanged,
    PasswordChangeIn,
    RefusalIn,
    RegistrationAdminOut,
    RegistrationIn,
    RegistrationOut,
    ResetCompleteIn,
    ResetRequestedOut,
    ResetRequestIn,
    TokenOut,
)
from borderflow.account.session_endpoints import router as sessions_router
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ERROR_RESPONSES, ErrorResponse
from borderflow.api.idempotency import Idem
from borderflow.api.paging import (
    DEFAULT_LIMIT,
    PAGED_DOC,
    PAGED_RESPONSES,
    Cursor,
    Limit,
    link_next,
)
from borderflow.domain.access import Principal, Role
from borderflow.errors import Unauthorized, ValidationFailed, msg
from borderflow.network import service as networks

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
router.include_router(sessions_router)  # browser sessions and the second factor

Self = Annotated[Principal, Depends(require("account.read_self"))]
Admin = Annotated[Principal, Depends(require("account.manage"))]
EnterpriseReader = Annotated[Principal, Depends(require("enterprise.read"))]
EnterpriseAdmin = Annotated[Principal, Depends(require("enterprise.manage"))]
Auditor = Annotated[Principal, Depends(require("audit.read"))]

AWAITING = msg("your registration is waiting for an admin's confirmation; you will be told "
               "by SMS")
RESET_SENT = msg("if this username has an account with a phone, a code was sent to it by SMS; "
                 "it is valid for 10 minutes")


def sms_after_commit(request: Request, tasks: BackgroundTasks) -> None:
    """Send the account SMS just written, once the request's transaction has committed (a
    background task runs after the response)."""
    channel = getattr(request.app.state, "notifiers", {}).get("sms")
    ctx = request.app.state.ctx
    gateway = getattr(channel, "gateway", None)
    tasks.add_task(lambda: messages.send_pending(ctx.sessions, gateway, ctx.clock.now()))


def _account_out(a: Any) -> dict[str, Any]:
    return AccountOut.model_validate(a).model_dump(mode="json")


@router.post(
    "/auth/token", response_model=TokenOut, tags=["auth"],
    responses={401: {"model": ErrorResponse, "description": "Wrong username or password"},
               429: {"model": ErrorResponse, "description": "Too many failed logins: locked "
                     "out for the seconds in `Retry-After`"}},
    summary="Log in (OAuth2 password flow)",
    description="Form fields `username` and `password`, and `otp` (the authenticator app's "
    "code, or a recovery code) for accounts with a second factor. Returns a short-lived "
    "bearer token. Machine clients use `X-API-Key` instead. Every success and refusal is "
    "audited.\n\n**Roles:** anyone.",
)
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], ctx: Ctx, db: Db,
          request: Request, otp: Annotated[str, Form(max_length=20)] = "") -> dict[str, Any]:
    minutes = ctx.settings.access_token_minutes
    throttle.guard_login(request, form.username)
    try:
        token = service.login(db, form.username, form.password, key=ctx.secret_key,
                              now=ctx.clock.now(), minutes=minutes, code=otp or None,
                              settings=ctx.settings)
    except Unauthorized:
        db.commit()  # keep the audit row of the refusal
        throttle.login_failed(request, db, form.username)
        if registration.awaiting(db, form.username, form.password):
            raise Unauthorized(AWAITING) from None
        raise
    throttle.login_succeeded(request, form.username)
    return {"access_token": token, "token_type": "bearer", "expires_in": minutes * 60}


@router.get("/me", response_model=AccountOut, tags=["auth"], summary="Who am I",
            description="Your account, roles and scopes." + roles_doc("account.read_self"))
def me(db: Db, actor: Self) -> dict[str, Any]:
    assert actor.id is not None  # noqa: S101  (signed-in callers always have an id)
    return _account_out(service.get_account(db, actor.id))


@router.get("/accounts", response_model=list[AccountOut], tags=["accounts"],
            responses=PAGED_RESPONSES, summary="List accounts",
            description="By username; `role` keeps the accounts holding that role."
            + PAGED_DOC + roles_doc("account.manage"))
def list_accounts(db: Db, _: Admin, request: Request, response: Response,
                  role: Role | None = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
                  ) -> list[dict[str, Any]]:
    found = admin_views.accounts_after(db, role=role, cursor=cursor, limit=limit)
    link_next(request, response, found)
    return [_account_out(a) for a in found.items]


@router.post("/accounts", response_model=AccountOut, status_code=201, tags=["accounts"],
             responses={409: {"model": ErrorResponse, "description": "Username taken"}},
             summary="Create a user or machine client",
             description="Roles and their scopes: enterprise needs `enterprise_tax_code`, driver "
             "`driver_document`, cashier `gate_scope`, yard operator `yard_scope`."
             + roles_doc("account.manage"))
def create_account(body: AccountIn, ctx: Ctx, db: Db, actor: Admin, idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    spec = service.AccountSpec(
        username=body.username, display_name=body.display_name, roles=tuple(body.roles),
        kind=body.kind, password=body.password, enterprise_tax_code=body.enterprise_tax_code,
        driver_document=body.driver_document, gate_scope=tuple(body.gate_scope),
        yard_scope=tuple(body.yard_scope),
    )
    account = service.create_account(db, spec, actor=actor, now=ctx.clock.now(),
                                     network=networks.in_force_or_none(db, ctx.clock.now()))
    return idem.respond(_account_out(account), 201)


@router.get("/accounts/{account_id}", response_model=AccountOut, tags=["accounts"],
            responses={404: {"model": ErrorResponse}}, summary="Read an account",
            description=roles_doc("account.manage"))
def read_account(account_id: int, db: Db, _: Admin) -> dict[str, Any]:
    return _account_out(service.get_account(db, account_id))


@router.patch("/accounts/{account_id}", response_model=AccountOut, tags=["accounts"],
              responses={404: {"model": ErrorResponse}},
              summary="Change roles, scopes, password or disable an account",
              description=roles_doc("account.manage"))
def update_account(account_id: int, body: AccountPatch, ctx: Ctx, db: Db, actor: Admin,
                   idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    account = service.get_account(db, account_id)
    changes = body.model_dump(exclude_unset=True)
    updated = service.update_account(db, account, changes, actor=actor, now=ctx.clock.now(),
                                     network=networks.in_force_or_none(db, ctx.clock.now()))
    return idem.respond(_account_out(updated))


@router.get("/accounts/{account_id}/api-keys", response_model=list[ApiKeyOut],
            tags=["accounts"], summary="API keys of an account",
            description=roles_doc("account.manage"))
def list_keys(account_id: int, db: Db, _: Admin) -> list[dict[str, Any]]:
    service.get_account(db, account_id)
    return [ApiKeyOut.model_validate(k).model_dump(mode="json")
            for k in service.api_keys_of(db, [account_id])]


@router.post("/accounts/{account_id}/api-keys", response_model=ApiKeyCreated, status_code=201,
             tags=["accounts"], summary="Issue an API key (shown once)",
             description="For machine clients (cameras, fleet systems, the partner side)."
             + roles_doc("account.manage"))
def create_key(account_id: int, body: ApiKeyIn, ctx: Ctx, db: Db, actor: Admin, idem: Idem
               ) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    account = service.get_account(db, account_id)
    row, full = service.create_api_key(db, account, body.name, actor=actor, now=ctx.clock.now())
    out = ApiKeyOut.model_validate(row).model_dump(mode="json")
    return idem.respond({**out, "key": full}, 201)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, tags=["accounts"],
               responses={404: {"model": ErrorResponse}}, summary="Revoke an API key",
               description=roles_doc("account.manage"))
def revoke_key(key_id: int, ctx: Ctx, db: Db, actor: Admin) -> dict[str, Any]:
    row = service.revoke_api_key(db, key_id, actor=actor, now=ctx.clock.now())
    return ApiKeyOut.model_validate(row).model_dump(mode="json")


@router.get("/audit", response_model=AuditPage, tags=["audit"], summary="Read the audit log",
            description="Newest first, filterable by target, actor, action and time."
            + roles_doc("audit.read"))
def read_audit(
    db: Db,
    _: Auditor,
    target_type: str | None = None,
    target_id: str | None = None,
    actor: str | None = Query(default=None, description="Actor's username"),
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    rows, total = audit.search(db, target_type=target_type, target_id=target_id, actor=actor,
                               action=action, since=since, until=until, page=page,
                               size=page_size)
    return {"items": [AuditOut.model_validate(r).model_dump(mode="json") for r in rows],
            "total": total, "page": page, "page_size": page_size}


@router.get("/enterprises", response_model=list[EnterpriseOut], tags=["enterprises"],
            responses=PAGED_RESPONSES, summary="Registered enterprises and their AEO status",
            description="By tax code." + PAGED_DOC + roles_doc("enterprise.read"))
def list_enterprises(db: Db, _caller: EnterpriseReader, request: Request, response: Response,
                     limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> list[dict[str, Any]]:
    found = admin_views.enterprises_after(db, cursor=cursor, limit=limit)
    link_next(request, response, found)
    return [EnterpriseOut.model_validate(e).model_dump(mode="json") for e in found.items]


@router.put("/enterprises/{tax_code}", response_model=EnterpriseOut, tags=["enterprises"],
            summary="Register an enterprise or change its authorised-economic-operator status",
            description="AEO enterprises' trips queue in the `aeo` (or `aeo_perishable`) "
            "priority class from the next declaration." + roles_doc("enterprise.manage"))
def put_enterprise(tax_code: str, body: EnterpriseIn, ctx: Ctx, db: Db, actor: EnterpriseAdmin,
                   idem: Idem) -> Any:
    if (replayed := idem.replay()) is not None:
        return replayed
    row = service.upsert_enterprise(db, tax_code, body.name, body.aeo, body.aeo_valid_until,
                                    actor=actor, now=ctx.clock.now())
    return idem.respond(EnterpriseOut.model_validate(row).model_dump(mode="json"))


# --- accounts that serve themselves ---------------------------------------------------------


@router.post("/registrations", response_model=RegistrationOut, status_code=202,
             tags=["registrations"],
             responses={422: {"model": ErrorResponse, "description": "A field is wrong (a bad "
                              "or already registered tax code, a taken username, a weak "
                              "password): each is named"},
                        429: {"model": ErrorResponse, "description": "Too many registrations "
                              "from this address"}},
             summary="Register an enterprise (waits for an admin)",
             description="The account is created when an admin confirms; the applicant is "
             "told by SMS. Until then the username cannot log in.\n\n**Roles:** anyone, no "
             "login needed.")
def register(body: RegistrationIn, ctx: Ctx, db: Db, request: Request) -> dict[str, Any]:
    throttle.spend(request, "register")
    row = registration.register(db, registration.Application(**body.model_dump()),
                                now=ctx.clock.now())
    return RegistrationOut.model_validate(row).model_dump(mode="json")


@router.get("/registrations", response_model=list[RegistrationAdminOut], tags=["registrations"],
            summary="Enterprises' registrations",
            description="Oldest first; `status` filters (default: those waiting)."
            + roles_doc("account.manage"))
def list_registrations(db: Db, _: Admin, status: Literal["pending", "confirmed", "refused",
                       "all"] = "pending") -> list[dict[str, Any]]:
    rows = registration.listed(db, None if status == "all" else status)
    return [RegistrationAdminOut.model_validate(r).model_dump(mode="json") for r in rows]


@router.post("/registrations/{registration_id}/confirm", response_model=RegistrationAdminOut,
             tags=["registrations"],
             responses={404: {"model": ErrorResponse},
                        409: {"model": ErrorResponse, "description": "Already decided"}},
             summary="Confirm a registration: the enterprise account is created",
             description="Role `enterprise`, scoped to the registration's tax code; the "
             "applicant is told by SMS." + roles_doc("account.manage"))
def confirm_registration(registration_id: int, ctx: Ctx, db: Db, actor: Admin, request: Request,
                         tasks: BackgroundTasks) -> dict[str, Any]:
    registration.confirm(db, registration_id, actor=actor, now=ctx.clock.now())
    sms_after_commit(request, tasks)
    row = registration.get(db, registration_id)
    return RegistrationAdminOut.model_validate(row).model_dump(mode="json")


@router.post("/registrations/{registration_id}/refuse", response_model=RegistrationAdminOut,
             tags=["registrations"],
             responses={404: {"model": ErrorResponse},
                        409: {"model": ErrorResponse, "description": "Already decided"}},
             summary="Refuse a registration with a reason",
             description="The applicant is told the reason by SMS."
             + roles_doc("account.manage"))
def refuse_registration(registration_id: int, body: RefusalIn, ctx: Ctx, db: Db, actor: Admin,
                        request: Request, tasks: BackgroundTasks) -> dict[str, Any]:
    row = registration.refuse(db, registration_id, body.reason, actor=actor,
                              now=ctx.clock.now())
    sms_after_commit(request, tasks)
    return RegistrationAdminOut.model_validate(row).model_dump(mode="json")


@router.post("/me/password", response_model=PasswordChanged, tags=["auth"],
             responses={422: {"model": ErrorResponse, "description": "Wrong current password "
                              "or a new one the policy refuses"}},
             summary="Change your password",
             description="Checks the current password and the policy; ends your browser "
             "sessions and revokes every API token issued so far (this one too)."
             + roles_doc("account.read_self"))
def change_my_password(body: PasswordChangeIn, ctx: Ctx, db: Db, actor: Self,
                       request: Request) -> dict[str, Any]:
    assert actor.id is not None  # noqa: S101  (signed-in callers always have an id)
    account = service.get_account(db, actor.id)
    throttle.guard_login(request, account.username)
    try:
        ended = password_reset.change_password(db, account, body.current_password,
                                               body.new_password, actor=actor,
                                               now=ctx.clock.now())
    except ValidationFailed as exc:
        if any(f.field == "current_password" for f in exc.fields):
            throttle.login_failed(request, db, account.username)
        raise
    return {"sessions": ended, "api_tokens": True}


@router.post("/password-resets", response_model=ResetRequestedOut, status_code=202,
             tags=["auth"],
             responses={429: {"model": ErrorResponse, "description": "Too many codes asked"}},
             summary="Ask for a password reset code by SMS",
             description="The code goes to the account's phone, is valid 10 minutes and works "
             "once. The answer is the same whether or not the username exists.\n\n"
             "**Roles:** anyone, no login needed.")
def request_password_reset(body: ResetRequestIn, ctx: Ctx, db: Db, request: Request,
                           tasks: BackgroundTasks) -> dict[str, Any]:
    throttle.spend(request, "reset_request", body.username)
    password_reset.request_reset(db, body.username, now=ctx.clock.now())
    sms_after_commit(request, tasks)
    return {"message": str(RESET_SENT)}


@router.post("/password-resets/complete", response_model=PasswordChanged, tags=["auth"],
             responses={422: {"model": ErrorResponse, "description": "Wrong, used or expired "
                              "code (field `code`), or a password the policy refuses"},
                        429: {"model": ErrorResponse, "description": "Too many codes typed"}},
             summary="Set a new password with the code of the SMS",
             description="Ends every browser session and API token of the account. A code "
             "stops working after a few wrong tries.\n\n**Roles:** anyone, no login needed.")
def complete_password_reset(body: ResetCompleteIn, ctx: Ctx, db: Db,
                            request: Request) -> dict[str, Any]:
    throttle.spend(request, "reset_code")
    try:
        ended = password_reset.complete_reset(db, body.username, body.code, body.new_password,
                                              now=ctx.clock.now())
    except ValidationFailed:
        db.commit()  # the wrong try stays counted
        raise
    return {"sessions": ended, "api_tokens": True}
