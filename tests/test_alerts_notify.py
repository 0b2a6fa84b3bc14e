"""Alerts reach people (issue 15 item 5): one message per run by e-mail (Scrapy's MailSender, a local aiosmtpd
server) and by webhooks in the formats of 企业微信, 钉钉 (signed), 飞书 (signed) and plain JSON (a local receiver)."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
import socket
import threading
import time
import urllib.parse
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from crawl_support import html, run_scrapy, scrapy_env, serve

from gongkai_spider.errors import ConfigError
from gongkai_spider.extensions.notify import parse_webhooks

aiosmtpd = pytest.importorskip("aiosmtpd.controller")
pytestmark = pytest.mark.timeout(120)

DING_SECRET = "SEC-dingtalk-test-secret"
FEISHU_SECRET = "feishu-test-secret"
EMPTY_LISTING = html("<html><head><title>通知公告</title></head><body><p>暂无内容</p></body></html>")


class Receiver:
    """A local webhook receiver: records (path, query, JSON body); /broken answers 500, /wrongcode errcode 310000."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append((parts.path, dict(urllib.parse.parse_qsl(parts.query)), body))
                if parts.path == "/broken":
                    self.send_response(500)
                    self.end_headers()
                    return
                answer = b'{"errcode": 310000, "errmsg": "sign not match"}' if parts.path == "/wrongcode" \
                    else b'{"errcode": 0, "errmsg": "ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def by_path(self, path: str) -> list[tuple[dict, dict]]:
        return [(q, b) for p, q, b in self.calls if p == path]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.httpd.shutdown()
    r.httpd.server_close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as sock:  # aiosmtpd's start-up check connects to the port it was given: not 0
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _crawl_with_an_alert(tmp_path, **env):
    with serve({"/index.html": EMPTY_LISTING}) as server:
        return run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/index.html"], tmp_path,
                          env=scrapy_env(tmp_path, **env))


def _text(message) -> str:
    payload = message.get_payload(decode=True)
    return payload.decode(message.get_content_charset() or "utf-8")


def test_one_mail_and_one_message_per_webhook_for_a_run_with_alerts(tmp_path, smtp, receiver):
    inbox, port = smtp
    hooks = (f"wecom={receiver.base}/wecom?key=k1,dingtalk={receiver.base}/ding?access_token=t1,"
             f"feishu={receiver.base}/feishu,json={receiver.base}/json")
    result = _crawl_with_an_alert(tmp_path, GONGKAI_ALERT_MAIL_TO="ops@example.org,oncall@example.org",
                                  MAIL_HOST="127.0.0.1", MAIL_PORT=str(port), GONGKAI_ALERT_WEBHOOKS=hooks,
                                  GONGKAI_ALERT_DINGTALK_SECRET=DING_SECRET, GONGKAI_ALERT_FEISHU_SECRET=FEISHU_SECRET)
    assert result.returncode == 3, result.log[-3000:]
    stats = result.stats
    # the stats file is written at close, before the notifier; the log shows the deliveries
    assert result.log.count("alert message sent by") == 5, result.log[-3000:]
    assert stats["gongkai/alert/empty_listing"] == 1

    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert sorted(inbox.envelopes[0].rcpt_tos) == ["oncall@example.org", "ops@example.org"]
    subject = str(make_header(decode_header(mail["Subject"])))
    assert subject == "[gongkai] 127.0.0.1: 2 alert(s), exit 3"
    body = _text(mail)
    assert "- empty_listing: 1 listing page(s) answered but yielded no article links" in body
    assert "figures: pages" in body and "new 0" in body

    [(query, wecom)] = receiver.by_path("/wecom")
    assert query == {"key": "k1"} and wecom["msgtype"] == "markdown" and "empty_listing" in wecom["markdown"]["content"]

    [(query, ding)] = receiver.by_path("/ding")
    assert ding["msgtype"] == "markdown" and ding["markdown"]["title"] == subject
    ts = int(query["timestamp"])
    assert abs(ts / 1000 - time.time()) < 120 and query["access_token"] == "t1"
    expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert query["sign"] == expected

    [(_, feishu)] = receiver.by_path("/feishu")
    assert feishu["msg_type"] == "text" and "empty_listing" in feishu["content"]["text"]
    expected = base64.b64encode(hmac.new(f"{feishu['timestamp']}\n{FEISHU_SECRET}".encode(), b"",
                                         hashlib.sha256).digest()).decode()
    assert feishu["sign"] == expected

    [(_, plain)] = receiver.by_path("/json")
    assert plain["site"] == "127.0.0.1" and plain["exit_status"] == 3 and plain["finish_reason"] == "finished"
    assert {a["reason"] for a in plain["alerts"]} == {"empty_listing", "no_items"}
    assert plain["figures"]["new"] == 0 and plain["figures"]["pages"] >= 1


def test_a_run_without_alerts_sends_nothing_unless_always(tmp_path, receiver):
    listing = html("<html><body><ul class='list'><li><a href='/a/1.html'>关于印发工作要点的通知</a>"
                   "<span>2024-05-20</span></li></ul></body></html>")
    article = html("<html><head><title>关于印发工作要点的通知</title></head><body><h1>关于印发工作要点的通知</h1>"
                   "<p>发布时间：2024-05-20</p><div class='content'><p>" + "现将工作要点印发给你们。" * 20
                   + "</p></div></body></html>")
    for on, expected in (("alert", 0), ("always", 1)):
        with serve({"/index.html": listing, "/a/1.html": article}) as server:
            result = run_scrapy(["crawl", "gongkai", "-a", f"start_url={server.base}/index.html"], tmp_path / on,
                                env=scrapy_env(tmp_path / on, GONGKAI_ALERT_WEBHOOKS=f"json={receiver.base}/{on}",
                                               GONGKAI_ALERT_ON=on))
        assert result.returncode == 0, result.log[-3000:]
        assert len(receiver.by_path(f"/{on}")) == expected
    [(_, report)] = receiver.by_path("/always")
    assert report["alerts"] == [] and report["exit_status"] == 0 and report["figures"]["new"] == 1


def test_failed_deliveries_are_logged_and_never_change_the_run(tmp_path, receiver):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    started = time.monotonic()
    result = _crawl_with_an_alert(tmp_path, GONGKAI_ALERT_MAIL_TO="ops@example.org", MAIL_HOST="127.0.0.1",
                                  MAIL_PORT=str(dead),
                                  GONGKAI_ALERT_WEBHOOKS=f"json={receiver.base}/broken,dingtalk={receiver.base}"
                                                         f"/wrongcode?access_token=SECRET-TOKEN,"
                                                         f"wecom=http://127.0.0.1:{dead}/x")
    assert time.monotonic() - started < 60
    assert result.returncode == 3, result.log[-3000:]
    log = result.log
    assert log.count("not delivered") == 4, log[-3000:]
    assert "alert message by dingtalk to " + receiver.base + "/wrongcode not delivered: answered 310000" in log
    assert "SECRET-TOKEN" not in log  # tokens in webhook URLs stay out of the log
    assert "Traceback" not in log


def test_bad_webhook_settings_are_named():
    with pytest.raises(ConfigError, match=r"'slack=https://x': .* KIND one of wecom, dingtalk, feishu, json"):
        parse_webhooks("slack=https://x")
    with pytest.raises(ConfigError, match="expected KIND=http"):
        parse_webhooks("json=ftp://x")
    assert parse_webhooks(" wecom=https://a/b?key=1 , json=http://c ") == [("wecom", "https://a/b?key=1"),
                                                                          ("json", "http://c")]
