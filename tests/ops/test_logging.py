"""Log lines go to standard error as it is when they are written: a process that points
``sys.stderr`` elsewhere after logging was set up (a daemon's redirection, a test capturing
output) gets its lines there, and a background thread never fails on a closed stream."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog

from borderflow.logging import configure_logging, get_logger


def test_lines_follow_stderr_after_it_is_replaced_and_the_old_one_closed(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    before, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers, root.level
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    try:
        configure_logging("INFO", "json")
        get_logger("t").info("simulation started", job="a")
        first.close()
        monkeypatch.setattr(sys, "stderr", second)
        get_logger("t").info("simulation finished", job="a")
        logging.getLogger("uvicorn.error").warning("worker replaced")  # the standard library's
    finally:
        structlog.configure(**before)
        root.handlers, root.level = handlers, level
    events = [json.loads(line)["event"] for line in second.getvalue().splitlines()]
    assert events == ["simulation finished", "worker replaced"]
