"""The shared Redis frontier: scheduler, duplicate filter and worker coordination on scrapy-redis 0.9.1.

One crawl (one site) owns four Redis keys under ``GONGKAI_REDIS_KEY_PREFIX`` (default ``gongkai:<site>``):

``<prefix>:requests``    sorted set, the request queue (scrapy-redis request encoding: pickled dicts)
``<prefix>:seq``         counter ordering requests of equal priority (newest first, like Scrapy's LIFO default)
``<prefix>:dupefilter``  set of request fingerprints (Scrapy's own fingerprinter, 20 raw bytes each)
``<prefix>:workers``     sorted set of *busy* workers, scored by the Redis server's clock at last report

What we take from scrapy-redis: the connection settings (``REDIS_URL``, ``REDIS_PARAMS``), the request
encoding and the scheduler/dupefilter/queue classes we extend. What we replace, because 0.9.1 is rough on
Scrapy 2.19: stats calls with the deprecated ``spider`` argument; ``RedisSpider`` (start requests read only
when the spider goes idle, ``start_requests`` is deprecated) and ``RedisStatsCollector`` (fails at close) are
not used; ``SCHEDULER_IDLE_BEFORE_CLOSE`` (a blocking pop that stalls the reactor, unsupported by the
priority queue) is replaced by the coordination below; a worker never flushes shared state on close; ties
in priority pop newest first instead of in pickle-byte order.

Coordination, all decided by Lua scripts on the Redis server, so workers on several machines agree:

* Seeds. Every worker runs the spider's ``start()``; a start request is pushed only if its fingerprint is
  new to the crawl's duplicate filter (even when it has ``dont_filter``), so N workers seed once.
* Busy workers. Popping a request marks the worker busy (in the same script); a worker leaves the set when
  its engine goes idle, and refreshes its mark while busy. A mark older than ``GONGKAI_REDIS_WORKER_TTL``
  (a killed or hung worker) is ignored.
* Finishing. An idle worker closes only when the queue is empty *and* no worker is busy: a busy worker
  may still push requests. Until then it stays open (``DontCloseSpider``) and polls Redis every
  ``GONGKAI_REDIS_IDLE_POLL`` seconds. The worker that sees the crawl finished deletes the duplicate
  filter, so the next run starts afresh.
* Resuming. Workers stopped early leave the queue and duplicate filter in Redis; the next workers resume.
  A worker that starts with an empty queue and no busy worker starts a new crawl (stale filter dropped).
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import uuid
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import DontCloseSpider
from scrapy.utils.asyncio import create_looping_call
from scrapy_redis import connection
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler as ScrapyRedisScheduler

if TYPE_CHECKING:
    from redis import Redis
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector
    from scrapy.utils.request import RequestFingerprinterProtocol

logger = logging.getLogger(__name__)

DEFAULT_KEY_PREFIX = "gongkai:%(site)s"
# Meta key set on a start request once it has been claimed (or skipped) as a seed. Retries and redirects
# copy meta, so they are never mistaken for a second seeding.
SEED_META_KEY = "_gongkai_seed_claimed"

# Scripts use the Redis server's clock (TIME), so worker clocks on different machines never disagree.
_NOW = "local t = redis.call('TIME') local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 "

# KEYS: workers, requests, dupefilter, seq. ARGV: worker id, ttl. -> {busy others, queued, stale filter dropped}
JOIN_SCRIPT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local busy = redis.call('ZCARD', KEYS[1])
local queued = redis.call('ZCARD', KEYS[2])
local dropped = 0
if busy == 0 and queued == 0 then dropped = redis.call('DEL', KEYS[3], KEYS[4]) end
redis.call('ZADD', KEYS[1], now, ARGV[1])
return {busy, queued, dropped}
"""
)

# KEYS: requests, seq. ARGV: priority, encoded request. Higher priority first; equal priority newest first.
# Scores stay exact doubles for |priority| < 4096 and 2**40 pushes per crawl.
PUSH_SCRIPT = """
local seq = redis.call('INCR', KEYS[2])
-- formatted by hand: Lua would print a large score with 14 significant digits only
redis.call('ZADD', KEYS[1], string.format('%.0f', -tonumber(ARGV[1]) * 1099511627776 - seq), ARGV[2])
return seq
"""

# KEYS: requests, workers. ARGV: worker id. Marks the worker busy and pops the best request (or nil).
POP_SCRIPT = (
    _NOW
    + """
redis.call('ZADD', KEYS[2], now, ARGV[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0)
if first[1] then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, 0)
  return first[1]
end
return false
"""
)

# KEYS: workers. ARGV: worker id. Refreshes a busy worker's mark.
MARK_SCRIPT = _NOW + "redis.call('ZADD', KEYS[1], now, ARGV[1]) return 1"

# KEYS: workers, requests, dupefilter, seq. ARGV: worker id, ttl. The calling worker is idle: leave the busy set;
# if nothing is queued and nobody is busy the crawl is over. -> {busy others, queued}
IDLE_SCRIPT = (
    _NOW
    + """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local busy = redis.call('ZCARD', KEYS[1])
local queued = redis.call('ZCARD', KEYS[2])
if busy == 0 and queued == 0 then redis.call('DEL', KEYS[1], KEYS[3], KEYS[4]) end
return {busy, queued}
"""
)


class CrawlKeys(NamedTuple):
    """The Redis keys of one crawl."""

    requests: str
    dupefilter: str
    workers: str
    seq: str

    @classmethod
    def for_prefix(cls, prefix: str) -> CrawlKeys:
        return cls(f"{prefix}:requests", f"{prefix}:dupefilter", f"{prefix}:workers", f"{prefix}:seq")


def crawl_site(spider: Spider) -> str:
    """The site a worker crawls: ``site_id`` (set by the gongkai spider), ``-a site=``, the ``-a start_url=``
    host, else the spider name. Workers of one site share a frontier; different sites never mix."""
    for attr in ("site_id", "site"):
        value = getattr(spider, attr, None)
        if value:
            return str(value)
    start_url = getattr(spider, "start_url", None)
    if start_url:
        return urlsplit(str(start_url)).netloc or str(start_url)
    return spider.name


def key_prefix(template: str, spider: Spider) -> str:
    """Expand ``GONGKAI_REDIS_KEY_PREFIX`` (``%(site)s``, ``%(spider)s``) for a spider."""
    return template % {"site": crawl_site(spider), "spider": spider.name}


def new_worker_id() -> str:
    """host:pid:random, unique across machines and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RedisDupeFilter(RFPDupeFilter):
    """scrapy-redis's Redis-set duplicate filter, fingerprinting with the crawler's request fingerprinter
    (``REQUEST_FINGERPRINTER_CLASS``), the same fingerprints Scrapy's local filter uses, stored as raw bytes."""

    def __init__(
        self,
        server: Redis,
        key: str,
        debug: bool = False,
        *,
        fingerprinter: RequestFingerprinterProtocol | None = None,
    ) -> None:
        super().__init__(server, key, debug=debug)
        self.fingerprinter = fingerprinter

    def request_fingerprint(self, request: Request) -> Any:
        if self.fingerprinter is None:
            return super().request_fingerprint(request)
        return self.fingerprinter.fingerprint(request)


class RedisQueue(PriorityQueue):
    """scrapy-redis's priority queue, newest first among equal priorities (Scrapy's own default order, which
    keeps listing chains advancing), whose pop also marks the popping worker busy, atomically."""

    def __init__(self, server: Redis, spider: Spider, key: str, seq_key: str, serializer: Any = None) -> None:
        super().__init__(server, spider, key, serializer=serializer)
        self.seq_key = seq_key
        self._push = server.register_script(PUSH_SCRIPT)
        self._pop = server.register_script(POP_SCRIPT)

    def push(self, request: Request) -> None:
        self._push(keys=[self.key, self.seq_key], args=[request.priority, self._encode_request(request)])

    def pop_marking(self, workers_key: str, worker_id: str) -> Request | None:
        data = self._pop(keys=[self.key, workers_key], args=[worker_id])
        return self._decode_request(data) if data else None


class RedisScheduler(ScrapyRedisScheduler):
    """scrapy-redis's scheduler with per-site keys, seed-once start requests, busy-worker coordination and
    Scrapy 2.19-clean stats. Built by :class:`gongkai_spider.distributed.Scheduler` when ``REDIS_URL`` is set."""

    def __init__(
        self,
        server: Redis,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        stats: StatsCollector | None = None,
        crawler: Crawler | None = None,
        worker_id: str | None = None,
        worker_ttl: float = 60.0,
        idle_poll: float = 0.5,
        flush_on_start: bool = False,
        serializer: Any = None,
        dupefilter_debug: bool = False,
        fingerprinter: RequestFingerprinterProtocol | None = None,
    ) -> None:
        # persist=True: one worker closing must never flush the frontier the others are working on.
        super().__init__(server, persist=True, flush_on_start=flush_on_start, serializer=serializer)
        if worker_ttl <= 0:
            raise ValueError("GONGKAI_REDIS_WORKER_TTL must be positive")
        self.key_template = key_prefix
        self.stats = stats
        self.crawler = crawler
        self.worker_id = worker_id or new_worker_id()
        self.worker_ttl = worker_ttl
        self.idle_poll = idle_poll
        self.dupefilter_debug = dupefilter_debug
        self.fingerprinter = fingerprinter
        self.prefix = ""
        self.keys: CrawlKeys | None = None
        # Requests that cannot be serialised for Redis (a callback that is not a spider method) stay here,
        # with this worker, instead of being lost.
        self.local: deque[Request] = deque()
        self._busy = False
        self._waiting_logged: tuple[int, int] | None = None
        self._join = server.register_script(JOIN_SCRIPT)
        self._idle = server.register_script(IDLE_SCRIPT)
        self._mark = server.register_script(MARK_SCRIPT)
        self._heartbeat: Any = None
        self._poll: Any = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RedisScheduler:
        settings = crawler.settings
        server = connection.get_redis_from_settings(settings)
        server.ping()  # fail at start, with the connection error, rather than on the first request
        serializer = settings.get("SCHEDULER_SERIALIZER")
        if isinstance(serializer, str):
            serializer = importlib.import_module(serializer)
        if settings.getint("SCHEDULER_IDLE_BEFORE_CLOSE"):
            logger.info("SCHEDULER_IDLE_BEFORE_CLOSE is ignored: workers close when the shared crawl is done")
        instance = cls(
            server,
            key_prefix=settings.get("GONGKAI_REDIS_KEY_PREFIX") or DEFAULT_KEY_PREFIX,
            stats=crawler.stats,
            crawler=crawler,
            worker_ttl=settings.getfloat("GONGKAI_REDIS_WORKER_TTL", 60.0),
            idle_poll=settings.getfloat("GONGKAI_REDIS_IDLE_POLL", 0.5),
            flush_on_start=settings.getbool("SCHEDULER_FLUSH_ON_START"),
            serializer=serializer,
            dupefilter_debug=settings.getbool("DUPEFILTER_DEBUG"),
            fingerprinter=crawler.request_fingerprinter,
        )
        crawler.signals.connect(instance.spider_idle, signal=signals.spider_idle)
        return instance

    # -- lifecycle -------------------------------------------------------------------------------------

    def open(self, spider: Spider) -> None:
        self.spider = spider
        self.prefix = prefix = key_prefix(self.key_template, spider)
        self.keys = keys = CrawlKeys.for_prefix(prefix)
        self.queue_key = keys.requests
        self.dupefilter_key = keys.dupefilter
        self.queue = RedisQueue(self.server, spider, keys.requests, keys.seq, serializer=self.serializer)
        self.df = RedisDupeFilter(
            self.server, keys.dupefilter, debug=self.dupefilter_debug, fingerprinter=self.fingerprinter
        )
        if self.flush_on_start:
            self.server.delete(*keys)
            logger.info("SCHEDULER_FLUSH_ON_START: discarded the crawl state under %s", prefix)
        busy, queued, dropped = self._join(
            keys=[keys.workers, keys.requests, keys.dupefilter, keys.seq],
            args=[self.worker_id, self.worker_ttl],
        )
        self._busy = True
        if queued or busy:
            logger.info(
                "Worker %s joined crawl %s: %d requests queued, %d other workers busy",
                self.worker_id,
                prefix,
                queued,
                busy,
            )
        else:
            logger.info(
                "Worker %s starts crawl %s%s",
                self.worker_id,
                prefix,
                " (dropped the duplicate filter of an unfinished earlier crawl)" if dropped else "",
            )
        # Timers need the crawl's event loop; a scheduler built by hand (tests) has none and no heartbeat.
        if self.crawler is not None:
            self._heartbeat = create_looping_call(self._refresh_mark)
            self._heartbeat.start(max(self.worker_ttl / 4, 0.5), now=False)

    def close(self, reason: str) -> None:
        for loop in (self._heartbeat, self._poll):
            if loop is not None and loop.running:
                loop.stop()
        if self.keys is not None:
            # Leave the busy set so nobody waits for us; the frontier itself stays for the other workers.
            self.server.zrem(self.keys.workers, self.worker_id)
        if self.local:
            logger.error(
                "%d requests that could not be shared through Redis were not crawled", len(self.local)
            )

    def flush(self) -> None:
        """Delete this crawl's queue, duplicate filter and busy set (all workers' state)."""
        if self.keys is not None:
            self.server.delete(*self.keys)

    # -- the scheduler interface -----------------------------------------------------------------------

    def enqueue_request(self, request: Request) -> bool:
        if request.meta.get("is_start_request") and SEED_META_KEY not in request.meta:
            # The first worker to schedule a seed owns it; the others' copies are skipped.
            request.meta[SEED_META_KEY] = True
            if self.df.request_seen(request):
                self._inc("gongkai/distributed/seeds/skipped")
                return False
            self._inc("gongkai/distributed/seeds/pushed")
        elif not request.dont_filter and self.df.request_seen(request):
            self.df.log(request, self.spider)
            self._inc("dupefilter/filtered")
            return False
        try:
            self.queue.push(request)
        except ValueError as exc:  # callback/errback not a method of the spider: cannot cross processes
            logger.warning(
                "Request kept local to this worker, not shareable through Redis: %s (%s)", request, exc
            )
            self.local.append(request)
            self._inc("gongkai/distributed/local_requests")
            return True
        self._inc("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        if self.local:
            return self.local.popleft()
        request = self.queue.pop_marking(self.keys.workers, self.worker_id)
        # The pop marked us busy on the server; remember it so the heartbeat keeps the mark fresh.
        self._busy = True
        if request is not None:
            self._inc("scheduler/dequeued/redis")
            if self._poll is not None and self._poll.running:
                self._poll.stop()
        return request

    def has_pending_requests(self) -> bool:
        return bool(self.local) or len(self.queue) > 0

    def __len__(self) -> int:
        return len(self.local) + len(self.queue)

    # -- coordination ----------------------------------------------------------------------------------

    def spider_idle(self) -> None:
        """This worker has nothing in flight: leave the busy set, and keep the spider open while the shared
        crawl is not over (requests queued, or another worker busy and possibly about to push more)."""
        busy, queued = self._idle(
            keys=[self.keys.workers, self.keys.requests, self.keys.dupefilter, self.keys.seq],
            args=[self.worker_id, self.worker_ttl],
        )
        self._busy = False
        if busy == 0 and queued == 0:
            logger.info("Crawl %s finished: queue empty and no worker busy", self.prefix)
            return
        if self._waiting_logged != (busy, queued):
            logger.debug(
                "Worker idle; waiting for the shared crawl (%d queued, %d workers busy)", queued, busy
            )
            self._waiting_logged = (busy, queued)
        self._start_poll()
        raise DontCloseSpider

    def _start_poll(self) -> None:
        # Scrapy itself retries an idle spider only every 5 s; a short poll picks up new work (or the end of
        # the crawl) sooner, which matters when the frontier runs dry for a moment.
        if self.crawler is None or self.idle_poll <= 0 or (self._poll is not None and self._poll.running):
            return
        self._poll = create_looping_call(self._poll_frontier)
        self._poll.start(self.idle_poll, now=False)

    def _poll_frontier(self) -> None:
        try:
            with self.server.pipeline(transaction=False) as pipe:
                queued, busy = pipe.zcard(self.keys.requests).zcard(self.keys.workers).execute()
        except Exception:  # the engine's own 5 s retry still runs
            logger.debug("Idle poll failed", exc_info=True)
            return
        if queued or not busy:
            self._poll.stop()
            # No public API wakes the engine; without this attribute Scrapy's 5 s heartbeat does it.
            nextcall = getattr(getattr(self.crawler.engine, "_slot", None), "nextcall", None)
            if nextcall is not None:
                nextcall.schedule()

    def _refresh_mark(self) -> None:
        if self._busy and self.keys is not None:
            try:
                self._mark(keys=[self.keys.workers], args=[self.worker_id])
            except Exception:  # a Redis blip must not kill the heartbeat; the next beat retries
                logger.warning("Could not refresh the busy mark of worker %s", self.worker_id, exc_info=True)

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(key)
