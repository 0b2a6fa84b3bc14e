"""``gongkai extract FILE_OR_URL``: extract one page and print the cleaned document as JSON.

The same code as a crawl, without the crawl or the store: ``extract.extract_detail`` on the page, then
``pipelines.offline.process_offline`` (clean -> validate -> spam -> dedup hashes). This is the "rerun" of the
fixture tests (style.md 2.6): ``gongkai extract tests/fixtures/trs/<case>/page.html --url "$(cat url.txt)"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EPILOG = """\
output (one JSON object on stdout; datetimes as ISO 8601 with +08:00):
  article page       the document as the store would receive it                   exit 0
  not an article     {"kind": "not_article", "reason": ..., "url": ...}           exit 0
                     (reason: challenge, login, empty, error_page, listing)
  validation drop    {"dropped": "no_title"|"no_body"|..., "message", "url",      exit 1
                      "document"}: an article page the extractor could not read
  unreadable input   a message on stderr (missing file, fetch failure)            exit 2

A URL is fetched once with urllib (no retries, no robots.txt, no cookies): use it to check a page by hand,
not to crawl. A FILE is read as bytes and decoded like a crawl would; without --url its file:// URL stands in,
so relative links and TRS continuation pages resolve next to the file. --raw prints the extractor's raw fields
instead (what `python -m gongkai_spider.extract` prints).
"""

_RAW_FIELDS = ("title", "publish_time", "read_count", "author", "source", "summary", "keywords", "body",
               "attachments", "doc_meta")
_USER_AGENT = "gongkai-spider/0.1 (+gongkai extract)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    parser.add_argument("source", metavar="FILE_OR_URL", help="saved HTML file, or an http(s) URL to fetch")
    parser.add_argument("--url", help="URL the page belongs to (default: the fetched URL, or FILE's file:// URL)")
    parser.add_argument("--encoding", help="charset the HTTP header declared (default: the response's, or none)")
    parser.add_argument("--site", metavar="NAME", help="apply the detail selector overrides of site config NAME")
    parser.add_argument("--raw", action="store_true", help="print the raw extracted fields, not the document")
    parser.add_argument("--timeout", type=float, default=30.0, help="fetch timeout in seconds (default 30)")


def _fetch(url: str, timeout: float) -> tuple[bytes, str, str | None, int]:
    """(body, final URL, header charset, status) of one GET; HTTP errors keep their page and status."""
    from urllib.error import HTTPError
    from urllib.request import Request, urlopen

    request = Request(url, headers={"User-Agent": _USER_AGENT, "Accept": "text/html,*/*;q=0.8"})
    try:
        with urlopen(request, timeout=timeout) as response:
            return (response.read(), response.geturl(), response.headers.get_content_charset(),
                    response.status)
    except HTTPError as exc:
        body = exc.read() if exc.fp is not None else b""
        return body, exc.geturl() or url, exc.headers.get_content_charset() if exc.headers else None, exc.code


def _read(args: argparse.Namespace) -> tuple[bytes, str, str | None, int]:
    source: str = args.source
    if source.startswith(("http://", "https://")):
        body, final_url, charset, status = _fetch(source, args.timeout)
        return body, args.url or final_url, args.encoding or charset, status
    path = Path(source)
    body = path.read_bytes()
    return body, args.url or path.resolve().as_uri(), args.encoding, 200


def raw_item(result: dict, url: str, site_id: str | None) -> dict[str, Any]:
    """The item a crawl would hand to the pipelines for this extraction result (see spiders/gongkai.py)."""
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname
    item: dict[str, Any] = {name: result.get(name) for name in _RAW_FIELDS}
    item.update(url=url, site=site_id or host or "local", list_url=None,
                _page_signals=result.get("signals") or {}, _page_host=host, _page_raw=result.get("raw") or {})
    return item


def run(args: argparse.Namespace) -> int:
    from gongkai_spider.extract import extract_detail

    site = None
    if args.site:
        from gongkai_spider.sites import load_site

        try:
            from gongkai_spider.storage import settings_from_env

            # the crawl's lookup: GONGKAI_SITES_DIR first, then the bundled configs
            site = load_site(args.site, settings_from_env().get("GONGKAI_SITES_DIR") or None)
        except Exception as exc:  # UnknownSiteError / SiteConfigError carry a readable message
            print(f"gongkai extract: {exc}", file=sys.stderr)
            return 2
    try:
        body, url, encoding, status = _read(args)
    except OSError as exc:  # missing file, DNS failure, refused connection, timeout
        print(f"gongkai extract: cannot read {args.source}: {getattr(exc, 'reason', None) or exc}", file=sys.stderr)
        return 2

    result = extract_detail(body, url, encoding=encoding, status=status, site=site)
    if args.raw:
        return _print(result)
    if result.get("kind") != "article":
        return _print({"kind": "not_article", "reason": result.get("reason"), "url": url})

    from gongkai_spider import settings as project_settings
    from pipelines.offline import jsonable, process_offline

    # The project settings module as a plain mapping (it reads the environment itself): Scrapy's Settings
    # would cost the Scrapy/Twisted import chain, most of this command's start-up.
    settings = {k: getattr(project_settings, k) for k in dir(project_settings) if k.isupper()}
    document = process_offline(raw_item(result, url, args.site), settings)
    _print(jsonable(document))
    return 1 if "dropped" in document else 0


def _print(value: Any) -> int:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
