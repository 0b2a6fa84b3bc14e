"""Site configs: validated at load with every problem at once (JSON Schema + compiled selectors), refused when
oversized or aliased, found by the same lookup everywhere, listed by ``gongkai sites``; per-site crawl settings;
an override selector that never matches raises an alert (issue 15 items 3 and 4, issue 9 item 10)."""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml
from crawl_support import REPO, html, portal_handler, run_scrapy, scrapy_env, serve

from gongkai_spider.demo import build_portal
from gongkai_spider.errors import SiteConfigError, SiteConfigMissing
from gongkai_spider.sites import MAX_CONFIG_BYTES, available_sites, load_site, parse_site

pytestmark = pytest.mark.timeout(180)

GOOD = "start_urls: [http://www.example.gov.cn/xxgk/]\n"


# ------------------------------------------------------------------------------------------ validation


def test_bundled_configs_are_valid_against_the_shipped_schema():
    schema = json.loads(resources.files("gongkai_spider.sites").joinpath("site.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    for name in available_sites():
        text = resources.files("gongkai_spider.sites").joinpath(f"{name}.yaml").read_text("utf-8")
        jsonschema.validate(yaml.safe_load(text), schema)
        assert load_site(name).start_urls


def test_every_problem_is_reported_at_once_with_its_key(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("start_urls: []\nmax_page: 3\nlisting: {links: 'ul.list li a[', nxt: 'a'}\n"
                    "detail: {body: '//div[@id=\"c\"', titel: h1, author: 3}\n"
                    "settings: {encoding: no-such-codec, concurrency: 0}\n", encoding="utf-8")
    with pytest.raises(SiteConfigError) as caught:
        load_site("broken", tmp_path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert "\n" not in message
    for expected in ("start_urls:", "unknown key(s) max_page", "listing: unknown key(s) nxt",
                     "detail: unknown key(s) titel", "detail.author: 3 is not of type 'string'",
                     "listing.links: CSS selector 'ul.list li a[' does not compile",
                     "detail.body: XPATH selector '//div[@id=\"c\"' does not compile",
                     "settings.encoding: unknown encoding 'no-such-codec'", "settings.concurrency"):
        assert expected in message, (expected, message)


def test_an_xpath_that_compiles_but_cannot_run_is_refused():
    with pytest.raises(SiteConfigError, match=r"detail.title: XPATH selector 'no-such-fn\(//h1\)'"):
        parse_site(GOOD + "detail: {title: 'xpath:no-such-fn(//h1)'}\n", name="x")


def test_robots_off_needs_a_reason():
    with pytest.raises(SiteConfigError, match="'robots_reason' is a required property"):
        parse_site(GOOD + "settings: {obey_robots: false}\n", name="x")
    site = parse_site(GOOD + "settings: {obey_robots: false, robots_reason: 'written permission 2024-05'}\n",
                      name="x")
    assert site.settings.obey_robots is False


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    bomb = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
            + "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi",
                                                                                    strict=True))
            + "start_urls: [*i]\n")
    assert 400 <= len(bomb.encode()) <= 450  # the classic ~414-byte billion laughs
    (tmp_path / "bomb.yaml").write_text(bomb, encoding="utf-8")
    started = time.process_time()
    with pytest.raises(SiteConfigError, match="YAML aliases are not allowed"):
        load_site("bomb", tmp_path)
    assert time.process_time() - started < 1.0


def test_an_oversized_config_is_refused(tmp_path):
    (tmp_path / "big.yaml").write_text(GOOD + "title: '" + "x" * MAX_CONFIG_BYTES + "'\n", encoding="utf-8")
    with pytest.raises(SiteConfigError, match="byte limit of a site config"):
        load_site("big", tmp_path)
    with pytest.raises(SiteConfigError, match="byte limit of a site config"):
        parse_site(GOOD + "#" * MAX_CONFIG_BYTES, name="x")


def test_not_utf8_and_not_a_mapping(tmp_path):
    (tmp_path / "gbk.yaml").write_bytes(GOOD.encode() + "title: 财政部\n".encode("gbk"))
    with pytest.raises(SiteConfigError, match="not UTF-8"):
        load_site("gbk", tmp_path)
    with pytest.raises(SiteConfigError, match=r"\(top\): \['a'\] is not of type 'object'"):
        parse_site("- a\n", name="x")


def test_unknown_site_is_the_missing_error():
    with pytest.raises(SiteConfigMissing, match="no site config 'nope'"):
        load_site("nope")


# ------------------------------------------------------------------------------------------ one lookup


def _gongkai(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GONGKAI_", "MONGO_"))}
    env.update({"PYTHONPATH": str(REPO), **env_extra})
    return subprocess.run([sys.executable, "-m", "gongkai_spider.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_gongkai_extract_finds_a_config_in_the_sites_dir(tmp_path):
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "local.yaml").write_text(GOOD + "detail: {author: 'span.writer'}\n", encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>关于开展安全检查的通知</title></head><body><h1>关于开展安全检查的通知</h1>"
                    "<span class='writer'>郑晓岚</span><div class='content'><p>" + "各单位要认真开展安全检查。" * 20
                    + "</p></div></body></html>", encoding="utf-8")
    proc = _gongkai(["extract", str(page), "--url", "http://www.example.gov.cn/xxgk/1.html", "--site", "local"],
                    {"GONGKAI_SITES_DIR": str(sites)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["author"] == "郑晓岚"
    missing = _gongkai(["extract", str(page), "--site", "local"], {}, tmp_path)
    assert missing.returncode == 2 and "no site config 'local'" in missing.stderr


def test_gongkai_sites_lists_both_folders_and_flags_invalid_configs(tmp_path):
    sites = tmp_path / "sites"
    sites.mkdir()
    (sites / "local.yaml").write_text(GOOD, encoding="utf-8")
    (sites / "broken.yaml").write_text(GOOD + "listing: {links: 'a['}\n", encoding="utf-8")
    env = {"GONGKAI_SITES_DIR": str(sites), "GONGKAI_DB": str(tmp_path / "store.sqlite3")}
    proc = _gongkai(["sites", "--json"], env, tmp_path)
    assert proc.returncode == 2
    entries = {e["site"]: e for e in json.loads(proc.stdout)}
    assert {"local", "broken", "demo", "mof"} <= set(entries)
    assert entries["local"]["problem"] is None and entries["local"]["file"] == str(sites / "local.yaml")
    assert "listing.links: CSS selector 'a['" in entries["broken"]["problem"]
    table = _gongkai(["sites"], env, tmp_path).stdout
    assert "INVALID" in table and "never" in table


# ------------------------------------------------------------------------------------------ crawls


def _config(sites: Path, name: str, base: str, extra: str = "") -> None:
    sites.mkdir(exist_ok=True)
    (sites / f"{name}.yaml").write_text(f"name: {name}\nstart_urls: [{base}/zwgk/tzgg/index.html]\n{extra}",
                                        encoding="utf-8")


def test_gongkai_sites_shows_the_last_run(tmp_path):
    portal = build_portal({"trs": 4})
    sites = tmp_path / "sites"
    with serve({}, default=portal_handler(portal)) as server:
        _config(sites, "local", server.base)
        env = scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites))
        result = run_scrapy(["crawl", "gongkai", "-a", "site=local"], tmp_path, env=env)
    assert result.returncode == 0, result.log[-3000:]
    proc = _gongkai(["sites", "--json"], {k: env[k] for k in ("GONGKAI_SITES_DIR", "GONGKAI_DB",
                                                            "GONGKAI_RUN_HISTORY")}, tmp_path)
    entry = {e["site"]: e for e in json.loads(proc.stdout)}["local"]
    run = entry["last_run"]
    assert entry["pending"] == {"pending": 0, "given_up": 0}
    assert run["exit_status"] == 0 and run["new"] == 4 and run["failed"] == 0 and run["alerts"] == []
    assert run["coverage"]["title"] == 1.0 and run["reason"] == "finished"


def test_an_override_that_never_matches_raises_an_alert(tmp_path):
    portal = build_portal({"trs": 4})
    sites = tmp_path / "sites"
    with serve({}, default=portal_handler(portal)) as server:
        _config(sites, "local", server.base, "detail: {author: 'div.no-such-byline', body: 'div.TRS_Editor'}\n")
        env = scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites))
        result = run_scrapy(["crawl", "gongkai", "-a", "site=local"], tmp_path, env=env)
    assert result.returncode == 3, result.log[-3000:]
    assert result.stats["gongkai/override/detail.author/missed"] == 4
    assert result.stats["gongkai/override/detail.body/matched"] == 4
    assert result.stats["gongkai/alert/override_unmatched"] == 1
    assert "detail.author (tried on 4 page(s))" in result.log and "detail.body (" not in result.log


def test_an_invalid_config_ends_the_crawl_before_fetching(tmp_path):
    sites = tmp_path / "sites"
    with serve({}, default=html("<html></html>")) as server:
        _config(sites, "broken", server.base, "listing: {links: 'a['}\n")
        result = run_scrapy(["crawl", "gongkai", "-a", "site=broken"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites)))
        assert server.seen == []
    assert result.returncode == 2  # a configuration error
    assert result.stats["finish_reason"] == "site_config_invalid"
    assert "listing.links: CSS selector 'a['" in result.log


def _timed(portal) -> tuple:
    times: list[tuple[float, str]] = []
    lock = threading.Lock()
    inner = portal_handler(portal)

    def handler(seen):
        with lock:
            times.append((time.monotonic(), seen.path))
        return inner(seen)
    return handler, times


def test_per_site_headers_cookies_delay_and_concurrency(tmp_path):
    portal = build_portal({"trs": 6})
    sites = tmp_path / "sites"
    handler, times = _timed(portal)
    with serve({}, default=handler, delay=0.05) as server:
        _config(sites, "polite", server.base,
                "settings:\n  download_delay: 0.4\n  concurrency: 1\n"
                "  headers: {X-Contact: ops@example.org}\n  cookies: {SESSION: abc123}\n")
        result = run_scrapy(["crawl", "gongkai", "-a", "site=polite"], tmp_path,
                            env=scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites)))
        seen = [s for s in server.seen if s.path != "/robots.txt"]
    assert result.returncode == 0, result.log[-3000:]
    assert seen and all(s.headers.get("x-contact") == "ops@example.org" for s in seen)
    assert all("SESSION=abc123" in s.headers.get("cookie", "") for s in seen)
    starts = [t for t, path in times if path != "/robots.txt"]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # jitter is 0.5..1.5 x the delay; Scrapy's default download delay here is 0 (scrapy_env)
    assert len(gaps) >= 6 and min(gaps) >= 0.4 * 0.5 - 0.02, gaps
    assert sum(gaps) / len(gaps) >= 0.3, gaps


def test_a_forced_encoding_beats_a_wrong_declaration(tmp_path):
    # Big5 bytes declared as GBK decode without a single error into other characters: only a forced encoding
    # gets the text back.
    title = "關於公布行政許可事項清單的通知"
    article = (f"<html><head><meta charset='gbk'><title>{title}</title></head><body><h1>{title}</h1>"
               "<p>發布時間：2024-05-20</p><div class='content'><p>" + "行政許可事項清單已經審定。" * 20
               + "</p></div></body></html>").encode("big5")
    listing = ("<html><body><ul class='list'>"
               + "".join(f"<li><a href='/a/{n}.html'>{title}{n}</a><span>2024-05-20</span></li>"
                         for n in range(3)) + "</ul></body></html>")
    routes = {"/index.html": html(listing), **{f"/a/{n}.html": html(article, charset="gbk") for n in range(3)}}
    sites = tmp_path / "sites"
    sites.mkdir()
    for name, extra in (("declared", ""), ("forced", "settings: {encoding: big5}\n")):
        with serve(routes) as server:
            (sites / f"{name}.yaml").write_text(f"start_urls: [{server.base}/index.html]\n{extra}", encoding="utf-8")
            env = scrapy_env(tmp_path / name, GONGKAI_SITES_DIR=str(sites))
            result = run_scrapy(["crawl", "gongkai", "-a", f"site={name}"], tmp_path / name, env=env)
        with sqlite3.connect(tmp_path / name / "store.sqlite3") as db:
            titles = [json.loads(d)["title"] for (d,) in db.execute("select doc from articles")]
        if name == "forced":
            assert titles == [title] * 3, result.log[-2000:]
        else:
            assert titles and title not in titles  # the control: the declared GBK garbles it


def test_robots_off_for_one_site_with_its_reason_logged(tmp_path):
    portal = build_portal({"trs": 3})
    handler = portal_handler(portal)
    routes = {"/robots.txt": (200, [("Content-Type", "text/plain")], b"User-agent: *\nDisallow: /zwgk/\n")}
    sites = tmp_path / "sites"
    outcomes = {}
    for name, extra in (("obeying", ""),
                        ("permitted", "settings: {obey_robots: false, robots_reason: 'written permission 2024-05'}\n")):
        with serve(routes, default=handler) as server:
            _config(sites, name, server.base, extra)
            result = run_scrapy(["crawl", "gongkai", "-a", f"site={name}"], tmp_path / name,
                                env=scrapy_env(tmp_path / name, GONGKAI_SITES_DIR=str(sites)))
            outcomes[name] = (result, [s.path for s in server.seen])
    _obeying, paths = outcomes["obeying"]
    assert not any(p.startswith("/zwgk/") for p in paths)
    permitted, paths = outcomes["permitted"]
    assert sum(p.startswith("/zwgk/tzgg/2") for p in paths) >= 3 and permitted.stats["gongkai/store/new"] == 3
    assert "robots.txt not obeyed (written permission 2024-05)" in permitted.log


def test_gongkai_sites_shows_pending_articles_from_the_ledger(tmp_path):
    portal = build_portal({"trs": 4})
    sites = tmp_path / "sites"
    broken = next(p for p in portal.pages if p.startswith("/zwgk/tzgg/2") and p.rsplit(".", 1)[0][-2:-1] != "_")
    with serve({broken: (503, [("Content-Type", "text/html")], b"busy")}, default=portal_handler(portal)) as server:
        _config(sites, "local", server.base)
        env = scrapy_env(tmp_path, GONGKAI_SITES_DIR=str(sites))
        result = run_scrapy(["crawl", "gongkai", "-a", "site=local"], tmp_path, env=env)
    assert result.returncode == 3, result.log[-3000:]
    proc = _gongkai(["sites"], {k: env[k] for k in ("GONGKAI_SITES_DIR", "GONGKAI_DB", "GONGKAI_RUN_HISTORY")},
                    tmp_path)
    row = next(line for line in proc.stdout.splitlines() if line.startswith("local "))
    assert " 1 (0) " in row and " 3 " in row, proc.stdout
