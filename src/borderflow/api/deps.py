"""Request dependencies: the database session, the caller, role checks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from borderflow.account import security
from borderflow.account import service as accounts
from borderflow.api.context import AppContext
from borderflow.domain.access import ANONYMOUS, Principal, Role, roles_for
from borderflow.errors import AppError, FieldError, Forbidden, Unauthorized, ValidationFailed

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def get_context(request: Request) -> AppContext:
    """The process's context. A coroutine, as every dependency that does no I/O: FastAPI
    runs a plain function's dependency in a worker thread, and a request would wait for a
    free thread (behind requests holding them all in a burst) to read an attribute."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _look_up(ctx: AppContext, token: str | None, api_key: str | None) -> Principal | AppError:
    try:
        with ctx.read_sessions() as session:
            if api_key:
                found = accounts.principal_for_api_key(session, api_key, now=ctx.clock.now())
                ctx.callers.put("key", api_key, found)
                return found
            found = accounts.principal_for_token(session, token or "", key=ctx.secret_key,
                                                 now=ctx.clock.now())
            ctx.callers.put("token", token or "", found)
            return found
    except AppError as exc:
        return exc


def _remembered(ctx: AppContext, token: str | None, api_key: str | None) -> Principal | None:
    """The caller when this process looked the credential up a moment ago (a token still
    checked for its signature and expiry, without the database)."""
    if api_key:
        return ctx.callers.get("key", api_key)
    known = ctx.callers.get("token", token or "")
    if known is None:
        return None
    try:
        security.read_claims(token or "", key=ctx.secret_key, now=ctx.clock.now())
    except AppError:
        return None  # looked up again, and refused with the reason
    return known


async def authenticate(
    ctx: Ctx,
    request: Request,
    token: Annotated[str | None, Depends(oauth2)],
    api_key: Annotated[str | None, Depends(api_key_header)],
) -> Principal | AppError:
    """Who is calling, looked up in a short read transaction of its own, before (never
    inside) the request's transaction. A bad credential is returned, not raised: a route
    open to anyone still answers, a route that needs a login refuses (:func:`get_principal`)."""
    if not api_key and not token:
        return ANONYMOUS
    known = _remembered(ctx, token, api_key)
    if known is not None:
        return known
    async with ctx.admission.enter(request, write=False):
        return await run_in_threadpool(_look_up, ctx, token, api_key)


Authenticated = Annotated[Principal | AppError, Depends(authenticate)]


@asynccontextmanager
async def request_session(ctx: AppContext, request: Request, *, write: bool,
                          caller: Principal | AppError) -> AsyncIterator[Session]:
    """The request's one transaction, committed when the handler returns, before the
    response. The database is entered through the admission (waiting in the event loop, a
    503 when it takes too long): a write takes a writer's place (SQLite's single write
    lock), so a write transaction begins only when the request's turn has come, after the
    caller is known. A write carrying an ``Idempotency-Key`` claims it first: a
    concurrent request with the same key is answered 409 at once."""
    key = request.headers.get("idempotency-key", "").strip() if write else ""
    claim: AbstractContextManager[None] = nullcontext()
    if key and isinstance(caller, Principal) and caller.id is not None:
        claim = ctx.admission.claim(caller.id, key)
    with claim:
        async with ctx.admission.enter(request, write=write):
            session = (ctx.sessions if write else ctx.read_sessions)()
            try:
                yield session
            except BaseException:
                await ctx.admission.finish(session.close)  # rolls back
                raise
            await ctx.admission.finish(lambda: _commit_and_close(session))


def _commit_and_close(session: Session) -> None:
    try:
        session.commit()
    finally:
        session.close()


async def get_db(ctx: Ctx, request: Request, caller: Authenticated) -> AsyncIterator[Session]:
    """One transaction per request: a read transaction for GET, HEAD and OPTIONS, a write
    transaction for the other methods (see :func:`request_session`)."""
    async with request_session(ctx, request, write=request.method not in READ_METHODS,
                               caller=caller) as session:
        yield session


async def get_read_db(ctx: Ctx, request: Request, caller: Authenticated
                      ) -> AsyncIterator[Session]:
    """A read transaction whatever the method: for a POST that only computes an answer
    (a quote), which must never wait for, or hold, the write lock."""
    async with request_session(ctx, request, write=False, caller=caller) as session:
        yield session


Db = Annotated[Session, Depends(get_db, scope="function")]
ReadDb = Annotated[Session, Depends(get_read_db, scope="function")]


async def get_principal(found: Authenticated) -> Principal:
    if isinstance(found, AppError):
        raise found
    return found


Caller = Annotated[Principal, Depends(get_principal)]


def require(action: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets the call through only for the roles the matrix allows."""
    allowed = roles_for(action)

    async def check(principal: Caller) -> Principal:
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
