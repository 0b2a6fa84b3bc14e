"""Scrapy's downloader with one fix: a download slot never has more requests in flight than its concurrency.

Under the asyncio reactor, Scrapy 2.19 hands each queued request of a slot to a task and counts it as
transferring only when the task starts, so one pass over a slot's queue starts every request in it. With no
download delay a slot of concurrency 3 was measured with up to 15 requests in flight to one host: only the
total ``CONCURRENT_REQUESTS`` limited it. Twisted's pool keeps at most ``CONCURRENT_REQUESTS_PER_DOMAIN`` idle
connections per host, so the requests over the limit also closed a connection each as they ended, and the next
ones opened new ones: 700-1,200 TCP connections for a 5,310-page local crawl at 8 per domain, against 8 with
the fix (on a real portal, each one a TCP and often a TLS handshake, and one more connection for its firewall
to count). Here a request is counted when it is handed over. With a download delay Scrapy hands over one
request per pass, and its own code runs.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.downloader import Slot
from scrapy.utils.defer import _schedule_coro


class Downloader(ScrapyDownloader):
    """Scrapy's downloader; a slot never has more requests transferring than its concurrency."""

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall or slot.download_delay():
            super()._process_queue(slot)  # one request per pass (or none before the delay is over)
            return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = monotonic()
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # now, not when the task starts (_download adds it again: a set)
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
