"""A test that configures a program's logging in-process (`logs.configure`, as its `main` does) and leaves the
process's logging as it was, for the tests that follow in it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import structlog


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """The root logger's handlers and level, structlog's configuration and context: restored on the way out."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:], root.level = handlers, level
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
