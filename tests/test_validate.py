"""The validate pipeline: what gets dropped, and that every drop is counted with its reason."""

from __future__ import annotations

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from gongkai_spider.items import ArticleItem
from gongkai_spider.stats import CounterStats
from pipelines.validate import ValidatePipeline, validation_error

GOOD = {"url": "http://x.gov.cn/a.html", "title": "关于开展2024年社区建设工作的通知", "body": "各街道：\n现将有关事项通知如下。",
        "attachments": []}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"url": None}, "no_url"),
        ({"url": "  "}, "no_url"),
        ({"title": None}, "no_title"),
        ({"title": "\u3000\xa0"}, "no_title"),
        ({"body": ""}, "no_body"),
        ({"body": "\n \u3000\n"}, "no_body"),
        ({"url": None, "title": None, "body": None}, "no_url"),  # first reason wins
    ],
)
def test_drops_are_counted_with_their_reason(changes: dict, reason: str) -> None:
    stats = CounterStats()
    pipeline = ValidatePipeline(stats)
    item = {**GOOD, **changes}
    assert validation_error(item) == reason
    with pytest.raises(DropItem) as excinfo:
        pipeline.process_item(item)
    assert str(excinfo.value).startswith(f"{reason}: ")
    assert excinfo.value.log_level == "INFO"
    assert stats.get_stats() == {f"gongkai/validate/dropped/{reason}": 1}


def test_drop_message_names_the_url() -> None:
    with pytest.raises(DropItem, match=r"^no_title: http://x\.gov\.cn/a\.html$"):
        ValidatePipeline().process_item({**GOOD, "title": ""})


def test_good_article_passes_unchanged() -> None:
    stats = CounterStats()
    item = ArticleItem(**GOOD)
    assert ValidatePipeline(stats).process_item(item) is item
    assert stats.get_value("gongkai/validate/passed") == 1


def test_attachment_only_notice_is_kept() -> None:
    stats = CounterStats()
    item = {**GOOD, "body": "", "attachments": [{"name": "附件.pdf", "url": "http://x.gov.cn/a.pdf"}]}
    assert validation_error(item) is None
    ValidatePipeline(stats).process_item(item)
    assert stats.get_value("gongkai/validate/attachment_only") == 1


def test_short_body_only_dropped_when_configured() -> None:
    item = {**GOOD, "body": "详见附件。"}
    assert validation_error(item) is None
    assert validation_error(item, min_body_chars=10) == "body_too_short"
    crawler = get_crawler(settings_dict={"GONGKAI_MIN_BODY_CHARS": 10})
    crawler.stats.open_spider()
    pipeline = ValidatePipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match=r"^body_too_short: "):
        pipeline.process_item(item)
    assert crawler.stats.get_value("gongkai/validate/dropped/body_too_short") == 1
    pipeline.process_item(GOOD)  # long enough
    assert crawler.stats.get_value("gongkai/validate/passed") == 1
