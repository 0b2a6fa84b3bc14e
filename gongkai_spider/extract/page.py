"""One article page, whatever it is made of: what the spider's detail callbacks read (``extract_page``)."""

from __future__ import annotations

from typing import Any

from gongkai_spider.extract.api import extract_json_detail
from gongkai_spider.extract.detail import extract_detail


def extract_page(body: bytes, url: str, *, encoding: str | None = None, status: int = 200,
                 site: Any = None) -> dict:
    """``extract_detail``'s result for an article page; for a site whose articles are JSON (``detail.json``),
    the JSON reading when the body is JSON. Pure: bytes, URL and the site's config in, fields out, so it can
    run in a worker process (``gongkai_spider.extract_workers``) as well as in the crawl's own."""
    if site is not None and getattr(site, "detail_json", None):
        result = extract_json_detail(body, url, site.detail_json, encoding=encoding)
        if result is not None:
            return result
    return extract_detail(body, url, encoding=encoding, status=status, site=site)
