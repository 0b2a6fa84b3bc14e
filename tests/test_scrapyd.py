"""scrapyd deploys and runs the project (issue 15 item 1): the egg is built the way ``scrapyd-deploy
--build-egg`` builds it, a real ``scrapyd`` (pip) runs on 127.0.0.1 with a free port and its own folders, the
egg goes in through ``addversion.json``, ``schedule.json`` starts a crawl of a local portal and the job finishes
with the articles in the store.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from crawl_support import REPO

pytest.importorskip("scrapyd")
pytest.importorskip("scrapyd_client")
pytestmark = pytest.mark.timeout(240)

PROJECT = "gongkai_spider"  # scrapy.cfg [deploy] project


def _clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_", "SCRAPY_", "REDIS_URL"))}
    env.update({"HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"})
    return env


def build_egg(tmp_path: Path) -> Path:
    """``scrapyd-deploy --build-egg`` on a copy of the project (it writes setup.py and build/ where it runs)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "scrapy.cfg", "README.md"):
        shutil.copy(REPO / name, src / name)
    for package in ("gongkai_spider", "pipelines"):
        shutil.copytree(REPO / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    egg = tmp_path / "gongkai.egg"
    subprocess.run([sys.executable, "-c", "import sys; from scrapyd_client.deploy import main; "
                    "sys.argv = ['scrapyd-deploy', '--build-egg', sys.argv[1]]; main()", str(egg)],
                   cwd=src, env=_clean_env(tmp_path), check=True, capture_output=True, timeout=120)
    return egg


def test_the_egg_names_the_settings_module(tmp_path):
    (tmp_path / "home").mkdir()
    egg = build_egg(tmp_path)
    with zipfile.ZipFile(egg) as archive:
        entry_points = archive.read("EGG-INFO/entry_points.txt").decode()
        names = set(archive.namelist())
    assert "[scrapy]\nsettings = gongkai_spider.settings" in entry_points
    assert {"gongkai_spider/sites/demo.yaml", "pipelines/spam_data/brands_strong.txt",
            "gongkai_spider/settings.py"} <= names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(base: str, endpoint: str, data: dict | list | None = None) -> dict:
    if data is None:
        request = urllib.request.Request(f"{base}/{endpoint}")
    else:
        request = urllib.request.Request(f"{base}/{endpoint}", data=urllib.parse.urlencode(data).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _add_version(base: str, egg: Path, version: str) -> dict:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in (("project", PROJECT), ("version", version)):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="egg"; filename="{egg.name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + egg.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(f"{base}/addversion.json", data=b"".join(parts),
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


@pytest.fixture
def scrapyd(tmp_path: Path) -> Iterator[str]:
    home = tmp_path / "scrapyd"
    home.mkdir()
    (tmp_path / "home").mkdir(exist_ok=True)
    port = _free_port()
    (home / "scrapyd.conf").write_text(
        "[scrapyd]\n"
        f"bind_address = 127.0.0.1\nhttp_port = {port}\npoll_interval = 0.5\n"
        f"eggs_dir = {home / 'eggs'}\nlogs_dir = {home / 'logs'}\ndbs_dir = {home / 'dbs'}\nitems_dir =\n",
        encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "scrapyd"], cwd=home, env=_clean_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _call(base, "daemonstatus.json")["status"] == "ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"scrapyd did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_scrapyd_deploys_schedules_and_the_crawl_stores_the_articles(tmp_path, scrapyd, portal_server):
    portal, portal_url = portal_server({"seed": 4, "trs": 4, "hanweb": 4})
    egg = build_egg(tmp_path)
    added = _add_version(scrapyd, egg, "r1")
    assert added["status"] == "ok" and added["spiders"] == 1, added
    assert _call(scrapyd, f"listspiders.json?project={PROJECT}")["spiders"] == ["gongkai"]

    store = tmp_path / "store.sqlite3"
    stats_file = tmp_path / "stats.json"
    settings = {"GONGKAI_DB": store, "GONGKAI_RUN_HISTORY": tmp_path / "runs" / "{site}.json",
                "GONGKAI_SPOOL_DIR": tmp_path / "spool", "GONGKAI_STATS_FILE": stats_file,
                "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": 0}
    job = _call(scrapyd, "schedule.json", [("project", PROJECT), ("spider", "gongkai"), ("site", "demo"),
                                           ("base_url", portal_url),
                                           *(("setting", f"{k}={v}") for k, v in settings.items())])
    assert job["status"] == "ok", job

    deadline = time.monotonic() + 150
    while True:
        jobs = _call(scrapyd, f"listjobs.json?project={PROJECT}")
        if any(j["id"] == job["jobid"] for j in jobs["finished"]):
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.5)

    log = next((tmp_path / "scrapyd" / "logs").rglob(f"{job['jobid']}.log")).read_text(encoding="utf-8")
    assert "'finish_reason': 'finished'" in log, log[-3000:]
    with sqlite3.connect(store) as db:
        stored = db.execute("SELECT COUNT(*) FROM articles").fetchone()[0]
    assert stored == len(portal.expected), log[-3000:]
    assert json.loads(stats_file.read_text(encoding="utf-8"))["gongkai/store/new"] == stored
