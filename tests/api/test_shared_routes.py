"""Every app a process makes shares the routes the first one built (FastAPI builds them at an
app's first request; see ``borderflow.app.create_app``), and each still answers with its
own settings."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from borderflow.app import ROUTERS, create_app
from borderflow.clock import FixedClock
from borderflow.config import Settings

OTHER_KEY = "another-secret-key-that-is-long-enough-for-hs256"


def test_apps_share_their_routes_and_each_answers_with_its_own_settings(
        settings: Settings, clock: FixedClock, auth: Any) -> None:
    first = create_app(settings, clock=clock)
    other = create_app(settings.model_copy(update={"secret_key": OTHER_KEY}), clock=clock)
    included = [[r for r in app.router.routes if getattr(r, "original_router", None) in ROUTERS]
                for app in (first, other)]
    assert len(included[0]) == len(ROUTERS)
    assert list(map(id, included[0])) == list(map(id, included[1]))
    headers = auth("customs")  # a token signed with the first app's key
    with TestClient(other) as b, TestClient(first) as a:
        # the other app built nothing; its first answers use its own key
        refused = b.get("/api/v1/enterprises", headers=headers)
        assert refused.status_code == 401, refused.text
        assert a.get("/api/v1/enterprises", headers=headers).status_code == 200
        assert b.get("/api/v1/enterprises", headers=headers).status_code == 401
