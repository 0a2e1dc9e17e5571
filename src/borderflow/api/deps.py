"""Request dependencies: the database session, the caller, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session

from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.domain.access import ANONYMOUS, Principal, Role, roles_for
from borderflow.errors import FieldError, Forbidden, Unauthorized, ValidationFailed

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_db(ctx: Ctx, request: Request) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, before the response."""
    factory = ctx.read_sessions if request.method in READ_METHODS else ctx.sessions
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


Db = Annotated[Session, Depends(get_db, scope="function")]


def get_principal(
    ctx: Ctx,
    db: Db,
    token: Annotated[str | None, Depends(oauth2)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal:
    if api_key:
        return accounts.principal_for_api_key(db, api_key, now=ctx.clock.now())
    if token:
        return accounts.principal_for_token(db, token, key=ctx.secret_key, now=ctx.clock.now())
    return ANONYMOUS


Caller = Annotated[Principal, Depends(get_principal)]


def require(action: str) -> Callable[[Principal], Principal]:
    """A dependency that lets the call through only for the roles the matrix allows."""
    allowed = roles_for(action)

    def check(principal: Caller) -> Principal:
        if principal.roles & allowed:
            return principal
        if principal.kind == "anonymous":
            raise Unauthorized("log in to do this (Authorization: Bearer <token> or X-API-Key)")
        raise Forbidden(f"your role may not do '{action}'")

    check.__doc__ = f"Allowed roles: {', '.join(sorted(r.value for r in allowed))}"
    return check


def roles_doc(action: str) -> str:
    """The sentence every endpoint description ends with."""
    allowed = roles_for(action)
    if Role.PUBLIC in allowed:
        return "\n\n**Roles:** anyone, no login needed."
    return "\n\n**Roles:** " + ", ".join(f"`{r.value}`" for r in sorted(allowed))


def if_match_number(if_match: str | None) -> int | None:
    """The number in an ``If-Match`` header (``"3"`` or ``W/"3"``), or ``None`` if absent."""
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ValidationFailed([FieldError("If-Match", 'give the number from the ETag, e.g. "3"')])
    return int(raw)
