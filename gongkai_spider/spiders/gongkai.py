"""The ``gongkai`` spider: one config-driven spider for every portal (style.md 2.1, 4.1).

It only routes: listing pages go through :func:`gongkai_spider.extract.extract_listing`, article pages through
:func:`gongkai_spider.extract.extract_detail`; it never picks anything out of a page itself. A detail URL
that serves a file (a PDF, a Word/Excel/zip download: by Content-Type, or by the file's magic bytes) is not
parsed at all: it becomes an item with the listing link's title and date and the file as its one attachment
(``gongkai/detail/file_pages``); the validate pipeline keeps such body-less items.

Links in a listing that point straight at a file (``.pdf``, ``.doc`` ...) are dropped by ``extract_listing``
itself and never reach the spider, so they are not counted here.

Arguments (``scrapy crawl gongkai -a NAME=VALUE``)::

    site=NAME          a config in gongkai_spider/sites/ (or GONGKAI_SITES_DIR); unknown -> close reason
                       site_config_missing, unreadable -> site_config_invalid
    start_url=URL      crawl from this listing URL (several: comma-separated); with site=, replaces its start URLs
    base_url=URL       joined to root-relative start URLs of a config (the demo portal: -a base_url=http://127.0.0.1:PORT)
    max_pages=N        listing pages followed per column, 0 = no limit (default: the site's max_pages, else
                       GONGKAI_MAX_PAGES)
    since=YYYY-MM-DD   skip articles listed before this date (applied by middlewares/incremental.py)
    refresh=1          refetch articles already stored (applied by middlewares/incremental.py)

Listing pages that need more than a GET of a URL (Hanweb dataproxy.jsp POSTs, the gkmlpt and jpaas APIs, a
site's ``listing.api`` / ``listing.fragment``, ASP.NET postbacks) come out of ``extract_listing`` as plain data
(``extract/api.py``); the spider makes them a ``Request``, ``FormRequest`` or ``JsonRequest`` and hands the
description back with the answer (``meta["gongkai"]["request"]``). A column with ``listing.api`` or
``listing.fragment`` starts at its first API request, not at the start URL. API records may carry fallback
article values (``list_fields``: publish_time, doc_meta, attachments) used where the article page lacks them.

Every request carries ``meta["gongkai"]`` (kind listing/detail/continuation, site, column, list_url, page,
pinned, list_date, list_title, list_fields, request). Items carry the working field ``_page_site_hosts``
(the site's allowed domains and start URL hosts): the spam scorer treats those hosts as the site's own.
Stats: ``gongkai/listing/{pages,links,empty,offsite,max_pages_reached,api_shells,api_end}``,
``gongkai/listing/dialect/{api,fragment,gkmlpt,jpaas,hanweb,postback}`` (answers read by each dialect),
``gongkai/detail/{pages,items,file_pages,continuation_pages,continuation_failed}``,
``gongkai/extract/skipped/{reason}``, ``gongkai/fetch/failed/{kind}/{reason}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import scrapy
from scrapy import signals
from scrapy.crawler import Crawler
from scrapy.exceptions import CloseSpider, IgnoreRequest
from scrapy.http import FormRequest, JsonRequest, Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from gongkai_spider.errors import BadArgument
from gongkai_spider.extensions.ledger import NOT_PENDING_PAGE_KINDS, ledger_for_crawler
from gongkai_spider.extract import api as extract_api
from gongkai_spider.extract import extract_listing
from gongkai_spider.extract.page import extract_page
from gongkai_spider.extract_workers import ExtractGaveUp, ExtractionPool, look_up_in_worker, resolve_workers
from gongkai_spider.items import ArticleItem
from gongkai_spider.normalize import as_date
from gongkai_spider.priority import resolve_helper_nice
from gongkai_spider.sites import SiteConfig, SiteConfigError, UnknownSiteError, available_sites, load_site
from pipelines.dedup import WorkerLookup

# Raw fields copied from extract_detail's result into the item.
DETAIL_FIELDS: tuple[str, ...] = ("title", "publish_time", "read_count", "author", "source", "summary", "keywords",
                                  "body", "attachments", "doc_meta")
# Magic bytes of files served where a page was expected: PDF; zip (docx/xlsx/ofd/zip); OLE2 (doc/xls/wps);
# rar; 7z.
_FILE_MAGIC: tuple[bytes, ...] = (b"%PDF", b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c")
# Content types that are pages (or data) for extract_detail, never files.
_PAGE_TYPES: tuple[str, ...] = ("html", "xml", "json")
# Callbacks and errbacks the spider's requests carry (see GongkaiSpider.__init__).
_CALLBACKS: tuple[str, ...] = ("parse_listing", "parse_detail", "parse_continuation", "continuation_failed",
                               "request_failed")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class GongkaiSpider(scrapy.Spider):
    name = "gongkai"
    # per-site settings (see _apply_site_settings); these defaults hold for a spider built without a crawler
    _slot: str | None = None
    _extract_pool: ExtractionPool | None = None  # worker processes for article pages (from_crawler)
    dedup_in_workers = False  # whether they look article pages up among the stored articles too (WorkerLookup)
    _headers: dict[str, str] = {}  # noqa: RUF012 - never mutated, replaced per instance
    _cookies: dict[str, str] = {}  # noqa: RUF012
    _ignore_robots = False

    def __init__(self, site: str | None = None, start_url: str | None = None, base_url: str | None = None,
                 max_pages: str | int | None = None, since: str | None = None, refresh: str | bool | None = None,
                 *, sites_dir: str | None = None, default_max_pages: int = 0, page_cap: int = 1000,
                 read_only: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # One bound method per callback for the whole crawl. For every response Scrapy checks the callback for
        # a `return value` inside a generator (WARN_ON_GENERATOR_RETURN_VALUE) and caches the verdict in a
        # weak-keyed cache: a bound method made per request died with its request, taking the verdict along,
        # so about one response in four re-parsed the callback's source with ast (0.08 ms CPU per page).
        for name in _CALLBACKS:
            setattr(self, name, getattr(self, name))
        # Scrapy's debugging commands (GONGKAI_READ_ONLY: parse, shell, fetch, check) build the spider without
        # arguments: it then extracts any URL they give it with the generic extractors.
        if not site and not start_url and not read_only:
            raise BadArgument("the gongkai spider needs -a site=NAME or -a start_url=URL "
                             f"(known sites: {', '.join(available_sites(sites_dir)) or 'none'})")
        self.since: date | None = _parse_since(since)
        self.refresh: bool = _parse_bool(refresh, "refresh")
        max_pages_arg = _parse_max_pages(max_pages)
        start_urls = _parse_start_urls(start_url) if start_url else None

        # A missing or broken site config closes the spider from start() with a named reason (a scheduler
        # sees it in the finish reason) instead of failing construction.
        self.site: SiteConfig | None = None
        self.site_problem: tuple[str, str] | None = None  # (close reason, message)
        if site:
            try:
                self.site = load_site(site, sites_dir)
            except UnknownSiteError as exc:
                self.site_problem = ("site_config_missing", str(exc))
            except SiteConfigError as exc:
                self.site_problem = ("site_config_invalid", str(exc))
        if self.site is not None:
            config = self.site if start_urls is None else _replace_start_urls(self.site, start_urls)
            try:
                self.site = config.with_base_url(base_url)
            except SiteConfigError as exc:
                raise BadArgument(str(exc)) from exc
            start_urls = list(self.site.start_urls)
        self.site_id: str = ((self.site.name if self.site else site)
                             or (urlsplit(start_urls[0]).hostname if start_urls else None) or "unknown")
        self.start_urls: list[str] = start_urls or []
        if self.site is not None:
            self.allowed_domains = list(self.site.allowed_domains)
        else:
            self.allowed_domains = list(dict.fromkeys(urlsplit(u).hostname for u in self.start_urls))
        site_pages = self.site.max_pages if self.site else 0
        self.max_pages: int = max_pages_arg if max_pages_arg is not None else (site_pages or default_max_pages)
        # Without a max_pages a column still stops at page_cap listing pages, with an alert (a paginator that
        # never ends); 0 = no cap.
        self.page_cap: int = max(0, page_cap)
        self._host_re = _host_regex(self.allowed_domains)
        # The site's own hosts, for the spam scorer (items carry them as _page_site_hosts).
        self.site_hosts: tuple[str, ...] = tuple(dict.fromkeys(
            h.lower() for h in [*self.allowed_domains, *(urlsplit(u).hostname for u in self.start_urls)] if h))
        # column -> listing pages scheduled (URLs, or request keys for POST/API pages; page budget, dedup)
        self._listing_urls: dict[str, set[str]] = {}
        self._column_sites: dict[str, SiteConfig] = {}  # column -> the site config with its listing rules
        self._column_links: dict[str, set[str]] = {}  # column -> article links its listing pages gave this run

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> GongkaiSpider:
        settings = crawler.settings
        kwargs.setdefault("sites_dir", settings.get("GONGKAI_SITES_DIR") or None)
        kwargs.setdefault("default_max_pages", settings.getint("GONGKAI_MAX_PAGES", 0))
        kwargs.setdefault("page_cap", settings.getint("GONGKAI_PAGE_CAP", 1000))
        kwargs.setdefault("read_only", settings.getbool("GONGKAI_READ_ONLY"))
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._apply_site_settings(settings)
        spider._start_extraction_workers(crawler)
        return spider

    def _start_extraction_workers(self, crawler: Crawler) -> None:
        """Article pages are extracted in ``GONGKAI_EXTRACT_WORKERS`` worker processes (extract_workers.py):
        none for the read-only tools (one page is not worth a process), outside a running crawl, or under a
        reactor other than asyncio's."""
        from scrapy.utils.reactor import is_asyncio_reactor_installed, is_reactor_installed

        settings = crawler.settings
        try:
            workers = resolve_workers(settings.get("GONGKAI_EXTRACT_WORKERS", "auto"), os.cpu_count())
            nice = resolve_helper_nice(settings.get("GONGKAI_HELPER_NICE"))
        except ValueError as exc:
            raise BadArgument(str(exc)) from None
        if workers == 0 or settings.getbool("GONGKAI_READ_ONLY"):
            return
        if not (is_reactor_installed() and is_asyncio_reactor_installed()):
            return  # a spider built outside a crawl (tests), or another reactor: extraction stays inline
        # The workers also look article pages up among the stored articles (the dedup stage, built after the
        # spider, reads dedup_in_workers and then leaves that to them).
        lookup = WorkerLookup.from_crawler(crawler)
        self.dedup_in_workers = lookup is not None
        self._extract_pool = ExtractionPool(workers, settings.getfloat("GONGKAI_EXTRACT_TIMEOUT", 60.0), self.site,
                                            lookup=lookup, nice=nice)
        crawler.signals.connect(self._close_extract_pool, signal=signals.spider_closed)

    async def stored_near(self, text: str, simhash: int, second: int) -> tuple | None:
        """A worker's lookup of a normalised text among the stored articles (``WorkerLookups.look_up``), for an
        item whose text no worker extracted: the dedup stage asks. None when no worker can make it."""
        pool = self._extract_pool
        if pool is None or not self.dedup_in_workers:
            return None
        try:
            # urgent: a lookup takes a fraction of a millisecond, and the item holds a CONCURRENT_ITEMS slot while
            # it waits behind the article pages queued for extraction
            return await pool.call(look_up_in_worker, text, simhash, second, urgent=True)
        except ExtractGaveUp as exc:  # the dedup stage then looks it up itself
            self.logger.warning("near-duplicate lookup in an extraction worker given up (%s)", exc.reason)
            return None

    def _close_extract_pool(self) -> None:
        pool = self._extract_pool
        if pool is not None:
            self.crawler.stats.set_value("gongkai/extract/workers_started", pool.started)
            self.crawler.stats.set_value("gongkai/extract/queued_max", pool.queued_max)
            pool.close()

    def _apply_site_settings(self, settings: Any) -> None:
        """The site's ``settings:`` (sites/site.schema.json): its requests share one download slot,
        ``gongkai:<site>``, whose delay and concurrency come from the config (Scrapy's DOWNLOAD_SLOTS), so the
        site's pace holds across all its hosts and several sites in one process each keep their own. Headers,
        cookies and robots.txt are applied per request in ``_request``; the forced encoding in ``_encoding``."""
        self._slot: str | None = None
        self._headers: dict[str, str] = {}
        self._cookies: dict[str, str] = {}
        self._ignore_robots = False
        site = self.site.settings if self.site is not None else None
        if site is None:
            return
        self._headers, self._cookies = dict(site.headers), dict(site.cookies)
        slot = {k: v for k, v in (("delay", site.download_delay), ("concurrency", site.concurrency)) if v is not None}
        if slot:
            self._slot = f"gongkai:{self.site_id}"
            slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
            slots[self._slot] = {**slots.get(self._slot, {}), **slot}
            settings.set("DOWNLOAD_SLOTS", slots, priority="spider")
        if site.obey_robots is False:
            self._ignore_robots = True
            self.logger.warning("site %s: robots.txt not obeyed (%s)", self.site_id, site.robots_reason)

    # ------------------------------------------------------------------------------------------ start

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.site_problem:
            reason, message = self.site_problem
            self.logger.error("cannot crawl: %s", message)
            raise CloseSpider(reason)
        self.logger.info("crawling site %s: %d start URL(s), allowed domains %s, max_pages=%s, since=%s, refresh=%s",
                         self.site_id, len(self.start_urls), self.allowed_domains,
                         self.max_pages or f"no limit (cap {self.page_cap or 'none'})", self.since, self.refresh)
        # Articles earlier runs could not store come first, fetched directly: no listing page has to lead to
        # them again (extensions/ledger.py).
        ledger = ledger_for_crawler(getattr(self, "crawler", None))
        if ledger is not None:
            for entry in ledger.retries(self.site_id, include_given_up=self.refresh):
                request = entry.get("request") or {}
                yield self._request(entry["url"], "detail", column=entry.get("column"), list_url=entry.get("list_url"),
                                    list_date=entry.get("list_date"), list_title=entry.get("list_title"),
                                    list_fields=request.get("list_fields"), method=request.get("method") or "GET",
                                    body=request.get("body"))
        for url in self.start_urls:
            paged = self.site.listing_for(url).paged if self.site is not None else None
            if paged is None:
                self._listing_urls.setdefault(url, {url})
                # dont_filter: a start page is fetched every run, even with a persistent duplicate filter.
                yield self._request(url, "listing", column=url, page=1, dont_filter=True)
                continue
            # listing.api / listing.fragment: the column starts at its first API request.
            dialect = "api" if self.site.listing_for(url).api is not None else "fragment"
            request = extract_api.paged_request(paged, url, paged.first_page, dialect=dialect)
            self._listing_urls.setdefault(url, {extract_api.request_key(request)})
            yield self._listing_request(request, column=url, page=1, dont_filter=True)

    @classmethod
    def handles_request(cls, request: scrapy.Request) -> bool:
        """Any URL: ``scrapy parse URL`` / ``scrapy fetch URL`` pick this spider without ``--spider``."""
        return True

    async def parse(self, response: Response) -> AsyncIterator[Any]:
        """Route by page kind (``scrapy parse URL``): a listing yields its article and next-page requests, an
        article page its item; not-article pages are counted under ``gongkai/extract/skipped/<reason>``."""
        response.meta.setdefault("gongkai", {"kind": "listing", "site": self.site_id, "column": response.url,
                                             "page": 1})
        async for out in self.parse_listing(response):
            yield out

    # ------------------------------------------------------------------------------------------ listing

    async def parse_listing(self, response: Response) -> AsyncIterator[Any]:
        meta = response.meta.get("gongkai", {})
        column = meta.get("column") or response.url
        request = meta.get("request")
        result = await self._extract_listing(response, column, request)
        if result is None:
            return
        self._inc("gongkai/listing/pages")
        self._count_overrides(result)
        dialect = ((request or {}).get("state") or {}).get("dialect")
        if dialect:
            self._inc(f"gongkai/listing/dialect/{dialect}")
        if result["kind"] == "detail" and meta.get("page") == 1:
            # A start URL that is an article: treat it as one.
            self.logger.info("start URL %s is an article page, not a listing", response.url)
            self._inc("gongkai/detail/pages")
            for out in self._article_output(response, self._extract_here(response)):
                yield out
            return
        links = result["links"]
        if result["next_requests"] and not links and not result["next_urls"] and not dialect:
            # An SPA shell (gkmlpt, jpaas): its records come from the API requests it leads to.
            self._inc("gongkai/listing/api_shells")
        elif not links and _api_page_number(request) > 1 and not result["next_requests"]:
            # A paged API or fragment endpoint past its last page: the usual end of such a column.
            self._inc("gongkai/listing/api_end")
            self.logger.info("listing API ended (%s): %s", result["reason"], response.url)
        elif not links:
            self._inc("gongkai/listing/empty")
            self.logger.warning("listing page without article links (%s): %s", result["reason"], response.url)
        seen = self._column_links.setdefault(column, set())
        new_links = 0
        for link in links:
            if not self._on_site(link["url"]):
                self._inc("gongkai/listing/offsite")
                continue
            self._inc("gongkai/listing/links")
            if link["url"] not in seen:
                seen.add(link["url"])
                new_links += 1
            yield self._request(link["url"], "detail", column=column, list_url=response.url,
                                pinned=bool(link.get("pinned")), list_date=link.get("date"),
                                list_title=link.get("title"), list_fields=link.get("fields"))
        # (an SPA shell has no links of its own: its API requests are always followed)
        if not new_links and (result["next_urls"] or (links and result["next_requests"])):
            # Out-of-range page numbers often repeat the last page and still link to "the next" one: a page that
            # adds no article link this column has not shown already ends the column.
            self._inc("gongkai/listing/no_new_links")
            self.logger.info("column %s: listing page %s adds no new article link; not following its next pages",
                             column, response.url)
            return
        for out in self._next_listing_requests([*result["next_urls"], *result["next_requests"]], column):
            yield out

    async def _extract_listing(self, response: Response, column: str, request: dict | None) -> dict | None:
        """``extract_listing`` of a listing page: in a worker once the workers have extracted a page (the
        listing's lxml parse and link scoring are the crawl's largest share after the pipelines), else here,
        starting the workers for the article pages to come. A page the worker gives up on ends its column there
        (None; counted, logged at ERROR)."""
        site = self._site_for(column)
        pool = self._extract_pool
        if pool is not None and pool.proven:
            try:
                result = await pool.extract(response.body, response.url, self._encoding(response), response.status,
                                            (site, request), urgent=True)
            except ExtractGaveUp as exc:
                self._inc(f"gongkai/extract/{exc.reason}")
                self._inc("gongkai/listing/extract_given_up")
                self.logger.error("extraction of the listing page %s given up: %s; column %s ends here",
                                  response.url, exc, column)
                return None
            except Exception:  # the extraction's own error: raised again here, with its traceback
                result = None
            if result is not None:
                self._inc("gongkai/listing/offloaded")
                return result
        elif pool is not None:
            pool.start_soon()
        return extract_listing(response.body, response.url, encoding=self._encoding(response), site=site,
                               request=request)

    def _site_for(self, column: str) -> SiteConfig | None:
        if self.site is None:
            return None
        if column not in self._column_sites:
            self._column_sites[column] = self.site.for_column(column)
        return self._column_sites[column]

    def _next_listing_requests(self, pages: list[str | dict], column: str) -> Iterator[scrapy.Request]:
        """Requests for further listing pages (URLs, or request descriptions from extract_listing)."""
        scheduled = self._listing_urls.setdefault(column, {column})
        for page in pages:
            url = page if isinstance(page, str) else page["url"]
            key = url if isinstance(page, str) else extract_api.request_key(page)
            if key in scheduled:
                continue
            if not self._on_site(url):
                self._inc("gongkai/listing/offsite")
                continue
            if self.max_pages and len(scheduled) >= self.max_pages:
                self._inc("gongkai/listing/max_pages_reached")
                self.logger.info("column %s: max_pages=%d reached, not following %s", column, self.max_pages, url)
                return
            if not self.max_pages and self.page_cap and len(scheduled) >= self.page_cap:
                self._inc("gongkai/listing/page_cap_reached")  # the run monitor alerts: the column may go on
                self.logger.warning("column %s: GONGKAI_PAGE_CAP=%d listing pages reached, not following %s",
                                    column, self.page_cap, url)
                return
            scheduled.add(key)
            if isinstance(page, str):
                yield self._request(url, "listing", column=column, page=len(scheduled))
            else:
                yield self._listing_request(page, column=column, page=len(scheduled))

    def _listing_request(self, request: dict, *, column: str, page: int, dont_filter: bool = False
                         ) -> scrapy.Request:
        """A Scrapy request for a listing request described as plain data (extract/api.py)."""
        meta: dict[str, Any] = {"gongkai": {"kind": "listing", "site": self.site_id, "column": column, "page": page,
                                            "request": request}}
        if self._slot:
            meta["download_slot"] = self._slot
        if self._ignore_robots:
            meta["dont_obey_robotstxt"] = True
        headers = {**self._headers, **(request.get("headers") or {})}
        common: dict[str, Any] = {"callback": self.parse_listing, "errback": self.request_failed, "meta": meta,
                                  "headers": headers or None, "cookies": self._cookies or None,
                                  "dont_filter": dont_filter}
        method = request.get("method") or "GET"
        if request.get("form") is not None:
            return FormRequest(request["url"], method=method, formdata=request["form"], **common)
        if request.get("json") is not None:
            return JsonRequest(request["url"], method=method, data=request["json"], **common)
        return scrapy.Request(request["url"], method=method, **common)

    # ------------------------------------------------------------------------------------------ detail

    async def parse_detail(self, response: Response) -> AsyncIterator[Any]:
        if _is_file_response(response):
            yield self._file_item(response, response.meta.get("gongkai", {}))
            return
        self._inc("gongkai/detail/pages")
        result = await self._extract(response)
        if result is not None:
            for out in self._article_output(response, result):
                yield out

    def _article_output(self, response: Response, result: dict) -> Iterator[Any]:
        """The item of an extracted article page, or the request for its next page; a page that is no article
        is counted (``gongkai/extract/skipped/<reason>``) and, unless it is a listing, left pending."""
        if result.get("kind") != "article":
            reason = result.get("reason") or "unknown"
            self._inc(f"gongkai/extract/skipped/{reason}")
            self.logger.info("not an article (%s): %s", reason, response.url)
            if reason not in NOT_PENDING_PAGE_KINDS:
                self.article_failed(response.request, f"extract_{reason}")
            return
        self._count_overrides(result)
        remaining = [u for u in result.get("continuation_urls") or [] if u != response.url and self._on_site(u)]
        article = {"url": response.url, "meta": response.meta.get("gongkai", {}), "result": result,
                   "bodies": [result.get("body") or ""], "attachments": list(result.get("attachments") or []),
                   "remaining": remaining}
        if remaining:
            yield self._continuation_request(article)
        else:
            yield self._item(article)

    def _extract_here(self, response: Response) -> dict:
        return extract_page(response.body, response.url, encoding=self._encoding(response), status=response.status,
                            site=self.site)

    async def _extract(self, response: Response, *, continuation: bool = False) -> dict | None:
        """``extract_page`` of an article page, in a worker process when there are some (the crawl's process
        meanwhile downloads and stores), else here. A page the workers give up on (too slow, or a worker died
        twice under it) is not extracted here (None): counted, and when it is an article's first page left
        pending for the next run (a continuation page: the article keeps the pages it has)."""
        pool = self._extract_pool
        if pool is None:
            return self._extract_here(response)
        try:
            result = await pool.extract(response.body, response.url, self._encoding(response), response.status)
        except ExtractGaveUp as exc:
            self._inc(f"gongkai/extract/{exc.reason}")
            self.logger.warning("extraction of %s given up: %s%s", response.url, exc,
                                "; the article keeps its other pages" if continuation else "; left pending")
            if not continuation:
                self.article_failed(response.request, f"extract_{exc.reason}")
            return None
        except Exception:  # the extraction's own error: raised again here, with its traceback, as inline
            return self._extract_here(response)
        if result is not None:
            self._inc("gongkai/extract/offloaded")
            return result
        self._inc("gongkai/extract/inline")  # the workers were given up for the run
        return self._extract_here(response)

    async def parse_continuation(self, response: Response, article: dict) -> AsyncIterator[Any]:
        """One further page of a multi-page article: add its body, fetch the next one or emit the item."""
        self._inc("gongkai/detail/continuation_pages")
        part = await self._extract(response, continuation=True) or {}
        if part.get("kind") == "article":
            article["bodies"].append(part.get("body") or "")
            known = {a.get("url") for a in article["attachments"]}
            article["attachments"] += [a for a in part.get("attachments") or [] if a.get("url") not in known]
        else:
            if part:  # an empty part: timed out in the worker, counted already
                self._inc(f"gongkai/extract/skipped/continuation_{part.get('reason') or 'unknown'}")
        yield self._continuation_request(article) if article["remaining"] else self._item(article)

    def continuation_failed(self, failure: Failure) -> Iterator[Any]:
        """A continuation page failed: keep the pages we have (better than losing the article), say so."""
        article = failure.request.cb_kwargs["article"]
        self._inc("gongkai/detail/continuation_failed")
        self.logger.warning("continuation page %s of %s failed (%s); storing the article without the rest",
                            failure.request.url, article["url"], _failure_reason(failure))
        article["remaining"] = []
        yield self._item(article)

    def _continuation_request(self, article: dict) -> scrapy.Request:
        url = article["remaining"].pop(0)
        meta = article["meta"]
        # dont_filter: the article's first page decides whether it is fetched; its pages must always follow.
        return self._request(url, "continuation", column=meta.get("column"), list_url=meta.get("list_url"),
                             callback=self.parse_continuation, errback=self.continuation_failed,
                             cb_kwargs={"article": article}, dont_filter=True)

    def _file_item(self, response: Response, meta: dict) -> ArticleItem:
        """A file at a detail URL (a PDF-only notice): the listing's title and date, the file as attachment."""
        self._inc("gongkai/detail/pages")
        self._inc("gongkai/detail/file_pages")
        title = meta.get("list_title")
        content_type = _content_type(response) or "unknown type"
        if title:
            self.logger.info("file served as a detail page (%s): %s", content_type, response.url)
        else:  # validate drops it as no_title, counted; say why here
            self.logger.warning("file served as a detail page (%s) without a listing title: %s", content_type,
                                response.url)
        result = {"title": title, "publish_time": meta.get("list_date"), "body": ""}
        item = self._item({"url": response.url, "meta": meta, "result": result, "bodies": [],
                           "attachments": [{"name": title, "url": response.url}], "remaining": []})
        # the file is already here: the attachments pipeline keeps it instead of downloading it again
        item["_page_file"] = {"url": response.url, "body": response.body, "content_type": _content_type(response)}
        return item

    def _item(self, article: dict) -> ArticleItem:
        result = article["result"]
        item = ArticleItem({name: result.get(name) for name in DETAIL_FIELDS})
        item["body"] = "\n".join(b for b in article["bodies"] if b)
        item["attachments"] = article["attachments"]
        _fill_from_listing(item, article["meta"].get("list_fields"))
        item["url"] = article["url"]
        item["site"] = self.site_id
        item["list_url"] = article["meta"].get("list_url")
        item["_page_signals"] = result.get("signals") or {}
        if len(article["bodies"]) == 1 and result.get("fingerprint"):  # of the page's title and body (worker)
            item["_page_fingerprint"] = result["fingerprint"]
            if result.get("stored_near") is not None:
                item["_page_stored_near"] = result["stored_near"]
        item["_page_host"] = urlsplit(article["url"]).hostname
        item["_page_site_hosts"] = list(self.site_hosts)
        item["_page_requested_url"] = article["meta"].get("link") or article["url"]
        # the listing entry's date: publish_time when the page itself shows none (clean)
        list_date = article["meta"].get("list_date")
        item["_page_raw"] = {**(result.get("raw") or {}), **({"list_date": list_date} if list_date else {})}
        self._inc("gongkai/detail/items")
        return item

    # ------------------------------------------------------------------------------------------ plumbing

    def _request(self, url: str, kind: str, *, column: str | None, page: int | None = None,
                 list_url: str | None = None, pinned: bool = False, list_date: str | None = None,
                 list_title: str | None = None, list_fields: dict | None = None, callback: Any = None,
                 errback: Any = None, cb_kwargs: dict | None = None, dont_filter: bool = False, method: str = "GET",
                 body: str | bytes | None = None) -> scrapy.Request:
        gongkai: dict[str, Any] = {"kind": kind, "site": self.site_id, "column": column}
        if kind == "listing":
            gongkai["page"] = page
        else:
            gongkai["list_url"] = list_url
        if kind == "detail":
            # link: the URL as the listing gave it; it survives redirects (the meta dict is shared) and keys the
            # pending ledger
            gongkai.update(pinned=pinned, list_date=list_date, list_title=list_title, link=url)
            if list_fields:
                gongkai["list_fields"] = list_fields
        default_callback = self.parse_listing if kind == "listing" else self.parse_detail
        site = self.site_request_options()
        return scrapy.Request(url, callback=callback or default_callback, errback=errback or self.request_failed,
                              cb_kwargs=cb_kwargs, meta={"gongkai": gongkai, **site["meta"]}, dont_filter=dont_filter,
                              headers=site["headers"] or None, cookies=site["cookies"] or None, method=method,
                              body=body)

    def site_request_options(self) -> dict[str, Any]:
        """What every request to the site carries: the config's headers and cookies, and in ``meta`` its download
        slot (delay, concurrency) and robots.txt choice. The attachments pipeline sends file requests with them."""
        meta: dict[str, Any] = {}
        if self._slot:
            meta["download_slot"] = self._slot
        if self._ignore_robots:
            meta["dont_obey_robotstxt"] = True
        return {"headers": self._headers, "cookies": self._cookies, "meta": meta}

    def request_failed(self, failure: Failure) -> None:
        meta = failure.request.meta.get("gongkai", {})
        kind = meta.get("kind", "unknown")
        reason = _failure_reason(failure)
        state = (meta.get("request") or {}).get("state") or {}
        if reason == "http_404" and state.get("dialect") == "gkmlpt" and int(state.get("page") or 0) >= 2:
            # A single-page gkmlpt deployment answers 404 past its first page: the column is complete.
            self._inc("gongkai/listing/api_end")
            self.logger.info("gkmlpt category %s has no page %s (single-page deployment): %s",
                             state.get("category"), state.get("page"), failure.request.url)
            return
        self._inc(f"gongkai/fetch/failed/{kind}/{reason}")
        log = self.logger.info if reason == "ignored" else self.logger.warning
        log("%s page not fetched (%s): %s", kind, reason, failure.request.url)
        if kind == "detail":
            self.article_failed(failure.request, _ignore_reason(failure) or reason)

    def article_failed(self, request: scrapy.Request, reason: str) -> None:
        """An article the listing showed was not stored this run: record it in the pending ledger, retried by
        the next runs (extensions/ledger.py). Any listing dialect's detail request may be passed: a non-GET
        request is retried with its method and body."""
        ledger = ledger_for_crawler(getattr(self, "crawler", None))
        if ledger is None:
            return
        meta = request.meta.get("gongkai", {}) if isinstance(request.meta.get("gongkai"), dict) else {}
        extra: dict[str, Any] = {}
        if request.method != "GET":
            extra = {"method": request.method, "body": request.body.decode("utf-8", "replace")}
        if meta.get("list_fields"):  # an API record's values (gkmlpt 文号, date ...) for the retry
            extra["list_fields"] = meta["list_fields"]
        ledger.failed(meta.get("link") or request.url, reason, list_url=meta.get("list_url"),
                      column=meta.get("column"), list_title=meta.get("list_title"), list_date=meta.get("list_date"),
                      request=extra or None)

    def _count_overrides(self, result: dict) -> None:
        """``gongkai/override/<section.key>/{matched,missed}``: the run monitor alerts on a site selector that
        never matched in a run."""
        for key, matched in (result.get("overrides") or {}).items():
            self._inc(f"gongkai/override/{key}/{'matched' if matched else 'missed'}")

    def _encoding(self, response: Response) -> str | None:
        """The site's forced encoding (``settings.encoding``), else what Scrapy read from the response."""
        forced = self.site.settings.encoding if self.site is not None else None
        return forced or getattr(response, "encoding", None)

    def _on_site(self, url: str) -> bool:
        return self._host_re is None or bool(self._host_re.match(urlsplit(url).hostname or ""))

    def _inc(self, key: str, count: int = 1) -> None:
        crawler = getattr(self, "crawler", None)  # tests may build the spider without a crawler
        if crawler is not None and crawler.stats is not None:
            crawler.stats.inc_value(key, count)


# ---------------------------------------------------------------------------------------------- helpers


def _api_page_number(request: dict | None) -> int:
    """1-based number of an API listing request within its column (0 for other listing pages)."""
    state = (request or {}).get("state") or {}
    if state.get("dialect") not in ("api", "fragment", "gkmlpt", "jpaas"):
        return 0
    return int(state.get("index") or state.get("page") or 1)


def _fill_from_listing(item: ArticleItem, fields: dict | None) -> None:
    """Values an API listing record gave (publish_time, doc_meta, attachments) where the page had none;
    doc_meta is merged key by key, the page's own values winning."""
    for name, value in (fields or {}).items():
        if name == "doc_meta" and isinstance(value, dict):
            item["doc_meta"] = {**value, **(item.get("doc_meta") or {})}
        elif value and not item.get(name):
            item[name] = value


def _content_type(response: Response) -> str:
    """The media type of the Content-Type header, lower-case, without parameters ("" when absent)."""
    value = response.headers.get(b"Content-Type") or b""
    return value.decode("latin-1").split(";", 1)[0].strip().lower()


def _is_file_response(response: Response) -> bool:
    """A file (PDF, Office, archive) rather than a page: by its magic bytes, or by a Content-Type that is not
    HTML/XML/JSON when the body does not start like markup either (servers label .shtml pages text/plain or
    application/octet-stream)."""
    head = response.body[:1024].lstrip()
    if not head:
        return False  # a 0-byte page: extract_detail counts it as empty
    if head.startswith(_FILE_MAGIC):
        return True
    content_type = _content_type(response)
    if not content_type or any(t in content_type for t in _PAGE_TYPES):
        return False
    return not head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"<")


def _failure_reason(failure: Failure) -> str:
    """A short snake_case reason for a failed request: http_404, ignored, timeout, dns, connection, ..."""
    if failure.check(HttpError):
        return f"http_{failure.value.response.status}"
    if failure.check(IgnoreRequest):
        return "ignored"
    name = type(failure.value).__name__.lower()
    for word in ("timeout", "timedout", "dns", "connection"):
        if word in name:
            return "timeout" if word == "timedout" else word
    return name.removesuffix("error") or "error"


def _ignore_reason(failure: Failure) -> str | None:
    """The named reason of an IgnoreRequest raised by our middlewares ("blocked_412: URL", "redirect_loop: URL")."""
    if not failure.check(IgnoreRequest):
        return None
    head = str(failure.value).split(":", 1)[0].strip()
    return head if re.fullmatch(r"[a-z0-9_]+", head) else None


def _host_regex(domains: list[str]) -> re.Pattern[str] | None:
    """Same rule as Scrapy's OffsiteMiddleware: a listed domain or any of its subdomains."""
    if not domains:
        return None
    return re.compile(rf"^(.*\.)?({'|'.join(re.escape(d) for d in domains)})$", re.I)


def _replace_start_urls(site: SiteConfig, start_urls: list[str]) -> SiteConfig:
    return replace(site, start_urls=tuple(start_urls))


def _parse_start_urls(value: str) -> list[str]:
    urls = [u.strip() for u in value.split(",") if u.strip()]
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadArgument(f"start_url must be an absolute http(s) URL, got {url!r}")
    if not urls:
        raise BadArgument("start_url is empty")
    return urls


def _parse_since(value: str | date | None) -> date | None:
    since = as_date(value)
    if since is None and value not in (None, ""):
        raise BadArgument(f"since must be a date YYYY-MM-DD, got {value!r}")
    return since


def _parse_max_pages(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        pages = int(value)
    except (TypeError, ValueError):
        raise BadArgument(f"max_pages must be a whole number >= 0 (0 = no limit), got {value!r}") from None
    if pages < 0:
        raise BadArgument(f"max_pages must be >= 0 (0 = no limit), got {pages}")
    return pages


def _parse_bool(value: str | bool | None, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise BadArgument(f"{name} must be 1 or 0, got {value!r}")
