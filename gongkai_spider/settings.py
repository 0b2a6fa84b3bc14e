"""Every setting of the gongkai project, in one place.

Scrapy's own settings come first, then ours (prefixed ``GONGKAI_``, plus the store settings ``MONGO_*``),
grouped by concern. Each has a comment saying what it does, its default, and the environment variable
that overrides it where operators need one. The README's "Settings" table mirrors this file.
"""

from __future__ import annotations

import os


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, str(default)))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


BOT_NAME = "gongkai_spider"
SPIDER_MODULES = ["gongkai_spider.spiders"]
NEWSPIDER_MODULE = "gongkai_spider.spiders"

# ---------------------------------------------------------------------------------------------------------
# Politeness and identity
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_CONTACT: URL or e-mail put into the User-Agent so site operators can reach whoever runs the crawl.
# Default: the project page. Env: GONGKAI_CONTACT.
GONGKAI_CONTACT = os.environ.get("GONGKAI_CONTACT", "+https://github.com/gongkai-spider/gongkai-spider")
USER_AGENT = f"gongkai-spider/0.1 ({GONGKAI_CONTACT})"

# robots.txt is obeyed by default; an operator with written permission may turn it off per run
# (`-s ROBOTSTXT_OBEY=0`).
ROBOTSTXT_OBEY = _env_bool("GONGKAI_ROBOTSTXT_OBEY", True)

# AutoThrottle adapts the delay to each site's latency; gov portals are often slow, shared hosts.
AUTOTHROTTLE_ENABLED = _env_bool("GONGKAI_AUTOTHROTTLE", True)
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = _env_int("GONGKAI_CONCURRENT_REQUESTS_PER_DOMAIN", 4)
DOWNLOAD_DELAY = _env_float("GONGKAI_DOWNLOAD_DELAY", 0.25)
DOWNLOAD_TIMEOUT = 60
# Pages above this size are not articles worth parsing (Scrapy aborts the download and logs it).
DOWNLOAD_MAXSIZE = _env_int("GONGKAI_DOWNLOAD_MAXSIZE", 16 * 1024 * 1024)
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
REDIRECT_MAX_TIMES = 10
RETRY_TIMES = 2

# CONCURRENT_ITEMS: items processed in parallel per response. Scrapy's default of 100 costs measurable CPU
# per page for no gain here (one item per detail page); see benchmarks/throughput.py.
CONCURRENT_ITEMS = 10

# SCRAPER_SLOT_MAX_ACTIVE_SIZE (Scrapy): bytes of downloaded responses the crawl holds unfinished (waiting for
# an extraction worker, in the item pipelines) before it stops starting new downloads. Scrapy's 5 MB let
# downloads run ~1,300 small pages ahead of the worker (gongkai/extract/queued_max); each waiting page keeps its
# response and a chain of suspended middleware generators alive, and every garbage-collector pass over the
# older generations walked them all: 0.2-0.4 ms CPU per page of the crawl's thread (benchmarks/throughput.py).
# 256 KiB still keeps a few large pages ahead of the worker; only how far downloads run ahead changes.
# Default: 262144.
SCRAPER_SLOT_MAX_ACTIVE_SIZE = 256 * 1024

# GONGKAI_GC_THRESHOLD: generation thresholds of Python's cyclic garbage collector for the crawl, set with
# gc.freeze() of the start-up objects when the engine starts (extensions/gctuning.py); () or
# `-s GONGKAI_GC_THRESHOLD=` = leave the collector alone. Measured on benchmarks/throughput.py's full crawl
# (5,310 pages, gc.callbacks): collections cost 0.27 ms CPU per page with Python's (700, 10, 10); 0.16 with the
# freeze alone; 0.12 with (10000, 10, 10), no better with (20000, 10, 10) or (10000, 50, 50).
# Default: (10000, 10, 10).
GONGKAI_GC_THRESHOLD = (10000, 10, 10)

# ---------------------------------------------------------------------------------------------------------
# Output, logging, stats
# ---------------------------------------------------------------------------------------------------------

FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = os.environ.get("GONGKAI_LOG_LEVEL", "INFO")
TELNETCONSOLE_ENABLED = False
# REMOTE_CONTROL_ENABLED: Scrapy 2.19's RemoteControl extension serves an HTTP endpoint on localhost that runs
# Python code sent to it inside the crawler (token in a job file under the user's profile). Off: a scheduled
# crawl has no use for it. Opt in for one run with `-s REMOTE_CONTROL_ENABLED=1`. Default: off.
REMOTE_CONTROL_ENABLED = False

# ---------------------------------------------------------------------------------------------------------
# Crawl scope
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_MAX_PAGES: listing pages followed per start URL (column). 0 = no limit.
# Default: 0. Env: GONGKAI_MAX_PAGES. Overridden by `-a max_pages=N`.
GONGKAI_MAX_PAGES = _env_int("GONGKAI_MAX_PAGES", 0)
# GONGKAI_PAGE_CAP: without a max_pages (argument, site config or GONGKAI_MAX_PAGES), a column still stops after
# this many listing pages and the run raises the `page_cap` alert (exit 3): a paginator that never ends.
# 0 = no cap. Default: 1000. Env: GONGKAI_PAGE_CAP.
GONGKAI_PAGE_CAP = _env_int("GONGKAI_PAGE_CAP", 1000)

# GONGKAI_SITES_DIR: extra folder of site configs (*.yaml), searched before the bundled ones.
# Default: unset (bundled configs only). Env: GONGKAI_SITES_DIR.
GONGKAI_SITES_DIR = os.environ.get("GONGKAI_SITES_DIR", "")

# ---------------------------------------------------------------------------------------------------------
# Item pipelines: clean -> validate -> spam -> attachments -> dedup -> store
# ---------------------------------------------------------------------------------------------------------

ITEM_PIPELINES = {
    "pipelines.clean.CleanPipeline": 100,
    "pipelines.validate.ValidatePipeline": 200,
    "pipelines.spam.SpamPipeline": 300,
    "pipelines.attachments.AttachmentsPipeline": 350,
    "pipelines.dedup.DedupPipeline": 400,
    "pipelines.store.StorePipeline": 900,
}

# GONGKAI_SPAM_THRESHOLD: spam score at or above which an item is quarantined.
# Default: 1.0. Env: GONGKAI_SPAM_THRESHOLD.
GONGKAI_SPAM_THRESHOLD = _env_float("GONGKAI_SPAM_THRESHOLD", 1.0)

# ---------------------------------------------------------------------------------------------------------
# Spam lists (pipelines/spam.py, issue 4)
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_SPAM_LISTS_DIR: folder of token lists (brands, CTA, gambling/porn terms, allow-list) used instead of
# the bundled pipelines/spam_data/ — copy that folder, edit it, point this setting at it.
# Default: unset (bundled lists). Env: GONGKAI_SPAM_LISTS_DIR.
GONGKAI_SPAM_LISTS_DIR = os.environ.get("GONGKAI_SPAM_LISTS_DIR", "")

# ---------------------------------------------------------------------------------------------------------
# Attachments (pipelines/attachments.py: Scrapy's FilesPipeline; text by gongkai_spider/filetext/, issue 13)
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_ATTACHMENTS_ENABLED: download attachment files, keep them, read their text. Off = attachments stay
# {name, url}. Default: on. Env: GONGKAI_ATTACHMENTS.
GONGKAI_ATTACHMENTS_ENABLED = _env_bool("GONGKAI_ATTACHMENTS", True)
# GONGKAI_ATTACHMENTS_FOR_SPAM: download the attachments of quarantined items too (status skipped otherwise).
# Default: off. Env: GONGKAI_ATTACHMENTS_FOR_SPAM.
GONGKAI_ATTACHMENTS_FOR_SPAM = _env_bool("GONGKAI_ATTACHMENTS_FOR_SPAM", False)
# GONGKAI_ATTACHMENT_MAX_BYTES: larger files are not downloaded (status too_large; Scrapy aborts the transfer).
# Default: 50 MiB. Env: GONGKAI_ATTACHMENT_MAX_BYTES.
GONGKAI_ATTACHMENT_MAX_BYTES = _env_int("GONGKAI_ATTACHMENT_MAX_BYTES", 50 * 1024 * 1024)
# GONGKAI_ATTACHMENT_MAX_CHARS: characters of text kept per file; more -> text_truncated: true.
# Default: 200000. Env: GONGKAI_ATTACHMENT_MAX_CHARS.
GONGKAI_ATTACHMENT_MAX_CHARS = _env_int("GONGKAI_ATTACHMENT_MAX_CHARS", 200_000)
# GONGKAI_ATTACHMENT_MAX_PAGES: PDF pages whose text is read (pages counts them all; more -> text_truncated).
# Default: 500. Env: GONGKAI_ATTACHMENT_MAX_PAGES.
GONGKAI_ATTACHMENT_MAX_PAGES = _env_int("GONGKAI_ATTACHMENT_MAX_PAGES", 500)
# GONGKAI_ATTACHMENT_MAX_UNPACKED: declared decompressed bytes a DOCX/XLSX/ZIP may hold; more -> failed:zip_bomb.
# Default: 100 MiB. Env: GONGKAI_ATTACHMENT_MAX_UNPACKED.
GONGKAI_ATTACHMENT_MAX_UNPACKED = _env_int("GONGKAI_ATTACHMENT_MAX_UNPACKED", 100 * 1024 * 1024)
# GONGKAI_ATTACHMENT_PARSE_TIMEOUT: seconds the text worker may spend on one file (then it is killed and
# restarted: failed:parse_timeout). Default: 30. Env: GONGKAI_ATTACHMENT_PARSE_TIMEOUT.
GONGKAI_ATTACHMENT_PARSE_TIMEOUT = _env_float("GONGKAI_ATTACHMENT_PARSE_TIMEOUT", 30.0)
# GONGKAI_ATTACHMENT_PARSE_MEMORY_MB: address-space limit of the text worker (failed:memory beyond); 0 = none.
# Default: 1024. Env: GONGKAI_ATTACHMENT_PARSE_MEMORY_MB.
GONGKAI_ATTACHMENT_PARSE_MEMORY_MB = _env_int("GONGKAI_ATTACHMENT_PARSE_MEMORY_MB", 1024)
# GONGKAI_ATTACHMENT_TIMEOUT: download timeout of one attachment, seconds. Default: 120.
# Env: GONGKAI_ATTACHMENT_TIMEOUT.
GONGKAI_ATTACHMENT_TIMEOUT = _env_float("GONGKAI_ATTACHMENT_TIMEOUT", 120.0)
# FILES_STORE (Scrapy's): where files go. "" = GridFS in MONGO_DATABASE when MONGO_URI is set, else files/ beside
# GONGKAI_DB (data/files); a folder, s3://, gs://, ftp:// or mongodb:// URI names one. Env: FILES_STORE.
FILES_STORE = os.environ.get("FILES_STORE", "")
# FILES_EXPIRES (Scrapy's): days before an attachment URL whose file is stored is downloaded again to see whether
# it changed (a new sha1 makes a new article version). Default: 90. Env: FILES_EXPIRES.
FILES_EXPIRES = _env_int("FILES_EXPIRES", 90)
# FILES_URLS_FIELD / FILES_RESULT_FIELD (Scrapy's): the item field read for URLs and written with the records.
FILES_URLS_FIELD = "attachments"
FILES_RESULT_FIELD = "attachments"
# MEDIA_ALLOW_REDIRECTS (Scrapy's): portals often redirect downloads (/download?id= -> the file).
MEDIA_ALLOW_REDIRECTS = True

# ---------------------------------------------------------------------------------------------------------
# Validate and dedup pipelines (pipelines/validate.py, pipelines/dedup.py)
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_MIN_BODY_CHARS: drop (reason body_too_short) articles with fewer non-space body characters and no
# attachments. 0 = off: short 任免/公示 notices are real documents. Default: 0. Env: GONGKAI_MIN_BODY_CHARS.
GONGKAI_MIN_BODY_CHARS = _env_int("GONGKAI_MIN_BODY_CHARS", 0)
# GONGKAI_DEDUP_LOAD_INDEX: load the stored articles' simhashes at start so near_duplicate_of also finds
# copies of earlier runs' articles. Default: on. Env: GONGKAI_DEDUP_LOAD_INDEX.
GONGKAI_DEDUP_LOAD_INDEX = _env_bool("GONGKAI_DEDUP_LOAD_INDEX", True)
# GONGKAI_DEDUP_IN_WORKERS: with extraction workers and the SQLite store, each worker holds the stored simhashes
# and looks pages up among them, off the crawl's thread (pipelines/dedup.py WorkerLookup); off = the crawl's
# process holds them, once instead of once per worker. Default: on. Env: GONGKAI_DEDUP_IN_WORKERS.
GONGKAI_DEDUP_IN_WORKERS = _env_bool("GONGKAI_DEDUP_IN_WORKERS", True)
# GONGKAI_NEAR_DUP_DISTANCE: simhash bits (of 64) two articles may differ by and still be near-duplicate
# candidates, 0..11; a candidate is marked only when its text passes GONGKAI_NEAR_DUP_SIMILARITY (see
# pipelines/dedup.py: 6 finds 96% of 1-5-edit copies of 400-character notices). Default: 6.
# Env: GONGKAI_NEAR_DUP_DISTANCE.
GONGKAI_NEAR_DUP_DISTANCE = _env_int("GONGKAI_NEAR_DUP_DISTANCE", 6)
# GONGKAI_NEAR_DUP_SIMILARITY: Jaccard similarity of the character 3-gram sets a simhash candidate must reach
# to be marked near_duplicate_of (distinct notices of one template measured <= 0.45, 20-edit copies >= 0.57).
# Default: 0.6. Env: GONGKAI_NEAR_DUP_SIMILARITY.
GONGKAI_NEAR_DUP_SIMILARITY = _env_float("GONGKAI_NEAR_DUP_SIMILARITY", 0.6)
# GONGKAI_NEAR_DUP_MIN_CHARS: bodies shorter than this (non-space characters) are never marked near
# duplicates: "详见附件" says nothing. Default: 100. Env: GONGKAI_NEAR_DUP_MIN_CHARS.
GONGKAI_NEAR_DUP_MIN_CHARS = _env_int("GONGKAI_NEAR_DUP_MIN_CHARS", 100)

# ---------------------------------------------------------------------------------------------------------
# Store: MongoDB when MONGO_URI is set, else the embedded SQLite file GONGKAI_DB
# ---------------------------------------------------------------------------------------------------------

# MONGO_URI: MongoDB connection string. Default: unset (use SQLite). Env: MONGO_URI.
MONGO_URI = os.environ.get("MONGO_URI", "")
# MONGO_DATABASE: database name. Default: gongkai. Env: MONGO_DATABASE.
MONGO_DATABASE = os.environ.get("MONGO_DATABASE", "gongkai")
# GONGKAI_DB: path of the embedded SQLite store. Default: data/gongkai.sqlite3. Env: GONGKAI_DB.
GONGKAI_DB = os.environ.get("GONGKAI_DB", "data/gongkai.sqlite3")
# GONGKAI_STORE_BATCH_SIZE: items buffered before one bulk upsert. Default: 200. Env: GONGKAI_STORE_BATCH_SIZE.
GONGKAI_STORE_BATCH_SIZE = _env_int("GONGKAI_STORE_BATCH_SIZE", 200)
# GONGKAI_STORE_THREAD: write the batches from a thread of the store pipeline's own, on its own connection, while
# the crawl goes on (SQLite only: MongoDB writes stay on the crawl's thread). Default: on. Env: GONGKAI_STORE_THREAD.
GONGKAI_STORE_THREAD = _env_bool("GONGKAI_STORE_THREAD", True)

# ---------------------------------------------------------------------------------------------------------
# Store outage safety: batches MongoDB cannot take go to a local spool, replayed later (storage/spool.py)
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_SPOOL_DIR: folder of the spool (JSONL), one subfolder per store (store-<digest>/, its store.json names
# the MongoDB hosts + database or the SQLite path): a run replays only its own store's folder, at the next flush
# and when the next run opens. Default: data/spool. Env: GONGKAI_SPOOL_DIR.
GONGKAI_SPOOL_DIR = os.environ.get("GONGKAI_SPOOL_DIR", "data/spool")
# GONGKAI_SPOOL_RETRY_SECONDS: after a failure, batches go straight to the spool for this long before the
# store is tried again (each try can block the crawl for MONGO_SERVER_SELECTION_TIMEOUT_MS).
# Default: 30. Env: GONGKAI_SPOOL_RETRY_SECONDS.
GONGKAI_SPOOL_RETRY_SECONDS = _env_float("GONGKAI_SPOOL_RETRY_SECONDS", 30.0)
# MONGO_SERVER_SELECTION_TIMEOUT_MS: how long one MongoDB operation waits for a reachable server before the
# batch is spooled. Short, because the crawl waits meanwhile. Default: 5000. Env: MONGO_SERVER_SELECTION_TIMEOUT_MS.
MONGO_SERVER_SELECTION_TIMEOUT_MS = _env_int("MONGO_SERVER_SELECTION_TIMEOUT_MS", 5000)
# MONGO_SOCKET_TIMEOUT_MS: pymongo's socketTimeoutMS, the longest wait for one answer from the server. It bounds
# every operation: a server that accepts connections and then never answers costs at most about twice this (pymongo
# retries a read once) before the batch is spooled and `gongkai stats`/`export` exit 2. 0 = no limit (not advised).
# Default: 10000. Env: MONGO_SOCKET_TIMEOUT_MS.
MONGO_SOCKET_TIMEOUT_MS = _env_int("MONGO_SOCKET_TIMEOUT_MS", 10000)
# MONGO_CONNECT_TIMEOUT_MS: pymongo's connectTimeoutMS, the longest wait for a TCP connection and its handshake.
# 0 = pymongo's default (20 s). Default: 5000. Env: MONGO_CONNECT_TIMEOUT_MS.
MONGO_CONNECT_TIMEOUT_MS = _env_int("MONGO_CONNECT_TIMEOUT_MS", 5000)
# MONGO_TIMEOUT_MS: pymongo's timeoutMS, a cap on each operation as a whole (server selection, connecting, its
# retry, every answer). Off by default because pymongo then uses it instead of MONGO_SERVER_SELECTION_TIMEOUT_MS,
# so a server that is down would cost this long, not 5 s. 0 = unset. Default: 0. Env: MONGO_TIMEOUT_MS.
MONGO_TIMEOUT_MS = _env_int("MONGO_TIMEOUT_MS", 0)
# GONGKAI_STORE_MAX_BUFFERED: documents held in memory when neither the store nor the spool takes them (disk full).
# Reaching it stops the crawl with the alert store_failing; later documents are counted in gongkai/store/lost.
# Default: 5000. Env: GONGKAI_STORE_MAX_BUFFERED.
GONGKAI_STORE_MAX_BUFFERED = _env_int("GONGKAI_STORE_MAX_BUFFERED", 5000)

# ---------------------------------------------------------------------------------------------------------
# Scheduled runs: incremental crawling, anti-bot back-off, run monitor and exit status (issue 5)
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_READ_ONLY: fetch and extract, write nothing: no store (no items stored, no known-article lookups, no
# near-duplicate index), no run history, no monitor, no stats file, no JOBDIR bookkeeping. Set by Scrapy's
# debugging commands `scrapy parse/shell/fetch/view/check` (gongkai_spider/scrapy_commands/), so they change
# nothing a scheduled crawl relies on; each component that writes checks it in from_crawler. Default: off.
# Not assigned here: a value in this module (priority "project") would override the commands' own defaults
# (priority "command"). `-s GONGKAI_READ_ONLY=1` makes any command read-only, `=0` lets them write.

# GONGKAI_EXTRACT_WORKERS: processes that extract article pages beside the crawl's own (gongkai_spider/
# extract_workers.py): the crawl gets a second core, and a page that hangs the parser cannot freeze it. `auto`:
# 1 when the machine has 2+ cores, else 0; 0: extract in the crawl's process. Several crawls on one machine:
# 0 or 1 each. Default: auto. Env: GONGKAI_EXTRACT_WORKERS.
GONGKAI_EXTRACT_WORKERS = os.environ.get("GONGKAI_EXTRACT_WORKERS", "auto")
# GONGKAI_HELPER_NICE: how much higher the nice value of the crawl's helpers (the extraction workers, the store's
# writer thread) is than the crawl's own, 0-19: when they compete for a core with the crawl's thread, which bounds
# the crawl's pace, it wins (gongkai_spider/priority.py). 0: same priority. Default: 5. Env: GONGKAI_HELPER_NICE.
GONGKAI_HELPER_NICE = os.environ.get("GONGKAI_HELPER_NICE", "5")
# GONGKAI_EXTRACT_TIMEOUT: seconds a worker may spend on one page; then it is killed and the page left pending
# (gongkai/extract/timeout). Default: 60. Env: GONGKAI_EXTRACT_TIMEOUT.
GONGKAI_EXTRACT_TIMEOUT = _env_float("GONGKAI_EXTRACT_TIMEOUT", 60.0)

# Scrapy's downloader with a slot's concurrency kept when there is no download delay (Scrapy 2.19 starts every
# request queued in the slot at once); see gongkai_spider/downloader.py.
DOWNLOADER = "gongkai_spider.downloader.Downloader"

# `scrapy crawl` is replaced by gongkai_spider/scrapy_commands/crawl.py: same command, but it exits 3 when the
# run monitor raised an alert (1 stays "could not start", 0 "finished, no alert").
COMMANDS_MODULE = "gongkai_spider.scrapy_commands"

SPIDER_MIDDLEWARES = {
    # skips stored / too-old articles and stops paging caught-up columns; see middlewares/incremental.py
    "gongkai_spider.middlewares.incremental.IncrementalMiddleware": 560,
}
DOWNLOADER_MIDDLEWARES = {
    # Scrapy 2.19's robots.txt middleware lets requests through that wait on an in-flight robots.txt;
    # see middlewares/robots.py
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "gongkai_spider.middlewares.robots.SharedRobotsTxtMiddleware": 100,
    # below HttpCompression (590) and Cookies (700): sees decoded bodies, cookie jar already updated
    "gongkai_spider.middlewares.blocking.BlockedMiddleware": 585,
    # sees 3xx responses before RedirectMiddleware (600): a loop is a counted failure, not a silent dupe
    "gongkai_spider.middlewares.redirects.RedirectLoopMiddleware": 610,
}
EXTENSIONS = {
    # gc.freeze() after start-up and a larger generation-0 threshold; see extensions/gctuning.py
    "gongkai_spider.extensions.gctuning.GcTuning": 0,
    # Scrapy's per-page DEBUG records not made when LOG_LEVEL would drop them; see extensions/loggate.py
    "gongkai_spider.extensions.loggate.DebugGate": 0,
    "gongkai_spider.extensions.monitor.RunMonitor": 500,
    # one message per run with alerts, by e-mail and webhooks (GONGKAI_ALERT_*); after the monitor judged the run
    "gongkai_spider.extensions.notify.AlertNotifier": 600,
    # one INFO line of progress figures every LOGSTATS_INTERVAL seconds (PERIODIC_LOG_* above)
    "scrapy.extensions.periodic_log.PeriodicLog": 0,
    # JOBDIR only: discards the queue/seen-list a killed run left behind; see extensions/jobdir.py
    "gongkai_spider.extensions.jobdir.JobDirGuard": 0,
    # the completeness ledger: articles not stored yet, retried by the next runs; see extensions/ledger.py
    "gongkai_spider.extensions.ledger.PendingLedger": 400,
}

# GONGKAI_PENDING_ENABLED: keep the completeness ledger (collection/table `pending`): article URLs a listing
# showed that could not be stored, retried first by the next runs. Default: on. Env: GONGKAI_PENDING.
GONGKAI_PENDING_ENABLED = _env_bool("GONGKAI_PENDING", True)
# GONGKAI_PENDING_GIVE_UP_RUNS: a pending article that failed in this many runs is given up (kept in the ledger
# as given up, named in the log, alert `gave_up`). Between tries it waits 0, 1, 3, 7 ... runs.
# 0 = never give up. Default: 5. Env: GONGKAI_PENDING_GIVE_UP_RUNS.
GONGKAI_PENDING_GIVE_UP_RUNS = _env_int("GONGKAI_PENDING_GIVE_UP_RUNS", 5)
# GONGKAI_FAILED_SHARE_ALERT: the run raises the `failed_articles` alert (exit 3) when more than this share of
# its article fetches failed (fetch error, blocked, no article, dropped). Default: 0.1. Env: GONGKAI_FAILED_SHARE_ALERT.
GONGKAI_FAILED_SHARE_ALERT = _env_float("GONGKAI_FAILED_SHARE_ALERT", 0.1)

# GONGKAI_INCREMENTAL_ENABLED: skip articles already stored (articles or quarantine). `-a refresh=1` refetches
# them for one run instead. Default: on. Env: GONGKAI_INCREMENTAL.
GONGKAI_INCREMENTAL_ENABLED = _env_bool("GONGKAI_INCREMENTAL", True)
# GONGKAI_STOP_AFTER_KNOWN: stop following a column's listing pages after this many consecutive known or
# older-than-`since` items (pinned items on page 1 do not count). 0 = always page to the end.
# Default: 10 (half a typical 20-item listing page). Env: GONGKAI_STOP_AFTER_KNOWN.
GONGKAI_STOP_AFTER_KNOWN = _env_int("GONGKAI_STOP_AFTER_KNOWN", 10)

# GONGKAI_BLOCKED_ENABLED: recognise anti-bot challenges (HTTP 412/521 scripts, wzws/jsl WAF pages), back off,
# retry, then drop the page. Default: on.
GONGKAI_BLOCKED_ENABLED = True
# GONGKAI_BLOCKED_RETRY_TIMES: retries of a challenged page before giving up on it. Default: 3.
# Env: GONGKAI_BLOCKED_RETRY_TIMES.
GONGKAI_BLOCKED_RETRY_TIMES = _env_int("GONGKAI_BLOCKED_RETRY_TIMES", 3)
# GONGKAI_BLOCKED_MIN_DELAY: each challenge doubles the site's download delay, starting from at least this many
# seconds, up to AUTOTHROTTLE_MAX_DELAY. Default: 2.0.
GONGKAI_BLOCKED_MIN_DELAY = 2.0

# GONGKAI_MONITOR_ENABLED: per-site summary block at close, coverage history and alerts. Default: on.
GONGKAI_MONITOR_ENABLED = True
# GONGKAI_RUN_HISTORY: per-site run history (coverage of each field, how the last run ended), `{site}` is
# replaced by the site id; "off" = keep none (no coverage-drop alerts, no full walk after a killed run).
# Default: "" = runs/{site}.json beside GONGKAI_DB (data/runs/{site}.json). Env: GONGKAI_RUN_HISTORY.
GONGKAI_RUN_HISTORY = os.environ.get("GONGKAI_RUN_HISTORY", "")
# GONGKAI_RUN_HISTORY_SIZE: runs kept per site. Default: 20.
GONGKAI_RUN_HISTORY_SIZE = 20
# Coverage-drop alert: a field's coverage below GONGKAI_COVERAGE_DROP_RATIO x its median over earlier runs,
# judged only with >= GONGKAI_COVERAGE_MIN_ITEMS items in this run and >= GONGKAI_COVERAGE_MIN_RUNS earlier runs
# of that size, for fields whose median is >= GONGKAI_COVERAGE_MIN_BASELINE. Defaults: 0.5, 20, 2, 0.2.
GONGKAI_COVERAGE_DROP_RATIO = _env_float("GONGKAI_COVERAGE_DROP_RATIO", 0.5)
GONGKAI_COVERAGE_MIN_ITEMS = _env_int("GONGKAI_COVERAGE_MIN_ITEMS", 20)
GONGKAI_COVERAGE_MIN_RUNS = _env_int("GONGKAI_COVERAGE_MIN_RUNS", 2)
GONGKAI_COVERAGE_MIN_BASELINE = 0.2
# GONGKAI_STATS_FILE: write the crawl stats as JSON to this file every GONGKAI_PROGRESS_INTERVAL seconds during
# the run and at close (final: alerts included, `finish_reason` set), for schedulers and dashboards.
# "" = off. Default: off. Env: GONGKAI_STATS_FILE.
GONGKAI_STATS_FILE = os.environ.get("GONGKAI_STATS_FILE", "")
# GONGKAI_PROGRESS_INTERVAL: seconds between progress updates of a run: per-site pages and items, pages per second
# (gongkai/site/<site>/{pages,items}, gongkai/progress/pages_per_second) set in the stats, logged by Scrapy's
# PeriodicLog below, and GONGKAI_STATS_FILE rewritten. 0 = off. Default: 60. Env: GONGKAI_PROGRESS_INTERVAL.
GONGKAI_PROGRESS_INTERVAL = _env_float("GONGKAI_PROGRESS_INTERVAL", 60.0)
# Scrapy's PeriodicLog: every LOGSTATS_INTERVAL seconds one INFO line with the run's figures so far (per site:
# pages, items, store outcomes, failures, pending) and their change since the last line.
LOGSTATS_INTERVAL = GONGKAI_PROGRESS_INTERVAL or 60.0
PERIODIC_LOG_STATS = {"include": ["gongkai/site/", "gongkai/progress/", "gongkai/fetch/failed/",
                                  "gongkai/pending/", "gongkai/alert"]}
PERIODIC_LOG_DELTA = {"include": ["gongkai/site/", "gongkai/detail/items", "gongkai/listing/pages",
                                  "gongkai/store/"]}
PERIODIC_LOG_TIMING_ENABLED = True

# ---------------------------------------------------------------------------------------------------------
# Alert messages: one per run with alerts, by e-mail and webhooks (extensions/notify.py; README "Alerts")
# ---------------------------------------------------------------------------------------------------------

# GONGKAI_ALERT_MAIL_TO: comma-separated addresses mailed through Scrapy's MailSender (MAIL_* below). "" = no mail.
# Default: "". Env: GONGKAI_ALERT_MAIL_TO.
GONGKAI_ALERT_MAIL_TO = os.environ.get("GONGKAI_ALERT_MAIL_TO", "")
# GONGKAI_ALERT_WEBHOOKS: comma-separated KIND=URL, KIND one of wecom (企业微信), dingtalk (钉钉), feishu (飞书),
# json (plain JSON POST). "" = none. Default: "". Env: GONGKAI_ALERT_WEBHOOKS.
GONGKAI_ALERT_WEBHOOKS = os.environ.get("GONGKAI_ALERT_WEBHOOKS", "")
# GONGKAI_ALERT_DINGTALK_SECRET / GONGKAI_ALERT_FEISHU_SECRET: signing secrets of the robots ("加签"), when the
# robot has one. Default: "". Env: the same names.
GONGKAI_ALERT_DINGTALK_SECRET = os.environ.get("GONGKAI_ALERT_DINGTALK_SECRET", "")
GONGKAI_ALERT_FEISHU_SECRET = os.environ.get("GONGKAI_ALERT_FEISHU_SECRET", "")
# GONGKAI_ALERT_ON: "alert" = message only for runs with alerts (or a configuration error); "always" = every run.
# Default: alert. Env: GONGKAI_ALERT_ON.
GONGKAI_ALERT_ON = os.environ.get("GONGKAI_ALERT_ON", "alert")
# Scrapy's mail settings, from the environment (Scrapy's defaults otherwise): the SMTP server the alert mail uses.
MAIL_HOST = os.environ.get("MAIL_HOST", "localhost")
MAIL_PORT = _env_int("MAIL_PORT", 25)
MAIL_FROM = os.environ.get("MAIL_FROM", "gongkai-spider@localhost")
MAIL_USER = os.environ.get("MAIL_USER") or None
MAIL_PASS = os.environ.get("MAIL_PASS") or None
MAIL_TLS = _env_bool("MAIL_TLS", False)
MAIL_SSL = _env_bool("MAIL_SSL", False)

# ---------------------------------------------------------------------------------------------------------
# Distributed crawling (scrapy-redis): N workers share one frontier in Redis; see docs/SCALING.md
# ---------------------------------------------------------------------------------------------------------

# REDIS_URL: the Redis every worker of a crawl connects to. Set -> the request queue and the duplicate filter
# live in Redis and any number of `scrapy crawl gongkai -a site=NAME` processes, on any machines, share them
# (needs `pip install 'gongkai-spider[redis]'`). `-s REDIS_URL=...` works too.
# Default: unset (one process, Scrapy's own scheduler). Env: REDIS_URL.
REDIS_URL = os.environ.get("REDIS_URL", "")
# SCHEDULER: Scrapy's scheduler, or gongkai_spider.distributed.redis_scheduler.RedisScheduler when REDIS_URL
# is set (decided per crawl, see gongkai_spider/distributed/__init__.py).
SCHEDULER = "gongkai_spider.distributed.Scheduler"
# GONGKAI_REDIS_KEY_PREFIX: prefix of one crawl's keys (<prefix>:requests, :dupefilter, :workers, :seq);
# %(site)s is the site id, %(spider)s the spider name. Workers of one site share a frontier, sites never mix.
# Default: gongkai:%(site)s. Env: GONGKAI_REDIS_KEY_PREFIX.
GONGKAI_REDIS_KEY_PREFIX = os.environ.get("GONGKAI_REDIS_KEY_PREFIX", "gongkai:%(site)s")
# GONGKAI_REDIS_IDLE_POLL: seconds between checks of the shared queue while a worker has nothing to do (it
# stays open until the queue is empty and no worker is busy). 0 = only Scrapy's 5 s idle retry.
# Default: 0.5. Env: GONGKAI_REDIS_IDLE_POLL.
GONGKAI_REDIS_IDLE_POLL = _env_float("GONGKAI_REDIS_IDLE_POLL", 0.5)
# GONGKAI_REDIS_WORKER_TTL: seconds after which a busy worker that stopped reporting (killed, frozen) no
# longer keeps the other workers open. Busy workers report every TTL/4. Default: 60. Env: GONGKAI_REDIS_WORKER_TTL.
GONGKAI_REDIS_WORKER_TTL = _env_float("GONGKAI_REDIS_WORKER_TTL", 60.0)
# SCHEDULER_FLUSH_ON_START: discard whatever this site's crawl left in Redis (queue, duplicate filter) when the
# worker starts. Only for one worker started alone: with several, a late one would wipe the others' queue.
# Default: off (unfinished crawls resume). Env: GONGKAI_REDIS_FLUSH_ON_START.
SCHEDULER_FLUSH_ON_START = _env_bool("GONGKAI_REDIS_FLUSH_ON_START", False)
