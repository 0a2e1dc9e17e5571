"""Dependencies that do no I/O are coroutines: FastAPI runs a plain function's dependency in a
worker thread, and in a burst every thread may be held by requests waiting on the database,
so a request (the public board's refresh, for one) would wait seconds to read an attribute."""

from __future__ import annotations

import inspect
from typing import Any

import anyio.to_thread
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from borderflow.api.routing import PlatformRoute
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


def test_every_route_hands_its_plain_handler_to_a_thread_itself(settings: Settings) -> None:
    """FastAPI would check a plain handler's answer in a second trip through a worker
    thread; the platform's routes run the handler in one (borderflow/api/routing.py)."""
    app = create_app(settings)
    routes = [c.original_route for c in iter_route_contexts(app.routes)
              if isinstance(c.original_route, APIRoute)]
    assert len(routes) > 200
    assert [r.path for r in routes if not isinstance(r, PlatformRoute)] == []
    plain = [r for r in routes if r.name == "find_trips"]
    assert plain
    assert inspect.iscoroutinefunction(plain[0].endpoint)
    assert not inspect.iscoroutinefunction(inspect.unwrap(plain[0].endpoint))


def test_a_read_goes_to_a_thread_once_for_its_handler_and_once_to_end_its_transaction(
        client: TestClient, auth: Any, monkeypatch: Any) -> None:
    """Each trip through a worker thread sends the request back to the event loop's queue
    (at a peak, a wait of its own): a list of trips takes two, its handler and the end of its
    transaction, and its answer is checked against the response model as before."""
    trips: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(getattr(func, "func", func), "__name__", "?"))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    answer = client.get("/api/v1/trips", headers=auth("regulator"))
    assert answer.status_code == 200
    assert isinstance(answer.json(), list | dict)
    # (and the caller's lookup, the first time it is seen)
    assert [t for t in trips if t != "_look_up"] == ["find_trips", "<lambda>"], trips
    bad = client.get("/api/v1/trips", params={"limit": "many"}, headers=auth("regulator"))
    assert bad.status_code == 422
    assert bad.json()["error"]["fields"][0]["field"].endswith("limit")
