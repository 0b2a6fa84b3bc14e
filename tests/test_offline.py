"""process_offline: the whole chain without a crawl, as ``gongkai extract`` prints it."""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from gongkai_spider.items import DOCUMENT_FIELDS
from gongkai_spider.stats import CounterStats
from pipelines.offline import jsonable, process_offline

URL = "http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html?spm=x#top"

RAW = {
    "url": URL,
    "site": "jiande",
    "list_url": "http://www.jiande.gov.cn/col/col1229/index.html",
    "title": "我市和谐社区建设再上新台阶",
    "publish_time": "发布时间:2024-05-24 09:14",
    "read_count": "",
    "author": "作者：市民政局",
    "source": "来源：建德市民政局",
    "summary": None,
    "keywords": "和谐社区，社区建设",
    "body": "\u3000\u3000近日，新安江街道罗桐社区被选为全国和谐社区建设样板社区。\n\n这是我市社区建设获得的又一个阶段性成果。",
    "attachments": [],
    "doc_meta": {"written_date": "2024年05月20日"},
    "_page_signals": {"html_title": "我市和谐社区建设再上新台阶"},
    "_page_host": "www.jiande.gov.cn",
}


def test_document_as_the_store_receives_it() -> None:
    raw = copy.deepcopy(RAW)
    doc = process_offline(raw)
    assert raw == RAW  # the input is not modified
    assert "dropped" not in doc
    assert doc["url"] == "http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html"
    assert doc["_id"] == hashlib.sha1(doc["url"].encode()).hexdigest()
    assert doc["author"] == "市民政局" and doc["source"] == "建德市民政局"
    assert doc["read_count"] is None
    assert doc["keywords"] == ["和谐社区", "社区建设"]
    assert doc["body"] == "近日，新安江街道罗桐社区被选为全国和谐社区建设样板社区。\n这是我市社区建设获得的又一个阶段性成果。"
    assert doc["doc_meta"] == {"written_date": "2024-05-20"}
    assert len(doc["content_hash"]) == 40
    assert -(2**63) <= doc["simhash"] < 2**63
    assert doc["near_duplicate_of"] is None  # no store lookup offline
    assert not any(key.startswith("_page") for key in doc)  # working fields are not stored
    schema_keys = [key for key in doc if key in DOCUMENT_FIELDS]
    assert schema_keys == [key for key in DOCUMENT_FIELDS if key in doc]  # schema order


def test_json_output_has_shanghai_offsets() -> None:
    text = json.dumps(jsonable(process_offline(RAW)), ensure_ascii=False)
    loaded = json.loads(text)
    assert loaded["publish_time"] == "2024-05-24T09:14:00+08:00"
    assert loaded["raw"]["publish_time"] == "发布时间:2024-05-24 09:14"


def test_validation_drop_is_returned_with_its_reason() -> None:
    stats = CounterStats()
    result = process_offline({**RAW, "title": "\u3000"}, stats=stats)
    assert result["dropped"] == "no_title"
    assert result["message"] == "no_title: http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html"
    assert result["url"] == "http://www.jiande.gov.cn/art/2024/5/24/art_1229_5820.html"
    assert result["document"]["title"] is None
    assert stats.get_value("gongkai/validate/dropped/no_title") == 1
    json.dumps(jsonable(result))  # printable as one JSON object

    short = process_offline({**RAW, "body": "详见附件。"}, {"GONGKAI_MIN_BODY_CHARS": 20})
    assert short["dropped"] == "body_too_short"


def test_spam_stage_runs_when_the_spam_module_exists() -> None:
    try:
        import pipelines.spam  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("pipelines/spam.py not written yet")
    doc = process_offline(RAW)
    assert set(doc["spam"]) >= {"is_spam", "score", "reasons"}
    assert list(doc).index("spam") < list(doc).index("content_hash")


class _RecordingSpam:
    def __init__(self, stats=None, threshold: float = 1.0, lists=None) -> None:
        self.stats, self.threshold = stats, threshold

    def open_spider(self) -> None:
        pass

    def process_item(self, item):
        item["spam"] = {"is_spam": True, "score": 9.0, "reasons": [f"threshold:{self.threshold}"]}
        item["title"] = item["title"].replace("尊龙凯时", "")
        return item


def test_spam_threshold_reaches_the_spam_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pipelines.offline.SpamPipeline", _RecordingSpam)
    doc = process_offline({**RAW, "title": "我市和谐社区建设再上新台阶尊龙凯时"}, spam_threshold=2.5)
    assert doc["spam"]["reasons"] == ["threshold:2.5"]
    assert doc["title"] == "我市和谐社区建设再上新台阶"  # spam runs before dedup, after clean
    assert doc["raw"]["title"] == "我市和谐社区建设再上新台阶尊龙凯时"
    doc = process_offline(RAW, {"GONGKAI_SPAM_THRESHOLD": "0.5"})
    assert doc["spam"]["reasons"] == ["threshold:0.5"]
