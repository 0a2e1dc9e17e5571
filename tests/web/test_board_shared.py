"""The public board's figures are computed once per interval and shared by every viewer; a
browser that holds the same drawing gets 304, and nobody gets another visitor's header."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from borderflow.app import create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings
from borderflow.dispatch import board
from tests.trip.test_rerouting import staged

NOW = [1000.0]


@pytest.fixture
def shared(settings: Settings, clock: FixedClock) -> Iterator[TestClient]:
    """The platform with the board's figures shared for 30 s of a clock the test moves."""
    app = create_app(settings.model_copy(update={"board_share_seconds": 30}), clock=clock)
    app.state.board_figures = board.Shared(30, monotonic=lambda: NOW[0])
    # over HTTPS, as the platform is served: its cookies are Secure
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as c:
        yield c
    app.state.ctx.engine.dispose()


def _trip_reads(client: TestClient) -> list[str]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM trips" in statement:
            seen.append(statement)

    event.listen(client.app.state.ctx.engine, "before_cursor_execute", count)  # type: ignore[attr-defined]
    return seen


def _queue(html: str, gate: str) -> str:
    part = html[html.index(f'id="gate-{gate}"'):]
    found = re.search(r'data-figure="queue-export">(\d+)<', part[:part.index("</article>")])
    assert found is not None
    return found.group(1)


def test_fifty_viewers_cost_the_database_what_one_does(shared: TestClient, auth: Any) -> None:
    staged(shared, auth, "29C-400.01")
    reads = _trip_reads(shared)
    assert shared.get("/board").status_code == 200
    one_viewer = len(reads)
    assert one_viewer > 0
    for i in range(49):
        page = shared.get("/board/panel" if i % 2 else "/board", params={"lang": "zh"})
        assert page.status_code == 200
    assert len(reads) == one_viewer


def test_the_figures_are_at_most_one_interval_old(shared: TestClient, auth: Any) -> None:
    assert _queue(shared.get("/board").text, "huu-nghi") == "0"
    staged(shared, auth, "29C-400.02")
    NOW[0] += 29
    assert _queue(shared.get("/board").text, "huu-nghi") == "0"  # shared, not yet renewed
    NOW[0] += 1
    assert _queue(shared.get("/board").text, "huu-nghi") == "1"


def test_a_browser_holding_the_same_drawing_gets_304(shared: TestClient, auth: Any) -> None:
    shared.get("/board")  # a first visit sets the browser's cookies (its forms' token)
    first = shared.get("/board", params={"lang": "vi"})
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-cache"  # asked again each time
    again = shared.get("/board", params={"lang": "vi"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    # Another language, the panel, the large screen: other drawings, drawn in full.
    for path, params in (("/board", {"lang": "zh"}), ("/board/panel", {"lang": "vi"}),
                         ("/board", {"lang": "vi", "screen": "large"})):
        other = shared.get(path, params=params, headers={"If-None-Match": etag})
        assert other.status_code == 200
        assert other.headers["ETag"] != etag
    # New figures: the same address is drawn again.
    staged(shared, auth, "29C-400.03")
    NOW[0] += 30
    renewed = shared.get("/board", params={"lang": "vi"}, headers={"If-None-Match": etag})
    assert renewed.status_code == 200
    assert renewed.headers["ETag"] != etag


def test_a_signed_in_visitor_never_gets_the_anonymous_drawing(shared: TestClient) -> None:
    from tests.conftest import PASSWORD
    anonymous = shared.get("/board", params={"lang": "en"})
    form = shared.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]*)"', form)
    assert csrf is not None
    login = shared.post("/login", data={"username": "regulator", "password": PASSWORD,
                                        "csrf": csrf.group(1), "next": ""},
                        follow_redirects=False)
    assert login.status_code == 303, login.text[:500]
    signed_in = shared.get("/board", params={"lang": "en"},
                           headers={"If-None-Match": anonymous.headers["ETag"]})
    assert signed_in.status_code == 200
    assert "Log out" in signed_in.text


def test_unchanged_figures_answer_304_after_recomputing_and_from_another_process(
    shared: TestClient, auth: Any, settings: Settings, clock: FixedClock
) -> None:
    """Screens refresh every 15 s and the figures are recomputed more often: a screen whose
    figures did not change still gets 304, from whichever API process answers it."""
    staged(shared, auth, "29C-410.00")
    first = shared.get("/board/panel", params={"lang": "zh"})
    assert first.status_code == 200
    etag = first.headers["ETag"]
    NOW[0] += 30  # recomputed, nothing changed
    assert shared.get("/board/panel", params={"lang": "zh"},
                      headers={"If-None-Match": etag}).status_code == 304
    other = create_app(settings.model_copy(update={"board_share_seconds": 30}), clock=clock)
    with TestClient(other, base_url="https://testserver") as second:
        second.cookies = shared.cookies  # the same browser, sent to the other process
        assert second.get("/board/panel", params={"lang": "zh"},
                          headers={"If-None-Match": etag}).status_code == 304
        staged(second, auth, "29C-410.01")  # the figures change: drawn again
        NOW[0] += 30
        changed = shared.get("/board/panel", params={"lang": "zh"},
                             headers={"If-None-Match": etag})
        assert changed.status_code == 200
        assert changed.headers["ETag"] != etag
    other.state.ctx.engine.dispose()


def test_many_screens_refreshing_the_panel_get_one_drawing(shared: TestClient, auth: Any,
                                                           monkeypatch: Any) -> None:
    """Screens in every browser refresh the same panel: it is drawn once per figures,
    address and language, and every screen gets the same bytes until the figures change."""
    from borderflow.web import board as board_page

    drawn: list[str] = []
    real = board_page.render

    def counting(request: Any, template: str, *args: Any, **kwargs: Any) -> Any:
        drawn.append(template)
        return real(request, template, *args, **kwargs)

    monkeypatch.setattr(board_page, "render", counting)
    staged(shared, auth, "29C-420.00")
    bodies = set()
    for _ in range(20):
        shared.cookies.clear()  # a browser of its own each time
        page = shared.get("/board/panel", params={"lang": "vi"})
        assert page.status_code == 200
        bodies.add(page.content)
    assert len(bodies) == 1
    assert drawn.count("_board_panel.html") == 1
    zh = shared.get("/board/panel", params={"lang": "zh"})
    assert zh.content not in bodies  # its own language's drawing
    assert drawn.count("_board_panel.html") == 2
    assert _queue(next(iter(bodies)).decode(), "huu-nghi") == "1"
    staged(shared, auth, "29C-420.01")
    NOW[0] += 30  # new figures: drawn again, with them
    renewed = shared.get("/board/panel", params={"lang": "vi"})
    assert _queue(renewed.text, "huu-nghi") == "2"
    assert drawn.count("_board_panel.html") == 3


def test_the_board_answers_while_the_database_turns_requests_away(
        shared: TestClient, auth: Any, monkeypatch: Any) -> None:
    """In a burst the requests' admission to the database answers 503 to those that wait
    too long; the board's viewers, served from the shared figures, never ask it for a
    place (the figures are read by their computation alone), so the board stays up."""
    from contextlib import asynccontextmanager

    from borderflow.api.admission import DatabaseBusy

    staged(shared, auth, "29C-430.00")
    assert shared.get("/board/panel").status_code == 200  # the figures, computed

    @asynccontextmanager
    async def full(*_args: Any, **_kwargs: Any) -> Any:
        raise DatabaseBusy("test")
        yield  # pragma: no cover

    monkeypatch.setattr(shared.app.state.ctx.admission, "enter", full)  # type: ignore[attr-defined]
    assert shared.get("/api/v1/trips", headers=auth("regulator")).status_code == 503
    for path in ("/board/panel", "/board", "/board/panel?screen=large"):
        page = shared.get(path, params={"lang": "vi"})
        assert page.status_code == 200, path
    assert _queue(shared.get("/board/panel").text, "huu-nghi") == "1"


def test_a_public_screen_refreshing_a_drawn_panel_waits_for_no_thread_and_no_database(
        shared: TestClient, auth: Any, monkeypatch: Any) -> None:
    """Once a panel is drawn from fresh figures, the public screens refreshing it are
    answered on the event loop: no thread (requests waiting for the database may hold them
    all) and no query; the same bytes, ETag and 304 as the first screen got."""
    from borderflow.web import board as board_page

    staged(shared, auth, "29C-440.00")
    shared.get("/board")  # the browser's cookies
    first = shared.get("/board/panel", params={"lang": "zh"})
    assert first.status_code == 200
    threads: list[Any] = []
    real = board_page.run_in_threadpool

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        threads.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(board_page, "run_in_threadpool", counting)
    statements: list[str] = []
    engine = shared.app.state.ctx.engine  # type: ignore[attr-defined]

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        again = shared.get("/board/panel", params={"lang": "zh"})
        held = shared.get("/board/panel", params={"lang": "zh"},
                          headers={"If-None-Match": first.headers["ETag"]})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert (again.status_code, again.content, again.headers["ETag"]) == (
        200, first.content, first.headers["ETag"])
    assert held.status_code == 304
    assert (threads, statements) == ([], [])
    other = shared.get("/board/panel", params={"lang": "en"})  # not drawn yet: in a thread
    assert other.status_code == 200
    assert other.content != first.content
    assert len(threads) == 1
    NOW[0] += 30  # the figures are due again: computed in a thread
    assert shared.get("/board/panel", params={"lang": "zh"}).status_code == 200
    assert len(threads) == 2


def test_viewers_arriving_while_the_figures_are_computed_get_the_previous_ones_at_once(
        ) -> None:
    """The first viewer to find the figures due computes them; the others get the previous
    figures at once instead of queueing behind it (only the very first figures are waited
    for); the next viewer after the computation gets the new ones."""
    import threading
    from datetime import UTC, datetime

    clock = [0.0]
    shared = board.Shared(5, monotonic=lambda: clock[0])
    old = board.Board(datetime(2026, 2, 14, 6, 0, tzinfo=UTC), [], [])
    new = board.Board(datetime(2026, 2, 14, 6, 5, tzinfo=UTC), [], [])
    assert shared.fresh() is None  # nothing yet: a viewer must compute
    assert shared.get(lambda: old)[0] is old
    clock[0] = 5.0  # due
    assert shared.fresh() is None
    started, finish = threading.Event(), threading.Event()

    def slow() -> board.Board:
        started.set()
        assert finish.wait(5)
        return new

    first: list[board.Board] = []
    computing = threading.Thread(target=lambda: first.append(shared.get(slow)[0]))
    computing.start()
    assert started.wait(5)
    assert shared.get(lambda: pytest.fail("a second computation"))[0] is old
    fresh = shared.fresh()
    assert fresh is not None
    assert fresh[0] is old
    finish.set()
    computing.join(5)
    assert first == [new]
    assert shared.get(lambda: pytest.fail("computed twice"))[0] is new
    assert shared.fresh() == (new, board.fingerprint(new))


def test_a_panel_being_drawn_is_drawn_once_and_the_previous_drawing_shown_meanwhile() -> None:
    """New figures come while a thousand screens refresh: the first viewer draws the panel,
    viewers in threads wait for that drawing instead of drawing it again, and viewers
    answered on the event loop get the previous figures' drawing meanwhile."""
    import threading

    from borderflow.web.board import Panels

    panels = Panels()
    key = ("", "vi")
    assert panels.get("old", key, lambda: b"old figures") == b"old figures"
    assert panels.shown("new", key) is None  # nobody draws the new figures yet: draw them
    started, finish = threading.Event(), threading.Event()
    draws: list[str] = []

    def slow() -> bytes:
        draws.append("new")
        started.set()
        assert finish.wait(5)
        return b"new figures"

    got: list[bytes] = []
    viewers = [threading.Thread(target=lambda: got.append(panels.get("new", key, slow)))]
    viewers[0].start()
    assert started.wait(5)
    viewers += [threading.Thread(target=lambda: got.append(panels.get(
        "new", key, lambda: pytest.fail("drawn twice")))) for _ in range(3)]
    for v in viewers[1:]:
        v.start()
    assert panels.shown("new", key) == ("old", b"old figures")
    assert panels.shown("new", ("", "zh")) is None  # no earlier drawing of that one
    finish.set()
    for v in viewers:
        v.join(5)
    assert (draws, got) == (["new"], [b"new figures"] * 4)
    assert panels.shown("new", key) == ("new", b"new figures")


def test_a_public_screens_panel_is_the_same_for_everyone_and_a_shared_cache_may_keep_it(
        shared: TestClient, auth: Any) -> None:
    """A public screen's panel (no session, the language in its address) is answered alike
    to every browser: no cookie, one ETag, and ``s-maxage`` of the figures' interval, so
    that the load balancer's cache answers the screens (deploy/haproxy). Anything that may
    differ by visitor says no shared cache may keep it."""
    staged(shared, auth, "29C-450.00")
    seen = []
    for path in ("/board/panel", "/board/panel"):  # first drawn in a thread, then on the loop
        shared.cookies.clear()  # a browser of its own
        shared.get("/board")  # which has its forms' token
        page = shared.get(path, params={"lang": "vi"})
        assert page.status_code == 200
        assert page.headers["Cache-Control"] == "s-maxage=30"
        assert "set-cookie" not in page.headers
        seen.append((page.headers["ETag"], page.content))
    assert seen[0] == seen[1]
    held = shared.get("/board/panel", params={"lang": "vi"},
                      headers={"If-None-Match": seen[0][0]})
    assert (held.status_code, held.headers["Cache-Control"]) == (304, "s-maxage=30")
    large = shared.get("/board/panel", params={"screen": "large", "per": "2", "lang": "zh"})
    assert large.headers["Cache-Control"] == "s-maxage=30"
    # the language from the browser (cookie, Accept-Language): answered for this browser
    shared.cookies.clear()
    chosen = shared.get("/board/panel", headers={"Accept-Language": "zh-CN"})
    assert chosen.headers["Cache-Control"] == "no-cache"
    assert "更新于" in chosen.text
    unknown = shared.get("/board/panel", params={"lang": "fr"})
    assert unknown.headers["Cache-Control"] == "no-cache"
    # the board's page (its forms carry the browser's token) and a signed-in visitor
    assert shared.get("/board", params={"lang": "vi"}).headers["Cache-Control"] == "no-cache"
    signed = shared.get("/board/panel", params={"lang": "vi"},
                        headers={"Cookie": "bf_session=someone-s-session"})
    assert signed.headers["Cache-Control"] == "no-cache"
