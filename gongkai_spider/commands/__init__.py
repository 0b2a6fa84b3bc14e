"""The ``gongkai`` subcommands (one module each; see gongkai_spider/cli.py) and how they report errors.

A usage or store error ends a command with one line on stderr, ``gongkai <command>: <what is wrong>``, and exit
status 2 (``errors.EXIT_CONFIG``), never a traceback: a configuration error (``errors.ConfigError``, including
``StoreUnusable`` and the commands' ``storage.CommandError``), a store that cannot be used as itself (corrupt
SQLite file, failed MongoDB authentication) or one that does not answer within its timeouts. Anything else is
unexpected and keeps its traceback (exit 1).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

from gongkai_spider.errors import EXIT_CONFIG, ConfigError


def error_line(exc: BaseException) -> str | None:
    """The one line a command prints for ``exc`` before exiting 2; None when ``exc`` is unexpected."""
    if isinstance(exc, ConfigError):
        return " ".join(str(exc).split()) or type(exc).__name__
    from gongkai_spider.storage.base import is_outage, is_unusable, one_line

    if is_unusable(exc):
        return f"the store cannot be used: {one_line(exc)}"
    if is_outage(exc):
        return f"the store did not answer: {one_line(exc)}"
    return None


def report_errors(name: str, exc: BaseException) -> int | None:
    """Print ``exc`` as ``gongkai <name>: <line>`` and return EXIT_CONFIG; None (print nothing) if unexpected."""
    line = error_line(exc)
    if line is None:
        return None
    print(f"gongkai {name}: {line}", file=sys.stderr)
    return EXIT_CONFIG


def one_line_errors(name: str) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Decorate a command's ``run(args)``: usage and store errors become one line and exit 2."""
    def decorate(run: Callable[..., int]) -> Callable[..., int]:
        @functools.wraps(run)
        def wrapper(*args: Any, **kwargs: Any) -> int:
            try:
                return run(*args, **kwargs)
            except Exception as exc:
                status = report_errors(name, exc)
                if status is None:
                    raise
                return status
        return wrapper
    return decorate
