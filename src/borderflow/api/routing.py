"""The platform's routes: FastAPI's, with a handler written as a plain function run in a worker
thread as the whole of its work.

FastAPI runs a plain-function handler in a worker thread and then, in another trip through a
worker thread, checks its answer against the response model. Each trip hands the request to
a thread and back to the event loop, where it waits its turn again behind every other
request: at a peak the event loop has a queue, and each wait is part of the answer's time
(and of the time the request holds its place at the database). :class:`PlatformRoute` runs
such a handler in a worker thread itself and hands FastAPI a coroutine, so FastAPI checks the
answer on the event loop right away (a check of a model built from Python values, the same
work either way: threads share one interpreter lock). Every router of the platform uses it
(``APIRouter(route_class=PlatformRoute)``; a test sees that every route does)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool


def in_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` as a coroutine that runs it in a worker thread, if it is a plain
    function; else ``endpoint`` itself. The signature, name, documentation and annotations
    are the handler's (``functools.wraps``), so FastAPI reads its parameters, response
    model and description as before."""
    if not inspect.isfunction(endpoint) or inspect.iscoroutinefunction(endpoint) or \
            inspect.isgeneratorfunction(endpoint) or inspect.isasyncgenfunction(endpoint):
        return endpoint

    @functools.wraps(endpoint)
    async def run(**values: Any) -> Any:
        return await run_in_threadpool(endpoint, **values)

    return run


class PlatformRoute(APIRoute):
    """An API route whose plain-function handler is run by :func:`in_thread`."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, in_thread(endpoint), **kwargs)
