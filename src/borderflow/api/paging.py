"""Paged lists over HTTP: the ``limit`` and ``cursor`` query parameters every paged list
takes, and the ``Link: <...>; rel="next"`` header of a page that has a next one (the body
stays the list it always was). See docs/api.md, "Paging"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from borderflow.store.paging import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT, Page

__all__ = ["DEFAULT_LIMIT", "PAGED_DOC", "PAGED_RESPONSES", "Cursor", "Limit", "link_next"]

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=(
    f"Rows on the page: {DEFAULT_LIMIT} unless given, at most {MAX_LIMIT}."))]
Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR, description=(
    "Where the page starts: the `cursor` of the previous page's `Link: <...>; rel=\"next\"` "
    "header; none for the first page."))]

PAGED_DOC = (f"\n\nPaged: at most `limit` rows ({DEFAULT_LIMIT} by default, at most "
             f"{MAX_LIMIT}); when more follow, the `Link` header holds the address of the next "
             "page (`rel=\"next\"`, with its `cursor`).")
PAGED_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"headers": {"Link": {
    "description": "`<address of the next page>; rel=\"next\"`, only when more rows follow",
    "schema": {"type": "string"}}}}}


def link_next(request: Request, response: Response, page: Page[Any]) -> None:
    """Name the next page in the answer's ``Link`` header, when there is one."""
    if page.next_cursor is None:
        return
    url = request.url.include_query_params(cursor=page.next_cursor)
    response.headers["Link"] = f'<{url.path}?{url.query}>; rel="next"'
