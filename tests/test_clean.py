"""The clean pipeline: raw extracted strings become the typed document analysts query."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime

import pytest
from scrapy.utils.test import get_crawler

from gongkai_spider.items import ArticleItem
from gongkai_spider.normalize import SHANGHAI
from gongkai_spider.stats import CounterStats
from pipelines.clean import CleanPipeline, clean_item

URL = "http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html?utm_source=wechat&spm=a1.b2#top"
CANONICAL = "http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html"


def raw_item(**overrides) -> dict:
    """A raw item as the spider yields it, modelled on the seed page (labels, NBSP, full-width spaces)."""
    item = {
        "url": URL,
        "site": "jiande",
        "list_url": "http://www.jiande.gov.cn/col/col1229/index.html",
        "title": "\u3000我市和谐社区建设再上新台阶\xa0",
        "publish_time": "发布时间:2024-05-24 09:14",
        "read_count": "1.2万",
        "author": "作者：\xa0市民政局\u3000",
        "source": "本文来源：建德市民政局",
        "summary": "本文摘要：近日，新安江街道罗桐社区被选为“全国和谐社区建设样板社区”。",
        "keywords": "本文关键词：和谐社区，社区建设、和谐社区 罗桐社区",
        "body": "\u3000\u3000近日，新安江街道罗桐社区被选为“全国和谐社区建设样板社区”。\r\n\n"
                "\xa0\xa0这是我市社区建设获得的又一个阶段性成果。  \n\t\n",
        "attachments": [
            {"name": " 附件1：名单.pdf ", "url": "http://www.jiande.gov.cn/module/download/a.pdf"},
            {"name": "附件1：名单.pdf", "url": "http://www.jiande.gov.cn/module/download/a.pdf#page=2"},
            {"name": "", "url": "http://www.jiande.gov.cn/module/download/%E8%A1%A8.xls"},
            {"name": "no url"},
        ],
        "doc_meta": {"index_no": " 11330182002493/2024-00057 ", "written_date": "2024年05月20日",
                     "doc_no": "建民〔2024〕12号", "topic": "\xa0", "validity": "有效"},
        "_page_signals": {"meta_site_name": "尊龙凯时", "hidden_links": [{"text": "x", "href": "y"}]},
        "_page_host": "www.jiande.gov.cn",
    }
    item.update(overrides)
    return item


def test_clean_item_exact_document() -> None:
    doc = clean_item(raw_item())
    assert doc["url"] == CANONICAL
    assert doc["_id"] == hashlib.sha1(CANONICAL.encode()).hexdigest()
    assert doc["site"] == "jiande"
    assert doc["title"] == "我市和谐社区建设再上新台阶"
    assert doc["publish_time"] == datetime(2024, 5, 24, 9, 14, tzinfo=SHANGHAI)
    assert doc["publish_time"].utcoffset().total_seconds() == 8 * 3600
    assert doc["read_count"] == 12000
    assert doc["author"] == "市民政局"
    assert doc["source"] == "建德市民政局"
    assert doc["summary"] == "近日，新安江街道罗桐社区被选为“全国和谐社区建设样板社区”。"
    assert doc["keywords"] == ["和谐社区", "社区建设", "罗桐社区"]
    assert doc["body"] == ("近日，新安江街道罗桐社区被选为“全国和谐社区建设样板社区”。\n"
                           "这是我市社区建设获得的又一个阶段性成果。")
    assert doc["attachments"] == [
        {"name": "附件1：名单.pdf", "url": "http://www.jiande.gov.cn/module/download/a.pdf"},
        {"name": "表.xls", "url": "http://www.jiande.gov.cn/module/download/%E8%A1%A8.xls"},
    ]
    assert doc["doc_meta"] == {"index_no": "11330182002493/2024-00057", "written_date": "2024-05-20",
                               "doc_no": "建民〔2024〕12号", "validity": "有效"}


def test_raw_keeps_the_extracted_strings() -> None:
    doc = clean_item(raw_item())
    assert doc["raw"] == {
        "title": "\u3000我市和谐社区建设再上新台阶\xa0",
        "publish_time": "发布时间:2024-05-24 09:14",
        "author": "作者：\xa0市民政局\u3000",
        "source": "本文来源：建德市民政局",
        "keywords": "本文关键词：和谐社区，社区建设、和谐社区 罗桐社区",
        "read_count": "1.2万",
    }


def test_working_fields_pass_through_untouched_and_input_is_not_modified() -> None:
    item = raw_item()
    before = copy.deepcopy(item)
    doc = clean_item(item)
    assert item == before
    assert doc["_page_signals"] is item["_page_signals"]
    assert doc["_page_host"] == "www.jiande.gov.cn"


def test_schema_order_and_defaults_for_missing_fields() -> None:
    doc = clean_item({"url": "http://x.gov.cn/a.html", "title": "标题", "body": "正文"})
    assert list(doc)[:3] == ["_id", "url", "site"]
    assert doc["site"] == "x.gov.cn"  # no site id: the host
    assert doc["read_count"] is None and doc["author"] is None and doc["source"] is None
    assert doc["publish_time"] is None
    assert doc["keywords"] == [] and doc["attachments"] == [] and doc["doc_meta"] == {}
    assert doc["raw"] == {"title": "标题", "publish_time": None, "author": None, "source": None, "keywords": None,
                          "read_count": None}


@pytest.mark.parametrize(("read_count", "expected"), [("", None), ("--", None), (None, None), ("0", 0),
                                                      ("1,234", 1234), ("86次", 86)])
def test_read_count_never_defaulted_to_zero(read_count: str | None, expected: int | None) -> None:
    assert clean_item(raw_item(read_count=read_count))["read_count"] == expected


def test_unparseable_written_date_stays_as_text() -> None:
    doc = clean_item(raw_item(doc_meta={"written_date": "见正文\xa0落款"}))
    assert doc["doc_meta"] == {"written_date": "见正文 落款"}


def test_cleaning_twice_changes_nothing() -> None:
    once = clean_item(raw_item())
    assert clean_item(once) == once


def test_pipeline_keeps_item_type_and_counts_bad_dates() -> None:
    stats = CounterStats()
    pipeline = CleanPipeline(stats)
    item = ArticleItem(**raw_item(publish_time="发布时间：待定"))
    out = pipeline.process_item(item)
    assert out is item and isinstance(out, ArticleItem)
    assert out["publish_time"] is None
    assert out["raw"]["publish_time"] == "发布时间：待定"
    assert out["url"] == CANONICAL
    assert stats.get_value("gongkai/clean/bad_publish_time") == 1

    plain = pipeline.process_item(raw_item(publish_time=None))
    assert type(plain) is dict
    assert stats.get_value("gongkai/clean/no_publish_time") == 1
    assert stats.get_value("gongkai/clean/items") == 2


def test_pipeline_from_crawler_uses_crawler_stats() -> None:
    crawler = get_crawler(settings_dict={"ITEM_PIPELINES": {}})
    crawler.stats.open_spider()
    pipeline = CleanPipeline.from_crawler(crawler)
    pipeline.process_item(raw_item(publish_time="2024-13-45"))
    assert crawler.stats.get_value("gongkai/clean/bad_publish_time") == 1
