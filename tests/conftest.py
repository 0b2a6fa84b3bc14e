"""Shared pytest fixtures: the demo portal served on 127.0.0.1 for crawl tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from gongkai_spider.demo import Portal, build_portal, serve

PortalFactory = Callable[..., tuple[Portal, str]]


@pytest.fixture
def portal_server() -> Iterator[PortalFactory]:
    """``portal_server(articles_per_column, spam=0, seed=0) -> (portal, base_url)``; servers stop after the test."""
    with ExitStack() as stack:

        def start(articles_per_column: int | dict[str, int], **options: Any) -> tuple[Portal, str]:
            portal = build_portal(articles_per_column, **options)
            return portal, stack.enter_context(serve(portal))

        yield start
