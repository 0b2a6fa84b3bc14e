"""The baseline of benchmarks/throughput.py: a bare Scrapy + parsel spider over the demo portal, writing JSONL.

It walks the same pages as ``scrapy crawl gongkai -a site=demo`` (three columns: ``下一页`` links, TRS
``createPageHTML`` index pages, Hanweb ``<datastore>`` + ``dataproxy.jsp`` groups; article pages and TRS
continuation pages) with hard-coded selectors and regular expressions, and yields one small dict per page
(url, title, date, body text). No cleaning, spam scoring, dedup or store: what is left is Scrapy itself,
parsel, and the JSON feed exporter. Run on Scrapy's defaults (no project settings):

  scrapy runspider benchmarks/bare_spider.py -a base_url=http://127.0.0.1:PORT -o out.jsonl:jsonlines \
      -a stats_file=stats.json
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlencode

import scrapy
from scrapy.http import Response

START_PATHS = ("/xxgk/index.html", "/zwgk/tzgg/index.html", "/col/col282/index.html")
DATE_RE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?")
COUNT_PAGE_RE = re.compile(r"countPage\s*=\s*(\d+)")
CREATE_PAGE_RE = re.compile(r'createPageHTML\((\d+),\s*(\d+),\s*"([^"]+)",\s*"([^"]+)"\)')
RECORD_HREF_RE = re.compile(r'<record><!\[CDATA\[.*?href="([^"]+)"', re.S)
NEXTGROUP_RE = re.compile(r'<nextgroup><!\[CDATA\[<a href="([^"]+)"')
TOTAL_RE = re.compile(r"<totalrecord>(\d+)</totalrecord>")
BODY_CSS = "div.article-content, div.TRS_Editor, #zoom, div.bt-content, div.content"
GROUP = 45  # Hanweb records per dataproxy.jsp request (3 pages of 15)


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, base_url: str, stats_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.stats_file = stats_file

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for path in START_PATHS:
            yield scrapy.Request(self.base_url + path, self.parse_listing, dont_filter=True)

    def parse_listing(self, response: Response) -> Iterator[scrapy.Request]:
        text = response.text
        if "<datastore>" in text:  # Hanweb column page: records in an XML island, more in dataproxy.jsp
            yield from self._hanweb_records(response, text)
            nextgroup = NEXTGROUP_RE.search(text)
            if nextgroup:
                yield self._dataproxy(response, nextgroup.group(1), GROUP + 1)
            return
        for href in response.css("ul.news-list li a::attr(href), ul.list li a::attr(href)").getall():
            if href.startswith(("http://", "https://")) and not href.startswith(self.base_url):
                continue  # off-site reprint
            yield response.follow(href, self.parse_detail)
        next_href = response.xpath('//a[text()="下一页"]/@href').get()
        if next_href:
            yield response.follow(next_href, self.parse_listing)
        count = COUNT_PAGE_RE.search(text)
        if count and response.url.endswith("/index.html"):  # TRS: index_1 ... index_{n-1}, all from page 1
            for n in range(1, int(count.group(1))):
                yield response.follow(f"index_{n}.html", self.parse_listing)

    def _hanweb_records(self, response: Response, text: str) -> Iterator[scrapy.Request]:
        for href in RECORD_HREF_RE.findall(text):
            yield response.follow(href, self.parse_detail)

    def _dataproxy(self, response: Response, href: str, start: int) -> scrapy.Request:
        query = urlencode({"startrecord": start, "endrecord": start + GROUP - 1, "perpage": 15})
        return response.follow(
            f"{href}&{query}", self.parse_dataproxy, cb_kwargs={"href": href, "start": start}
        )

    def parse_dataproxy(self, response: Response, href: str, start: int) -> Iterator[scrapy.Request]:
        text = response.text
        yield from self._hanweb_records(response, text)
        total = TOTAL_RE.search(text)
        if total and start + GROUP <= int(total.group(1)):
            yield self._dataproxy(response, href, start + GROUP)

    def parse_detail(self, response: Response) -> Iterator[Any]:
        yield self._page_item(response)
        pages = CREATE_PAGE_RE.search(response.text)
        if pages and int(pages.group(2)) == 0:  # TRS article split over pages: name_1.html ...
            for n in range(1, int(pages.group(1))):
                yield response.follow(f"{pages.group(3)}_{n}.{pages.group(4)}", self.parse_continuation)

    def parse_continuation(self, response: Response) -> dict:
        return self._page_item(response)

    def _page_item(self, response: Response) -> dict:
        info = " ".join(response.css("div.article-info ::text, div.info ::text, div.bt-info ::text").getall())
        date = DATE_RE.search(info)
        return {
            "url": response.url,
            "title": (response.css("h1::text").get() or response.css("title::text").get() or "").strip(),
            "date": date.group(0) if date else None,
            "body": "\n".join(
                t.strip() for t in response.css(f"{BODY_CSS}").css("p ::text").getall() if t.strip()
            ),
        }

    def closed(self, reason: str) -> None:
        if self.stats_file:
            stats = {
                k: v if isinstance(v, (int, float, str)) else str(v)
                for k, v in self.crawler.stats.get_stats().items()
            }
            with open(self.stats_file, "w", encoding="utf-8") as fh:
                json.dump(stats, fh)
