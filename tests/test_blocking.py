"""Politeness and anti-bot handling (issue 5, part 2).

* The project settings obey robots.txt, throttle, cap per-domain concurrency and name the project and a
  configurable contact in the User-Agent.
* Challenge pages (412/521 scripts, wzws/jsl WAF pages, cookie-and-reload pages; fixtures in
  tests/fixtures/blocked/) are recognised, counted, backed off, retried with the cookie and never parsed as pages.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from crawl_support import FIXTURES, REPO, html, run_scrapy, scrapy_env, serve
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from gongkai_spider import settings as project_settings
from gongkai_spider.middlewares.blocking import BlockedMiddleware, classify_challenge, literal_cookies

BLOCKED = FIXTURES / "blocked"
CASES = json.loads((BLOCKED / "cases.json").read_text(encoding="utf-8"))
PROBE = str(BLOCKED / "probe_spider.py")


# --- settings -------------------------------------------------------------------------------------------


def test_politeness_settings_are_on_by_default():
    s = Settings()
    s.setmodule(project_settings)
    assert s.getbool("ROBOTSTXT_OBEY") is True
    assert s.getbool("AUTOTHROTTLE_ENABLED") is True
    assert 1 <= s.getint("CONCURRENT_REQUESTS_PER_DOMAIN") <= 4
    assert s.getfloat("DOWNLOAD_DELAY") > 0
    assert s.getfloat("AUTOTHROTTLE_MAX_DELAY") >= 10
    assert s.get("USER_AGENT").startswith("gongkai-spider/")
    assert s.get("GONGKAI_CONTACT") in s.get("USER_AGENT")
    assert s.getdict("DOWNLOADER_MIDDLEWARES")["gongkai_spider.middlewares.blocking.BlockedMiddleware"] < 590


def test_contact_in_user_agent_comes_from_the_environment():
    env = scrapy_env(REPO, GONGKAI_CONTACT="mailto:crawl-ops@example.org")
    out = subprocess.run([sys.executable, "-m", "scrapy", "settings", "--get", "USER_AGENT"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "gongkai-spider/0.1 (mailto:crawl-ops@example.org)"


# --- recognising challenges -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_classify_challenge_fixtures(name):
    case = CASES[name]
    body = (BLOCKED / name).read_bytes()
    assert classify_challenge(case["status"], case["set_cookie"], body) == case["expected"]


def test_plain_error_statuses_are_not_challenges():
    # A bare 521 ("origin down") without script or cookie is an ordinary error; big pages are never scanned.
    assert classify_challenge(521, [], b"<html><body>Web server is down</body></html>") is None
    assert classify_challenge(200, [], b"<script>document.cookie='a=b';location.reload()</script>" + b" " * 40_000) is None


def test_literal_cookies_of_a_challenge_script():
    assert literal_cookies((BLOCKED / "cookie_reload.html").read_bytes()) == {"gk_verify": "passed"}
    # Computed cookies (string concatenation) cannot be known without running the script.
    assert literal_cookies((BLOCKED / "521_jsl.html").read_bytes()) == {}


# --- the middleware on fake responses ----------------------------------------------------------------------


class FakeSlot:
    def __init__(self, delay: float) -> None:
        self.delay = delay


def _middleware(retry_times: int = 2):
    crawler = get_crawler(settings_dict={"GONGKAI_BLOCKED_RETRY_TIMES": retry_times, "GONGKAI_BLOCKED_MIN_DELAY": 2.0,
                                         "AUTOTHROTTLE_MAX_DELAY": 5.0})
    crawler.stats.open_spider()
    mw = BlockedMiddleware.from_crawler(crawler)
    slot = FakeSlot(0.5)
    mw._slots = {"gov.example": slot}
    return mw, crawler.stats, slot


def _challenge(request: Request) -> HtmlResponse:
    body = (BLOCKED / "412_challenge.html").read_bytes()
    return HtmlResponse(request.url, status=412, body=body, request=request,
                        headers={"Set-Cookie": "FSSBBIl1UgzbN7N80S=abc; Path=/"})


def test_challenge_is_retried_with_backoff_then_ignored(caplog):
    mw, stats, slot = _middleware(retry_times=2)
    request = Request("http://gov.example/art/2024/5/24/art_1_1.html", meta={"download_slot": "gov.example"})
    retry = mw.process_response(request, _challenge(request))
    assert isinstance(retry, Request) and retry.dont_filter and retry.url == request.url
    assert retry.meta["gongkai_blocked_retries"] == 1
    assert slot.delay == 2.0  # doubled, but at least GONGKAI_BLOCKED_MIN_DELAY
    retry2 = mw.process_response(retry, _challenge(retry))
    assert retry2.meta["gongkai_blocked_retries"] == 2
    assert slot.delay == 4.0
    with pytest.raises(IgnoreRequest, match="blocked_412"):
        mw.process_response(retry2, _challenge(retry2))
    assert slot.delay == 5.0  # capped at AUTOTHROTTLE_MAX_DELAY
    assert stats.get_value("gongkai/blocked/412") == 3
    assert stats.get_value("gongkai/blocked/retry") == 2
    assert stats.get_value("gongkai/blocked/gave_up") == 1
    assert "giving up" in caplog.text and request.url in caplog.text


def test_literal_cookie_is_sent_with_the_retry():
    mw, _stats, _slot = _middleware()
    request = Request("http://gov.example/col/col1/index.html", meta={"download_slot": "gov.example"})
    response = HtmlResponse(request.url, body=(BLOCKED / "cookie_reload.html").read_bytes(), request=request)
    retry = mw.process_response(request, response)
    assert retry.cookies == {"gk_verify": "passed"}


def test_ordinary_pages_pass_untouched():
    mw, stats, slot = _middleware()
    request = Request("http://gov.example/a.html", meta={"download_slot": "gov.example"})
    response = HtmlResponse(request.url, body=(BLOCKED / "article_with_cookie_script.html").read_bytes(),
                            request=request)
    assert mw.process_response(request, response) is response
    assert slot.delay == 0.5
    assert not any(k.startswith("gongkai/blocked") for k in stats.get_stats())


# --- a real crawl against a local server ---------------------------------------------------------------------

ARTICLE = "<html><body><h1>政务公开</h1><p>" + "正文内容。" * 60 + "</p></body></html>"


def _cookie_gate(cookie: str, challenge) -> object:
    """Serve the challenge until the request carries ``cookie``, then the article."""
    def handler(seen):
        return html(ARTICLE) if cookie in seen.headers.get("cookie", "") else challenge
    return handler


def test_crawl_passes_challenges_backs_off_and_obeys_robots(tmp_path):
    challenge_412 = html((BLOCKED / "412_challenge.html").read_bytes(), status=412,
                         extra=[("Set-Cookie", "FSSBBIl1UgzbN7N80S=tok412; Path=/")])
    routes = {
        "/robots.txt": (200, [("Content-Type", "text/plain")], b"User-agent: *\nDisallow: /private/\n"),
        "/gated-412.html": _cookie_gate("FSSBBIl1UgzbN7N80S=tok412", challenge_412),
        "/gated-js.html": _cookie_gate("gk_verify=passed", html((BLOCKED / "cookie_reload.html").read_bytes())),
        "/always-521.html": html((BLOCKED / "521_jsl.html").read_bytes(), status=521,
                                 extra=[("Set-Cookie", "__jsluid_s=6f1c; path=/")]),
        "/private/secret.html": html(ARTICLE),
    }
    env = scrapy_env(tmp_path, GONGKAI_CONTACT="mailto:crawl-ops@example.org")
    with serve(routes) as server:
        paths = "/gated-412.html,/gated-js.html,/always-521.html,/private/secret.html"
        result = run_scrapy(["runspider", PROBE, "-a", f"base={server.base}", "-a", f"paths={paths}",
                             "-s", "GONGKAI_BLOCKED_MIN_DELAY=0.2", "-s", "AUTOTHROTTLE_MAX_DELAY=0.4"],
                            tmp_path, env=env)
        seen = list(server.seen)
    stats = result.stats
    assert stats, result.log[-3000:]
    parsed = sorted(u.rsplit("/", 1)[1] for u in stats.get("probe/parsed", []))
    # The gated pages were parsed once each, after the challenge; the always-blocked one and the robots.txt
    # disallowed one never reached the spider.
    assert parsed == ["gated-412.html", "gated-js.html"], result.log[-3000:]
    assert "正文内容" in stats[f"probe/body/{server.base}/gated-412.html"]
    assert stats["gongkai/blocked/412"] == 1
    assert stats["gongkai/blocked/waf"] == 1
    assert stats["gongkai/blocked/521"] == 4  # first answer + 3 retries (GONGKAI_BLOCKED_RETRY_TIMES)
    assert stats["gongkai/blocked/gave_up"] == 1
    assert 0.2 <= stats["gongkai/blocked/max_delay"] <= 0.4
    assert stats["robotstxt/forbidden"] == 1
    assert not any(s.path.startswith("/private/") for s in seen)
    assert all(s.headers["user-agent"] == "gongkai-spider/0.1 (mailto:crawl-ops@example.org)" for s in seen)
    assert "giving up on this page" in result.log and "/always-521.html" in result.log
