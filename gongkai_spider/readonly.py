"""``GONGKAI_READ_ONLY``: set by ``scrapy parse/shell/fetch/view/check`` (``scrapy_commands/readonly.py``).

Every component that writes (store, ledger, incremental state, run monitor, alerts, attachment files) refuses
to load under it, so the debugging tools fetch and extract but leave nothing behind.
"""

from __future__ import annotations

from typing import Any

from scrapy.exceptions import NotConfigured


def refuse_when_read_only(settings: Any, what: str) -> None:
    """Raise ``NotConfigured`` (the component stays off) when the crawl is read-only; ``what`` says what is
    not done then, for Scrapy's "disabled" log line."""
    if settings.getbool("GONGKAI_READ_ONLY"):
        raise NotConfigured(f"GONGKAI_READ_ONLY: {what}")
