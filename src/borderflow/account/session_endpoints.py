"""HTTP API for browser sessions (listed and ended per account) and the second factor."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from borderflow.account import second_factor, sessions
from borderflow.account import service as accounts
from borderflow.api.deps import Ctx, Db, require, roles_doc
from borderflow.api.errors import ErrorResponse
from borderflow.domain.access import Principal

router = APIRouter()

Self = Annotated[Principal, Depends(require("account.read_self"))]
Admin = Annotated[Principal, Depends(require("account.manage"))]


class SessionOut(BaseModel):
    """A browser session still running (the token itself is never shown)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    idle_seconds: int
    user_agent: str
    ip: str
    stage: str = Field(description="`full`, or `enrol` while the second factor is set up")


class RevokedOut(BaseModel):
    sessions: int = Field(description="Browser sessions ended")
    api_tokens: bool = Field(description="Whether API access tokens issued so far are revoked "
                             "too")


class SecondFactorStart(BaseModel):
    secret: str = Field(description="Base32 secret, for typing into an authenticator app")
    uri: str = Field(description="otpauth:// address (what the QR code holds)")
    qr_svg: str = Field(description="The address as an SVG QR code")


class CodeIn(BaseModel):
    code: str = Field(min_length=1, max_length=20,
                      description="The 6-digit code the authenticator app shows now")


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str] = Field(description="Ten one-time codes, shown only now")


class SecondFactorStatus(BaseModel):
    enrolled: bool
    required: bool


def _out(rows: list[Any]) -> list[dict[str, Any]]:
    return [SessionOut.model_validate(r).model_dump(mode="json") for r in rows]


def _me(db: Db, actor: Principal) -> Any:
    assert actor.id is not None  # noqa: S101  (signed-in callers always have an id)
    return accounts.get_account(db, actor.id)


@router.get("/me/sessions", response_model=list[SessionOut], tags=["auth"],
            summary="Your browser sessions still running",
            description="Newest first." + roles_doc("account.read_self"))
def my_sessions(ctx: Ctx, db: Db, actor: Self) -> list[dict[str, Any]]:
    account = _me(db, actor)
    return _out(sessions.live_sessions(db, account.id, now=ctx.clock.now()))


@router.delete("/me/sessions/{session_id}", response_model=SessionOut, tags=["auth"],
               responses={404: {"model": ErrorResponse}},
               summary="End one of your browser sessions at once",
               description=roles_doc("account.read_self"))
def end_my_session(session_id: int, ctx: Ctx, db: Db, actor: Self) -> dict[str, Any]:
    account = _me(db, actor)
    row = sessions.revoke_own(db, account.id, session_id, actor=actor, now=ctx.clock.now())
    return SessionOut.model_validate(row).model_dump(mode="json")


@router.post("/me/sessions/revoke-all", response_model=RevokedOut, tags=["auth"],
             summary="Log out everywhere",
             description="Ends every browser session of your account and revokes every API "
             "access token issued so far (this one included)." + roles_doc("account.read_self"))
def end_all_my_sessions(ctx: Ctx, db: Db, actor: Self) -> dict[str, Any]:
    account = _me(db, actor)
    ended = sessions.revoke_all(db, account, actor=actor, now=ctx.clock.now(),
                                reason="logout_everywhere")
    return {"sessions": ended, "api_tokens": True}


@router.get("/accounts/{account_id}/sessions", response_model=list[SessionOut],
            tags=["accounts"], responses={404: {"model": ErrorResponse}},
            summary="An account's browser sessions still running",
            description=roles_doc("account.manage"))
def account_sessions(account_id: int, ctx: Ctx, db: Db, _: Admin) -> list[dict[str, Any]]:
    account = accounts.get_account(db, account_id)
    return _out(sessions.live_sessions(db, account.id, now=ctx.clock.now()))


@router.post("/accounts/{account_id}/sessions/revoke-all", response_model=RevokedOut,
             tags=["accounts"], responses={404: {"model": ErrorResponse}},
             summary="End every session and API token of an account",
             description=roles_doc("account.manage"))
def end_account_sessions(account_id: int, ctx: Ctx, db: Db, actor: Admin) -> dict[str, Any]:
    account = accounts.get_account(db, account_id)
    ended = sessions.revoke_all(db, account, actor=actor, now=ctx.clock.now(),
                                reason="admin")
    return {"sessions": ended, "api_tokens": True}


@router.get("/me/second-factor", response_model=SecondFactorStatus, tags=["auth"],
            summary="Whether your account has a second factor, and must have one",
            description=roles_doc("account.read_self"))
def my_second_factor(ctx: Ctx, db: Db, actor: Self) -> dict[str, Any]:
    account = _me(db, actor)
    return {"enrolled": second_factor.confirmed(db, account.id) is not None,
            "required": second_factor.required(ctx.settings, second_factor.roles_of(account))}


@router.post("/me/second-factor", response_model=SecondFactorStart, tags=["auth"],
             responses={409: {"model": ErrorResponse, "description": "Already set up"}},
             summary="Start setting up a second factor (TOTP)",
             description="Returns a new secret and its QR code; confirm with a first code."
             + roles_doc("account.read_self"))
def start_second_factor(ctx: Ctx, db: Db, actor: Self) -> dict[str, Any]:
    enrolment = second_factor.start(db, _me(db, actor), now=ctx.clock.now())
    return {"secret": enrolment.secret, "uri": enrolment.uri, "qr_svg": enrolment.qr_svg()}


@router.post("/me/second-factor/confirm", response_model=RecoveryCodesOut, tags=["auth"],
             responses={409: {"model": ErrorResponse, "description": "Nothing to confirm"}},
             summary="Confirm the second factor with a first code",
             description="Returns ten one-time recovery codes (shown once). Ends your other "
             "browser sessions and revokes your earlier API tokens." +
             roles_doc("account.read_self"))
def confirm_second_factor(body: CodeIn, ctx: Ctx, db: Db, actor: Self) -> dict[str, Any]:
    account = _me(db, actor)
    now = ctx.clock.now()
    codes = second_factor.confirm(db, account, body.code, actor=actor, now=now)
    sessions.revoke_all(db, account, actor=actor, now=now, reason="mfa_enrol")
    return {"recovery_codes": codes}


@router.delete("/accounts/{account_id}/second-factor", response_model=SecondFactorStatus,
               tags=["accounts"], responses={404: {"model": ErrorResponse}},
               summary="Reset an account's second factor",
               description="Removes the secret and recovery codes (the person sets up a new "
               "one at the next login where one is required) and ends the account's sessions."
               + roles_doc("account.manage"))
def reset_second_factor(account_id: int, ctx: Ctx, db: Db, actor: Admin) -> dict[str, Any]:
    now = ctx.clock.now()
    second_factor.reset(db, account_id, actor=actor, now=now)
    account = accounts.get_account(db, account_id)
    sessions.revoke_all(db, account, actor=actor, now=now, reason="mfa_reset")
    return {"enrolled": False,
            "required": second_factor.required(ctx.settings, second_factor.roles_of(account))}
