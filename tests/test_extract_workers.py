"""Extraction in worker processes (gongkai_spider/extract_workers.py): same fields as inline, and the faults a
worker can meet: a page that hangs the parser, a worker that dies, an extraction that raises."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from crawl_support import portal_handler, run_scrapy, scrapy_env, serve

from gongkai_spider.demo import build_portal
from gongkai_spider.extract.page import extract_page
from gongkai_spider.extract_workers import (
    MAX_RESTARTS,
    ExtractCrashed,
    ExtractionPool,
    ExtractTimeout,
    resolve_workers,
)
from gongkai_spider.sites import load_site
from gongkai_spider.storage.sqlite import SQLiteStore
from pipelines.dedup import page_fingerprint

# Functions the workers run (module level: a spawned worker imports them by name).


def _echo(value: int) -> dict:
    return {"value": value}


def _slow(seconds: float) -> dict:
    time.sleep(seconds)
    return {"slept": seconds}


def _die(_: object) -> dict:
    os._exit(3)


def _die_once(flag: str) -> dict:
    if not os.path.exists(flag):
        Path(flag).touch()
        os._exit(3)
    return {"survived": True}


def _raise(message: str) -> dict:
    raise ValueError(message)


class _UnopenableLookup:
    """A WorkerLookup whose opening fails in the worker (module level: it is pickled to the worker)."""

    def open(self):
        raise RuntimeError("cannot open the lookups")


def run(coro):
    return asyncio.run(coro)


async def _with_pool(pool: ExtractionPool, coro_factory):
    try:
        return await coro_factory(pool)
    finally:
        pool.close()


def test_a_worker_extracts_what_the_crawl_would() -> None:
    portal = build_portal(3)
    site = load_site("demo")
    pages = [("http://127.0.0.1:8765" + a["url"], portal.lookup(a["url"])[0]) for a in portal.expected[:6]]

    async def go(pool):
        return [await pool.extract(body, url, None, 200) for url, body in pages]

    results = run(_with_pool(ExtractionPool(1, 60, site), go))
    # and the fingerprint of each page's title and body, hashed there instead of on the crawl's thread
    assert [r.pop("fingerprint") for r in results] == [page_fingerprint(r["title"], r["body"]) for r in results]
    assert results == [extract_page(body, url, site=site) for url, body in pages]
    assert all(r["kind"] == "article" and r["title"] for r in results)


def test_a_worker_whose_lookups_cannot_start_still_extracts_pages_without_them() -> None:
    portal = build_portal(3)
    site = load_site("demo")
    url = "http://127.0.0.1:8765" + portal.expected[0]["url"]

    async def go(pool):
        return await pool.extract(portal.lookup(portal.expected[0]["url"])[0], url, None, 200)

    result = run(_with_pool(ExtractionPool(1, 60, site, lookup=_UnopenableLookup()), go))
    assert result["kind"] == "article" and result["fingerprint"] == page_fingerprint(result["title"], result["body"])
    assert "stored_near" not in result  # the crawl's dedup stage looks the page up itself


def test_a_worker_runs_another_function_when_called_and_the_pools_own_after() -> None:
    async def go(pool):
        called = await pool.call(_echo, 7)
        with pytest.raises(ValueError, match="bad"):
            await pool.call(_raise, "bad")
        return called, await pool.extract(0.01), pool.started

    assert run(_with_pool(ExtractionPool(1, 60, function=_slow), go)) == ({"value": 7}, {"slept": 0.01}, 1)


def test_a_page_that_hangs_is_given_up_and_the_workers_restart() -> None:
    async def go(pool):
        started = time.monotonic()
        with pytest.raises(ExtractTimeout):
            await pool.extract(30)
        took = time.monotonic() - started
        return took, await pool.extract(0)  # new workers take the next page

    took, after = run(_with_pool(ExtractionPool(1, 1.5, function=_slow), go))
    assert took < 10 and after == {"slept": 0}


def test_pages_queued_behind_a_hanging_page_are_not_blamed() -> None:
    async def go(pool):
        slow = asyncio.ensure_future(pool.extract(30))
        await asyncio.sleep(0.05)
        quick = [asyncio.ensure_future(pool.extract(0.01)) for _ in range(3)]
        done = await asyncio.gather(slow, *quick, return_exceptions=True)
        return done

    slow, *quick = run(_with_pool(ExtractionPool(1, 2.0, function=_slow), go))
    assert isinstance(slow, ExtractTimeout)
    assert quick == [{"slept": 0.01}] * 3  # sent again to the new worker, not timed out with the slow one


def test_an_urgent_page_goes_before_the_pages_queued_without_it() -> None:
    """A listing page must not wait behind every article page already queued: its column's next requests do."""
    async def go(pool):
        await pool.extract(0)  # the worker is up
        finished: list[str] = []

        async def page(tag: str, seconds: float, urgent: bool = False) -> None:
            await pool.extract(seconds, urgent=urgent)
            finished.append(tag)

        articles = [asyncio.ensure_future(page(f"article {i}", 0.05)) for i in range(8)]
        await asyncio.sleep(0)  # queued: two sent to the worker, six waiting
        listing = asyncio.ensure_future(page("listing", 0.0, urgent=True))
        await asyncio.gather(*articles, listing)
        return finished

    finished = run(_with_pool(ExtractionPool(1, 60, function=_slow), go))
    assert finished.index("listing") <= 2  # after at most the two pages the worker already had


@pytest.mark.parametrize("workers", [1, 2])
def test_starts_asked_for_in_one_loop_turn_start_no_more_workers_than_configured(workers: int) -> None:
    """A crawl's first listing pages can each ask for the workers before any start has run; each extra
    process would cost its imports' CPU and a share of the cores for the whole crawl."""
    async def go(pool):
        for _ in range(4):
            pool.start_soon()
        results = await asyncio.gather(*(pool.extract(i) for i in range(3)))
        await asyncio.gather(*pool._starts)
        return results, pool.started, len(pool._ready)

    results, started, ready = run(_with_pool(ExtractionPool(workers, 60, function=_echo), go))
    assert results == [{"value": i} for i in range(3)]
    assert started == ready == workers


def test_a_worker_that_dies_once_is_restarted_and_the_page_sent_again(tmp_path: Path) -> None:
    pool = ExtractionPool(1, 60, function=_die_once)
    assert run(_with_pool(pool, lambda p: p.extract(str(tmp_path / "died")))) == {"survived": True}
    assert pool.restarts == 1 and not pool.disabled


def test_a_page_under_which_a_worker_dies_twice_is_given_up_not_extracted_inline() -> None:
    pool = ExtractionPool(1, 60, function=_die)
    with pytest.raises(ExtractCrashed):
        run(_with_pool(pool, lambda p: p.extract(None)))
    assert pool.restarts == 2


def test_workers_dying_again_and_again_are_given_up_for_the_run() -> None:
    pool = ExtractionPool(1, 60, function=_die)

    async def go(pool):
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append(await pool.extract(None))
            except ExtractCrashed as exc:
                outcomes.append(exc.reason)
        return outcomes

    outcomes = run(_with_pool(pool, go))
    assert pool.disabled and pool.restarts == MAX_RESTARTS
    assert outcomes[-1] is None  # from now on the caller extracts inline


def test_an_error_of_the_extraction_itself_is_raised_as_inline() -> None:
    with pytest.raises(ValueError, match="bad page"):
        run(_with_pool(ExtractionPool(1, 60, function=_raise), lambda p: p.extract("bad page")))


@pytest.mark.parametrize(("value", "cpus", "expected"), [
    ("auto", 2, 1), ("auto", 1, 0), ("", 8, 1), ("0", 8, 0), ("3", 1, 3), (" 2 ", 4, 2)])
def test_worker_count(value: str, cpus: int, expected: int) -> None:
    assert resolve_workers(value, cpus) == expected


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_worker_count_is_refused(value: str) -> None:
    with pytest.raises(ValueError):
        resolve_workers(value, 2)


@pytest.mark.parametrize(("setting", "value"), [("GONGKAI_EXTRACT_WORKERS", "lots"), ("GONGKAI_HELPER_NICE", "high")])
def test_a_bad_worker_setting_is_a_one_line_error_of_the_crawl(tmp_path: Path, setting: str, value: str) -> None:
    env = scrapy_env(tmp_path, **{setting: value})
    result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", "base_url=http://127.0.0.1:9"], tmp_path,
                        env=env)
    assert result.returncode != 0
    assert setting in result.log and "Traceback" not in result.log


# -- in a crawl -------------------------------------------------------------------------------------------


def _crawl_demo(tmp_path: Path, portal, **env: str):
    with serve({}, default=portal_handler(portal)) as server:
        return run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path,
                          env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"), **env), timeout=180)


def test_a_crawl_extracts_in_workers_and_stores_every_article(tmp_path: Path) -> None:
    portal = build_portal({"seed": 12, "trs": 12, "hanweb": 12})
    result = _crawl_demo(tmp_path, portal, GONGKAI_EXTRACT_WORKERS="1")
    assert result.stats.get("gongkai/extract/offloaded", 0) >= 36, result.log[-2000:]
    assert result.stats.get("gongkai/store/new") == 36
    assert result.stats.get("gongkai/extract/workers_started") == 1


# A links box of 1,500 entries: 80 KB a page, about 15 ms to extract against the server's few ms to send it.
_LINKS_BOX = ("<div class=\"links\"><ul>" + "".join(f"<li><a href=\"/l/{i}.html\">相关链接{i}</a></li>"
                                                     for i in range(1500)) + "</ul></div></body>").encode()


@pytest.mark.parametrize(("slot_size", "bound"), [(None, 30), ("5242880", None)])
def test_downloads_run_only_a_few_pages_ahead_of_the_worker(tmp_path: Path, slot_size: str | None,
                                                            bound: int | None) -> None:
    """Each page waiting for the worker keeps its response and Scrapy's chain of middleware generators alive,
    and the garbage collector walks them all; SCRAPER_SLOT_MAX_ACTIVE_SIZE keeps them few. Scrapy's own 5 MB
    (the second case) lets downloads run dozens of pages ahead here: the first case is not passing by luck."""
    portal = build_portal({"hanweb": 100})
    pages = portal_handler(portal)

    def heavy(seen):
        status, headers, body = pages(seen)
        return status, headers, body.replace(b"</body>", _LINKS_BOX) if "/art/" in seen.path else body

    args = ["crawl", "gongkai", "-a", "site=demo", *(["-s", f"SCRAPER_SLOT_MAX_ACTIVE_SIZE={slot_size}"]
                                                    if slot_size else [])]
    with serve({}, default=heavy) as server:
        result = run_scrapy([*args, "-a", f"base_url={server.base}"], tmp_path, timeout=180, env=scrapy_env(
            tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"), GONGKAI_EXTRACT_WORKERS="1",
            GONGKAI_CONCURRENT_REQUESTS_PER_DOMAIN="16"))
    assert result.stats.get("gongkai/extract/offloaded", 0) >= 99, result.log[-2000:]
    queued = result.stats.get("gongkai/extract/queued_max")
    if bound is not None:
        assert queued <= bound
    else:
        assert queued > 40


def test_pages_the_workers_cannot_finish_in_time_are_pending_and_the_crawl_ends(tmp_path: Path) -> None:
    portal = build_portal({"seed": 12})
    result = _crawl_demo(tmp_path, portal, GONGKAI_EXTRACT_WORKERS="1", GONGKAI_EXTRACT_TIMEOUT="0.000001")
    assert result.stats.get("gongkai/extract/timeout") == 12, result.log[-2000:]
    # workers that never finished a page get no listing page: the columns are read here
    assert "gongkai/listing/extract_given_up" not in result.stats
    assert result.stats.get("gongkai/store/new", 0) == 0
    assert result.returncode == 3  # failed_articles: every article failed
    store = SQLiteStore(tmp_path / "store.sqlite3")
    try:
        entries = list(store.iter_docs("pending"))
    finally:
        store.close()
    assert len(entries) == 12 and {e["reason"] for e in entries} == {"extract_timeout"}
    # the next run, with time enough, stores them all
    again = _crawl_demo(tmp_path, portal, GONGKAI_EXTRACT_WORKERS="1")
    assert again.stats.get("gongkai/store/new") == 12, again.log[-2000:]


def _seed_copies(source: Path, target: Path) -> dict[str, str]:
    """The articles stored at ``source``, stored again at ``target`` under other ids and URLs (reposts: the
    same title and body); returns each article's URL path -> its copy's id (the portal's port changes)."""
    old, new = SQLiteStore(source), SQLiteStore(target)
    try:
        docs = list(old.iter_docs("articles"))
        copies = {urlsplit(d["url"]).path: f"copy-{d['_id']}" for d in docs}
        new.upsert_many([{**{k: v for k, v in d.items() if not k.endswith("_at")},
                          "_id": copies[urlsplit(d["url"]).path], "url": d["url"].replace("http://", "http://mirror.")}
                         for d in docs])
    finally:
        old.close()
        new.close()
    return copies


def _near_of(db: Path) -> dict[str, str | None]:
    store = SQLiteStore(db)
    try:
        return {urlsplit(d["url"]).path: d.get("near_duplicate_of") for d in store.iter_docs("articles")
                if not d["_id"].startswith("copy-")}
    finally:
        store.close()


# hanweb's articles are one page each; trs has an article of three pages, and attachments join their text
@pytest.mark.parametrize(("columns", "attachments"), [({"hanweb": 24}, "0"), ({"trs": 12, "hanweb": 12}, "1")])
def test_the_workers_look_pages_up_among_the_stored_articles_and_find_what_the_crawl_would(
        tmp_path: Path, columns: dict[str, int], attachments: str) -> None:
    portal = build_portal(columns)
    first = _crawl_demo(tmp_path / "first", portal, GONGKAI_EXTRACT_WORKERS="0", GONGKAI_ATTACHMENTS=attachments)
    assert first.stats.get("gongkai/store/new") == 24, first.log[-2000:]
    stats, found = {}, {}
    for workers in ("1", "0"):
        run_dir = tmp_path / f"workers-{workers}"
        run_dir.mkdir()
        copies = _seed_copies(tmp_path / "first" / "store.sqlite3", run_dir / "store.sqlite3")
        result = _crawl_demo(run_dir, portal, GONGKAI_EXTRACT_WORKERS=workers, GONGKAI_ATTACHMENTS=attachments)
        assert result.stats.get("gongkai/store/new") == 24, result.log[-2000:]
        assert result.stats.get("gongkai/dedup/index_loaded") == 24
        # each article a near duplicate of its stored repost (unless its body is too short to look up)
        found[workers] = _near_of(run_dir / "store.sqlite3")
        assert set(found[workers].values()) <= {*copies.values(), None}
        assert all(found[workers][path] in (copies[path], None) for path in found[workers])
        stats[workers] = result.stats
    # the same found by the workers as by the crawl's own process
    assert found["1"] == found["0"]
    assert sum(v is not None for v in found["1"].values()) >= 20
    # Every lookup among the stored articles was made by the worker, so the crawl's own process never loaded the
    # stored fingerprints and never waited for them: the pages it extracted with their own lookup, the articles
    # of several pages and those with attachment text by asking it.
    assert "gongkai/dedup/index_wait_ms" not in stats["1"]
    assert "gongkai/dedup/index_wait_ms" in stats["0"]
    asked = stats["1"].get("gongkai/dedup/asked_workers", 0)
    assert asked == 0 if attachments == "0" else 1 <= asked < 24


def test_a_lookup_the_workers_give_up_on_is_left_to_the_dedup_stage(caplog: pytest.LogCaptureFixture) -> None:
    """The spider's ``stored_near`` answers None (the dedup stage then looks the item up itself) when a worker
    timed out or died under the lookup, or the workers are given up; a worker's answer is passed on."""
    import logging
    from types import SimpleNamespace

    from gongkai_spider.spiders.gongkai import GongkaiSpider

    class Pool:
        def __init__(self, outcome):
            self.outcome = outcome

        async def call(self, function, *args, urgent=False):
            assert urgent  # ahead of the article pages: the item holds a CONCURRENT_ITEMS slot meanwhile
            if isinstance(self.outcome, Exception):
                raise self.outcome
            return self.outcome

    def spider(outcome, in_workers=True):
        return SimpleNamespace(_extract_pool=Pool(outcome), dedup_in_workers=in_workers,
                               logger=logging.getLogger("test-spider"))

    answer = (5, 0, 0, [(0.9, 1, "stored")])
    assert run(GongkaiSpider.stored_near(spider(answer), "正文", 1, 2)) == answer
    assert run(GongkaiSpider.stored_near(spider(answer, in_workers=False), "正文", 1, 2)) is None
    assert run(GongkaiSpider.stored_near(spider(None), "正文", 1, 2)) is None  # the workers are given up
    for fault in (ExtractTimeout(), ExtractCrashed()):
        assert run(GongkaiSpider.stored_near(spider(fault), "正文", 1, 2)) is None
    assert "lookup in an extraction worker given up (timeout)" in caplog.text
    assert "given up (crashed)" in caplog.text
