"""Dependencies that do no I/O are coroutines: FastAPI runs a plain function's dependency in a
worker thread, and in a burst every thread may be held by requests waiting on the database,
so a request (the public board's refresh, for one) would wait seconds to read an attribute."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from borderflow.app import create_app
from borderflow.config import Settings


def _in_a_thread(call: Any) -> bool:
    if inspect.isclass(call):  # a form model (the token endpoint's): parsed, no I/O
        return False
    return not (inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)
                or inspect.iscoroutinefunction(type(call).__call__))


def test_no_route_waits_for_a_thread_to_resolve_its_dependencies(settings: Settings) -> None:
    app = create_app(settings)
    threaded: dict[str, set[str]] = {}

    def walk(dependant: Any, path: str) -> None:
        for d in dependant.dependencies:
            if d.call is not None and _in_a_thread(d.call):
                threaded.setdefault(d.call.__qualname__, set()).add(path)
            walk(d, path)

    routes = [c.original_route for c in iter_route_contexts(app.routes)
              if isinstance(c.original_route, APIRoute)]
    assert len(routes) > 200  # every API route and page
    for route in routes:
        walk(route.dependant, route.path)
    for d in app.router.dependencies:  # the application's own (the rate limit)
        assert not _in_a_thread(d.dependency)
    assert threaded == {}
    app.state.ctx.engine.dispose()
