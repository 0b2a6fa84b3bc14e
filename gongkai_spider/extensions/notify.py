"""Alerts that reach people: one message per run, by e-mail and/or webhooks, when the run raised alerts.

``AlertNotifier`` runs at ``spider_closed`` after the run monitor (extensions/monitor.py) has judged the run,
and sends one message with the site, the exit status, the alerts and the run's figures (pages, items new /
updated / quarantined, failed, pending) to

* e-mail: ``GONGKAI_ALERT_MAIL_TO`` (comma-separated), through Scrapy's ``MailSender`` and its ``MAIL_*``
  settings (``MAIL_HOST``, ``MAIL_PORT``, ``MAIL_FROM``, ``MAIL_USER``, ``MAIL_PASS``, ``MAIL_TLS``, ``MAIL_SSL``);
* webhooks: ``GONGKAI_ALERT_WEBHOOKS``, comma-separated ``KIND=URL`` entries, KIND one of

  - ``wecom``: 企业微信 group robot (``{"msgtype": "markdown", "markdown": {"content": ...}}``);
  - ``dingtalk``: 钉钉 custom robot (``{"msgtype": "markdown", "markdown": {"title", "text"}}``), signed with
    ``GONGKAI_ALERT_DINGTALK_SECRET`` when set (``timestamp`` and ``sign`` = base64 HMAC-SHA256 of
    ``"{timestamp}\\n{secret}"`` keyed by the secret, added to the URL);
  - ``feishu``: 飞书 custom bot (``{"msg_type": "text", "content": {"text"}}``), signed with
    ``GONGKAI_ALERT_FEISHU_SECRET`` when set (``timestamp`` and ``sign`` = base64 HMAC-SHA256 keyed by
    ``"{timestamp}\\n{secret}"`` of an empty message, in the body);
  - ``json``: a plain JSON POST of the run: ``{"site", "exit_status", "finish_reason", "alerts": [{reason,
    message}], "figures": {...}}``.

``GONGKAI_ALERT_ON``: ``alert`` (default: only runs with alerts) or ``always``. A failed delivery is logged and
counted (``gongkai/notify/failed/<channel>``), never fails the crawl; successes count ``gongkai/notify/sent/<channel>``.
A robot that answers HTTP 200 with an error code (``errcode`` / ``code`` not 0, e.g. a bad signature) counts as failed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

from gongkai_spider.errors import CONFIG_CLOSE_REASONS, EXIT_ALERT, EXIT_CONFIG, EXIT_OK, ConfigError
from gongkai_spider.readonly import refuse_when_read_only

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

WEBHOOK_KINDS = ("wecom", "dingtalk", "feishu", "json")
TIMEOUT = 15.0  # seconds a delivery may take; the crawl waits for it at close


def parse_webhooks(value: str | list | None) -> list[tuple[str, str]]:
    """``"wecom=https://...,json=https://..."`` -> [(kind, url)]; raises ConfigError naming a bad entry."""
    entries = value if isinstance(value, list) else [v for v in str(value or "").split(",") if v.strip()]
    out = []
    for entry in entries:
        kind, sep, url = str(entry).strip().partition("=")
        kind = kind.strip().lower()
        if not sep or kind not in WEBHOOK_KINDS or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(f"GONGKAI_ALERT_WEBHOOKS entry {entry!r}: expected KIND=http(s)://..., KIND one of "
                             f"{', '.join(WEBHOOK_KINDS)}")
        out.append((kind, url.strip()))
    return out


def run_report(stats: dict[str, Any], site: str, reason: str) -> dict[str, Any]:
    """The run as the message reports it (from the crawl stats)."""
    alerts = [tuple(a) for a in stats.get("gongkai/alert_messages") or []]
    # alerts raised outside the run monitor (the store pipeline's) have a count but no message
    named = {r for r, _ in alerts}
    alerts += [(k[len("gongkai/alert/"):], "") for k in sorted(stats)
               if k.startswith("gongkai/alert/") and k[len("gongkai/alert/"):] not in named]
    failed = stats.get("gongkai/pending/failed")
    if failed is None:
        failed = sum(v for k, v in stats.items() if k.startswith("gongkai/fetch/failed/detail/"))
    exit_status = EXIT_CONFIG if reason in CONFIG_CLOSE_REASONS else EXIT_ALERT if alerts else EXIT_OK
    figures = {"pages": stats.get("downloader/response_count", 0), "items": stats.get("gongkai/detail/items", 0),
               **{k: stats.get(f"gongkai/store/{k}", 0) for k in ("new", "updated", "unchanged", "quarantined")},
               "failed": failed, "pending": stats.get("gongkai/pending/open", 0)}
    return {"site": site, "exit_status": exit_status, "finish_reason": reason,
            "alerts": [{"reason": r, "message": m} for r, m in alerts], "figures": figures}


def render_text(report: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of the message, plain text (also the markdown of the robots)."""
    alerts = report["alerts"]
    subject = (f"[gongkai] {report['site']}: {len(alerts)} alert(s), exit {report['exit_status']}" if alerts
               else f"[gongkai] {report['site']}: run finished, exit {report['exit_status']}")
    figures = report["figures"]
    lines = [subject, "",
             f"finish reason: {report['finish_reason']}",
             "figures: " + ", ".join(f"{k} {v}" for k, v in figures.items())]
    if alerts:
        lines += ["", "alerts:"] + [f"- {a['reason']}: {a['message']}" for a in alerts]
    return subject, "\n".join(lines) + "\n"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_request(kind: str, url: str, report: dict[str, Any], *, dingtalk_secret: str = "",
                    feishu_secret: str = "", now: float | None = None) -> tuple[str, dict[str, Any]]:
    """(url, JSON body) of one webhook call in the format of ``kind``."""
    now = time.time() if now is None else now
    subject, text = render_text(report)
    if kind == "wecom":
        return url, {"msgtype": "markdown", "markdown": {"content": text}}
    if kind == "dingtalk":
        if dingtalk_secret:
            ts = int(now * 1000)
            query = urllib.parse.urlencode({"timestamp": ts, "sign": dingtalk_sign(dingtalk_secret, ts)})
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        return url, {"msgtype": "markdown", "markdown": {"title": subject, "text": text}}
    if kind == "feishu":
        body: dict[str, Any] = {"msg_type": "text", "content": {"text": text}}
        if feishu_secret:
            ts = int(now)
            body.update(timestamp=str(ts), sign=feishu_sign(feishu_secret, ts))
        return url, body
    return url, report


def post_json(url: str, body: dict[str, Any], timeout: float = TIMEOUT) -> str | None:
    """POST ``body``; None when delivered, else why not (HTTP error, robot error code, network)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json; charset=utf-8"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = response.read(65536)
    except OSError as exc:  # URLError, HTTPError, timeouts
        return str(getattr(exc, "reason", None) or exc)
    try:
        parsed = json.loads(answer or b"{}")
    except ValueError:
        return None  # a plain receiver answering text: delivered
    if isinstance(parsed, dict):
        code = parsed.get("errcode", parsed.get("code", parsed.get("StatusCode", 0)))
        if code not in (0, None, "0"):
            return f"answered {code}: {parsed.get('errmsg') or parsed.get('msg') or ''}".strip()
    return None


class AlertNotifier:
    """Extension: one message per run to e-mail and webhooks (module docstring)."""

    def __init__(self, crawler: Crawler, mail_to: list[str], webhooks: list[tuple[str, str]], *, always: bool,
                 dingtalk_secret: str = "", feishu_secret: str = "") -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.mail_to = mail_to
        self.webhooks = webhooks
        self.always = always
        self.dingtalk_secret = dingtalk_secret
        self.feishu_secret = feishu_secret

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> AlertNotifier:
        s = crawler.settings
        refuse_when_read_only(s, "no alerts sent")
        mail_to = [a.strip() for a in s.getlist("GONGKAI_ALERT_MAIL_TO") if a.strip()]
        webhooks = parse_webhooks(s.get("GONGKAI_ALERT_WEBHOOKS"))
        if not mail_to and not webhooks:
            raise NotConfigured  # no message: most runs send nothing
        on = str(s.get("GONGKAI_ALERT_ON") or "alert").strip().lower()
        if on not in ("alert", "always"):
            raise ConfigError(f"GONGKAI_ALERT_ON must be 'alert' or 'always', got {on!r}")
        ext = cls(crawler, mail_to, webhooks, always=on == "always",
                  dingtalk_secret=s.get("GONGKAI_ALERT_DINGTALK_SECRET") or "",
                  feishu_secret=s.get("GONGKAI_ALERT_FEISHU_SECRET") or "")
        crawler.signals.connect(ext.spider_closed, signal=signals.spider_closed)
        return ext

    def spider_closed(self, spider: Any = None, reason: str = "finished") -> Any:
        from twisted.internet import defer, reactor
        from twisted.internet.threads import deferToThread

        stats = dict(self.stats.get_stats()) if self.stats is not None else {}
        site = str(getattr(spider, "site_id", None) or getattr(spider, "name", "") or "unknown")
        report = run_report(stats, site, reason)
        if not report["alerts"] and not self.always and report["exit_status"] == EXIT_OK:
            return None
        waits = []
        if self.mail_to:
            waits.append(self._mail(report, reactor))
        for kind, url in self.webhooks:
            call_url, body = webhook_request(kind, url, report, dingtalk_secret=self.dingtalk_secret,
                                             feishu_secret=self.feishu_secret)
            d = deferToThread(post_json, call_url, body)
            d.addCallback(self._done, kind, url)
            waits.append(d)
        return defer.DeferredList(waits, consumeErrors=True)

    def _mail(self, report: dict[str, Any], reactor: Any) -> Any:
        from scrapy.mail import MailSender

        subject, body = render_text(report)
        d = MailSender.from_crawler(self.crawler).send(to=self.mail_to, subject=subject, body=body,
                                                       charset="utf-8")
        if d is None:  # MAIL_DEBUG: logged, not sent
            self._done(None, "mail", ",".join(self.mail_to))
            return None
        d.addTimeout(TIMEOUT, reactor)
        d.addCallbacks(lambda _: self._done(None, "mail", ",".join(self.mail_to)),
                       lambda f: self._done(f.getErrorMessage() or f.type.__name__, "mail", ",".join(self.mail_to)))
        return d

    def _done(self, problem: str | None, channel: str, target: str) -> None:
        if problem is None:
            self.stats.inc_value(f"gongkai/notify/sent/{channel}")
            logger.info("alert message sent by %s", channel)
        else:
            self.stats.inc_value(f"gongkai/notify/failed/{channel}")
            logger.warning("alert message by %s to %s not delivered: %s", channel, _redact(target), problem)


def _redact(url: str) -> str:
    """A webhook URL without its query (access tokens live there)."""
    return url.split("?", 1)[0]
