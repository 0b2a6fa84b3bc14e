"""The dedup pipeline: content hashes, signed simhashes, near-duplicate marking, the banded index."""

from __future__ import annotations

import hashlib
import random
import time
import timeit

import pytest
from scrapy.utils.test import get_crawler

from gongkai_spider.stats import CounterStats
from pipelines.dedup import (
    MAX_SECOND_DISTANCE,
    NO_SECOND,
    DedupPipeline,
    SimhashIndex,
    content_hash,
    fingerprint,
    fingerprint_fields,
    hamming,
    normalize_for_hash,
    simhash,
    simhash_unsigned,
    to_signed64,
)

# Two unrelated bodies of our own writing (a community-building report and a flood-season notice).
COMMUNITY = "\n".join([
    "近日，我市东湖街道柳岸社区被确定为全省城乡社区治理示范单位，这是全市社区建设工作取得的又一项成果。",
    "近年来，我市坚持以居民需求为导向，围绕养老托幼、环境整治、矛盾调解等群众关心的问题，持续推进社区服务体系建设。",
    "在组织体系上，全市建立了街道党工委统筹、社区党组织牵头、驻区单位和社会组织共同参与的工作机制，"
    "社区事务由居民议事会集体商量决定。",
    "在服务设施上，市、镇两级财政三年来累计投入专项资金四千余万元，新建和改造社区综合服务中心三十六个，"
    "每个中心都设有便民服务大厅、日间照料室、图书阅览室和儿童活动区。",
    "在队伍建设上，全市现有专职社区工作者三百一十二名，其中取得社会工作职业资格证书的有一百零五名，"
    "每年组织集中培训不少于两次。",
    "市民政局有关负责人表示，下一步将继续完善社区治理制度，推动更多资源和服务下沉到社区，让居民在家门口办成更多事。",
])
FLOOD = "\n".join([
    "各乡镇人民政府、街道办事处，市各有关单位：",
    "根据省防汛抗旱指挥部统一部署，结合我市今年雨情水情预测，现就做好主汛期防汛防台工作通知如下。",
    "一、压实防汛责任。各地要逐级落实行政首长负责制，对水库、山塘、堤防、地质灾害隐患点逐一明确责任人，"
    "责任人名单于六月十日前报市防汛办备案。",
    "二、开展隐患排查。各地各部门要立即组织力量对在建工程、下穿通道、地下车库、低洼易涝区域进行全面排查，"
    "发现问题当场整改，一时不能整改的要落实临时防护措施。",
    "三、加强值班值守。汛期实行二十四小时领导带班和专人值班制度，遇强降雨时各级防汛责任人必须到岗到位，"
    "重要情况第一时间报告。",
    "四、做好物资准备。各地要对防汛物资仓库进行清点补充，确保冲锋舟、救生衣、沙袋、发电机等物资数量充足、状态良好。",
])

SERVICE = "\n".join([
    "为进一步提升政务服务效能，市政务服务中心自今年三月起全面推行“一窗受理、集成服务”改革，"
    "将原来按部门设置的四十二个窗口整合为综合受理、综合出件和特殊事项三类窗口。",
    "改革后，企业和群众办事只需在一个窗口提交一套材料，后台由各部门分类审批、限时办结，"
    "平均办理时间由原来的八个工作日压缩到三个工作日以内。",
    "同时，中心开设了帮办代办服务专区，为老年人、残疾人等特殊群体提供预约上门、全程陪同等服务，"
    "并在各镇街便民服务中心设立自助服务终端一百二十台，实现社保、医保、公积金等高频事项就近可办。",
    "据统计，改革实施以来，中心累计受理各类事项十一万余件，群众满意率达到百分之九十九以上。",
    "下一步，市政务服务中心将继续深化数据共享，推动更多事项实现网上办、掌上办、一次办。",
])
# About 700 characters: long enough for a 3-bit simhash match to tolerate a few edited characters.
LONG = COMMUNITY + "\n" + SERVICE


def edited(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text
        text = text.replace(old, new, 1)
    return text


# ------------------------------------------------------------------------------------------- content hash


def test_content_hash_is_sha1_of_normalised_title_and_body() -> None:
    expected = hashlib.sha1("标题,一\n第一段。第二段:完".encode()).hexdigest()
    assert content_hash("标题，一", "第一段。\n第二段：完") == expected


def test_content_hash_ignores_layout_but_not_words() -> None:
    base = content_hash("关于做好防汛工作的通知", FLOOD)
    relaid = FLOOD.replace("\n", "\n\n\u3000\u3000").replace("，", "\xa0，")
    assert content_hash(" 关于做好防汛工作的通知\u3000", relaid) == base
    assert content_hash("关于做好防汛工作的通知", FLOOD.replace("六月十日", "六月十五日")) != base
    assert content_hash("关于做好防台工作的通知", FLOOD) != base


def test_normalize_for_hash_nfkc_and_invisible() -> None:
    assert normalize_for_hash("ＡＢＣ　１２３，中\u200b文（一）") == "ABC123,中文(一)"
    assert normalize_for_hash(None) == ""


# ------------------------------------------------------------------------------------------------ simhash


def test_simhash_is_a_signed_int64() -> None:
    rng = random.Random(7)
    values = [simhash(normalize_for_hash("".join(rng.choice(COMMUNITY) for _ in range(300)))) for _ in range(64)]
    assert all(-(2**63) <= v < 2**63 for v in values)
    assert any(v < 0 for v in values) and any(v > 0 for v in values)
    assert to_signed64(2**64 - 1) == -1
    assert to_signed64(2**63) == -(2**63)
    assert to_signed64(2**63 - 1) == 2**63 - 1


def test_simhash_is_stable_across_processes() -> None:
    # Stored in the database and compared with later runs: the value for a text must never change.
    assert simhash_unsigned("近日，我市东湖街道柳岸社区被确定为示范单位。") == simhash_unsigned(
        "近日，我市东湖街道柳岸社区被确定为示范单位。")
    assert simhash("") == 0
    assert isinstance(simhash("短"), int)


# Stored values: a release that computes other values for these texts breaks every store written before it.
PINNED = {"近日，我市东湖街道柳岸社区被确定为示范单位。": (0x71047E56B89A40A0, 0x68CBF0E95A1985C0),
          "ab": (0xFC8708022542B4D7, 0x4E31551E47490975),
          "关于开展2023年数字化改革专项检查的通知": (0x26C1A4790ACBA6FC, 0x1430C722D5F4DA9)}


def test_both_ways_of_computing_the_fingerprints_give_the_pinned_values() -> None:
    from pipelines.dedup import _TABLES, _TABLES2, _simhash_pair_numpy, _simhashes

    for text, pair in PINNED.items():
        assert tuple(_simhashes(text, (_TABLES, _TABLES2))) == pair
        assert _simhash_pair_numpy(text) == pair


def test_the_numpy_fingerprints_equal_the_pure_python_ones() -> None:
    # The crawl computes them with numpy, gongkai extract without: both must store the same values.
    from pipelines.dedup import _TABLES, _TABLES2, _simhash_pair_numpy, _simhashes

    rng = random.Random(11)
    alphabet = COMMUNITY + "abcXYZ0123，。\U0001F600\u00e9"
    for size in (1, 2, 3, 4, 7, 60, 700, 2500) * 25:
        text = "".join(rng.choice(alphabet) for _ in range(size))
        assert _simhash_pair_numpy(text) == tuple(_simhashes(text, (_TABLES, _TABLES2))), text


def test_small_edits_stay_within_three_bits_unrelated_text_does_not() -> None:
    a = normalize_for_hash(LONG)
    b = normalize_for_hash(edited(LONG, ("三百一十二名", "三百一十五名"), ("表示", "说")))
    assert hamming(simhash(a), simhash(b)) <= 3
    assert hamming(simhash(a), simhash(normalize_for_hash(FLOOD))) > 10


# ----------------------------------------------------------------------------------------------- pipeline


def article(_id: str, body: str, title: str = "社区建设再上新台阶", spam: bool | None = None) -> dict:
    item = {"_id": _id, "url": f"http://x.gov.cn/{_id}.html", "title": title, "body": body}
    if spam is not None:
        item["spam"] = {"is_spam": spam, "score": 2.0 if spam else 0.0, "reasons": []}
    return item


def test_near_copy_points_to_the_first_seen_article() -> None:
    stats = CounterStats()
    pipeline = DedupPipeline(stats)
    first = pipeline.process_item(article("a", LONG))
    copy = pipeline.process_item(article("b", edited(LONG, ("四千余万元", "四千多万元")) + "\n（市政府网）"))
    other = pipeline.process_item(article("c", FLOOD, title="关于做好主汛期防汛工作的通知"))
    assert first["near_duplicate_of"] is None
    assert copy["near_duplicate_of"] == "a"
    assert other["near_duplicate_of"] is None
    assert stats.get_value("gongkai/dedup/near_duplicate") == 1
    assert first["content_hash"] == content_hash(first["title"], LONG)
    assert first["simhash"] == fingerprint(first["title"], LONG)[1]


def test_same_id_again_is_not_its_own_duplicate() -> None:
    pipeline = DedupPipeline()
    pipeline.process_item(article("a", COMMUNITY))
    assert pipeline.process_item(article("a", COMMUNITY))["near_duplicate_of"] is None


def test_spam_is_looked_up_but_never_indexed() -> None:
    pipeline = DedupPipeline()
    spam = pipeline.process_item(article("s", COMMUNITY, spam=True))
    clean = pipeline.process_item(article("c", COMMUNITY, spam=False))
    assert spam["near_duplicate_of"] is None
    assert clean["near_duplicate_of"] is None  # a hijacked copy is never the original
    assert pipeline.process_item(article("s2", COMMUNITY, spam=True))["near_duplicate_of"] == "c"


def test_short_bodies_are_never_marked() -> None:
    pipeline = DedupPipeline()
    pipeline.process_item(article("a", "详见附件。", title="关于第一批名单的公示"))
    item = pipeline.process_item(article("b", "详见附件。", title="关于第一批名单的公示"))
    assert item["near_duplicate_of"] is None
    assert item["content_hash"] and item["simhash"] is not None


class FakeStore:
    """A CandidateSource over a dict _id -> (title, body); ``fail_after`` hashes then a lost connection;
    ``seconds=False``: stored without second fingerprints (a store written before them)."""

    def __init__(self, docs: dict[str, tuple[str, str]], fail_after: int | None = None, seconds: bool = True) -> None:
        self.docs = {k: (fingerprint(*v)[1], *v) for k, v in docs.items()}
        self.seconds = {k: fingerprint_fields(*v)["simhash2"] if seconds else NO_SECOND for k, v in docs.items()}
        self.fail_after = fail_after
        self.text_reads = 0

    def simhashes(self):
        for n, (key, (value, _title, _body)) in enumerate(self.docs.items()):
            if self.fail_after is not None and n >= self.fail_after:
                raise ConnectionError("store went away")
            yield value, self.seconds[key]

    def texts(self, *, ids=(), simhashes=()):
        self.text_reads += 1
        ids, simhashes = set(ids), set(simhashes)
        return [(k, v, t, b) for k, (v, t, b) in self.docs.items() if k in ids or v in simhashes]


def test_index_loaded_from_the_store_and_confirmed_by_its_text() -> None:
    stats = CounterStats()
    store = FakeStore({"old": ("社区建设再上新台阶", COMMUNITY), "flood": ("关于做好主汛期防汛工作的通知", FLOOD)})
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    assert stats.get_value("gongkai/dedup/index_loaded") == 2
    assert pipeline.process_item(article("new", COMMUNITY))["near_duplicate_of"] == "old"
    assert pipeline.process_item(article("service", SERVICE))["near_duplicate_of"] is None
    assert store.text_reads == 1  # the store is read only for a hash that matched


def test_store_errors_are_logged_and_the_run_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    stats = CounterStats()
    store = FakeStore({"old": ("社区建设再上新台阶", COMMUNITY), "flood": ("通知", FLOOD)}, fail_after=1)
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    assert stats.get_value("gongkai/dedup/index_error") == 1
    assert "could not read stored fingerprints" in caplog.text
    assert pipeline.process_item(article("new", COMMUNITY))["near_duplicate_of"] is None  # nothing loaded
    assert pipeline.process_item(article("again", COMMUNITY))["near_duplicate_of"] == "new"


def test_from_crawler_reads_the_crawl_store(tmp_path) -> None:
    from gongkai_spider.storage import open_store

    db = str(tmp_path / "g.sqlite3")
    store = open_store({"GONGKAI_DB": db, "MONGO_URI": ""})
    title = "社区建设再上新台阶"
    digest, value, _ = fingerprint(title, COMMUNITY)
    store.upsert_many([{"_id": "stored", "url": "http://x.gov.cn/stored.html", "site": "x", "title": title,
                        "body": COMMUNITY, "content_hash": digest, "simhash": value}])
    store.close()

    crawler = get_crawler(settings_dict={"GONGKAI_DB": db, "MONGO_URI": "", "GONGKAI_NEAR_DUP_DISTANCE": 2})
    crawler.stats.open_spider()
    pipeline = DedupPipeline.from_crawler(crawler)
    assert pipeline.index.max_distance == 2
    pipeline.open_spider()
    assert pipeline.process_item(article("fresh", COMMUNITY))["near_duplicate_of"] == "stored"
    assert crawler.stats.get_value("gongkai/dedup/index_loaded") == 1  # set once loaded (perhaps by a thread)
    getattr(crawler, "_gongkai_store", store).close()


def test_loading_can_be_switched_off() -> None:
    crawler = get_crawler(settings_dict={"GONGKAI_DEDUP_LOAD_INDEX": False})
    pipeline = DedupPipeline.from_crawler(crawler)
    pipeline.open_spider()  # no store touched
    assert len(pipeline.index) == 0


# ------------------------------------------------------------------------------------------------- index


def test_banded_index_finds_every_hash_within_three_bits_and_stays_fast_at_100k() -> None:
    rng = random.Random(3)
    index = SimhashIndex(3)
    values = [rng.getrandbits(64) for _ in range(100_000)]
    for i, value in enumerate(values):
        index.add(str(i), value)
    probes = []
    for i in range(0, 100_000, 100):  # flip 3 random bits of 1,000 stored hashes
        flipped = values[i]
        for bit in rng.sample(range(64), 3):
            flipped ^= 1 << bit
        probes.append((str(i), flipped))
    start = time.perf_counter()
    found = [index.nearest(value) for _, value in probes]
    elapsed = time.perf_counter() - start
    assert found == [i for i, _ in probes]
    assert index.nearest(values[5] ^ 0b1111) is None  # 4 bits away: not a near duplicate
    assert elapsed / len(probes) < 1e-3  # O(1): a few bucket reads, not a scan of 100k


def test_wider_distance_uses_more_bands_and_still_finds_everything() -> None:
    rng = random.Random(4)
    index = SimhashIndex(6)
    values = [rng.getrandbits(64) for _ in range(2_000)]
    for i, value in enumerate(values):
        index.add(str(i), value)
    for i in range(0, 2_000, 50):
        flipped = values[i]
        for bit in rng.sample(range(64), 6):
            flipped ^= 1 << bit
        assert index.nearest(flipped) == str(i)


def test_relaid_copy_is_distance_zero() -> None:
    pipeline = DedupPipeline()
    pipeline.process_item(article("a", COMMUNITY))
    relaid = COMMUNITY.replace("，", ",").replace("\n", "\n\n\u3000\u3000")
    assert pipeline.process_item(article("b", relaid))["near_duplicate_of"] == "a"


def test_index_rejects_distances_it_cannot_guarantee() -> None:
    with pytest.raises(ValueError, match="max_distance"):
        SimhashIndex(16)


def test_fingerprint_cost_per_page() -> None:
    body = LONG + "\n" + FLOOD  # about 1,000 characters, 3 KB of UTF-8
    per_call = min(timeit.repeat(lambda: fingerprint("关于做好主汛期防汛工作的通知", body), number=20, repeat=5)) / 20
    assert per_call < 2e-3  # typically ~0.15 ms; generous bound for loaded CI machines


# ------------------------------------------------------------------------------ labelled set (issue 11)


def _run_labelled(notices: int, **options) -> tuple:
    from gongkai_spider.demo.copies import MemoryCandidates, labelled_set, score

    data = labelled_set(notices, seed=7)
    stats, store = CounterStats(), MemoryCandidates()
    pipeline = DedupPipeline(stats, store=store, **options)
    near_of = {}
    for item in data:
        doc = pipeline.process_item(dict(item.doc))
        near_of[doc["_id"]] = doc["near_duplicate_of"]
        store.keep(doc)
    return score(data, near_of), stats


def test_precision_and_recall_on_a_labelled_set() -> None:
    result, _stats = _run_labelled(300)
    assert result.precision >= 0.99
    assert result.recall(("copy-1", "copy-2", "copy-3", "copy-4", "copy-5")) >= 0.9


def test_templated_siblings_within_the_distance_are_refused_by_the_text_check() -> None:
    # Two distinct generated notices whose simhashes are within the distance: only the text tells them apart.
    from gongkai_spider.demo.copies import labelled_set

    docs = [d.doc for d in labelled_set(3000, seed=3, reposts=False) if d.kind == "notice"]
    index = SimhashIndex(6)
    pair = None
    for doc in docs:
        value = fingerprint(doc["title"], doc["body"])[1]
        other = index.nearest(value)
        if other is not None:
            pair = (next(d for d in docs if d["_id"] == other), doc)
            break
        index.add(doc["_id"], value)
    assert pair is not None
    checked, unchecked = DedupPipeline(), DedupPipeline(min_similarity=0.0, max_second_distance=64)
    for pipeline in (checked, unchecked):
        pipeline.process_item(dict(pair[0]))
    assert checked.process_item(dict(pair[1]))["near_duplicate_of"] is None
    assert unchecked.process_item(dict(pair[1]))["near_duplicate_of"] == pair[0]["_id"]


def test_templated_hashes_keep_lookups_cheap() -> None:
    # Hashes of templated notices crowd some buckets; the numpy scan keeps a lookup far below a page's cost.
    from gongkai_spider.demo.copies import labelled_set

    values = [fingerprint(d.doc["title"], d.doc["body"])[1] for d in labelled_set(1000, seed=3, reposts=False)]
    index = SimhashIndex(6)
    index.load([(v, NO_SECOND) for v in values] * 30)  # 60k entries, every hash 30 times: buckets 30 times as full
    start = time.perf_counter()
    for value in values[:500]:
        assert len(index.candidates(value)) >= 30
    assert (time.perf_counter() - start) / 500 < 2e-3


def _clustered_hashes(notices: int, copies: int, seed: int) -> list[int]:
    """Hashes of templated notices, each repeated ``copies`` times with 0-3 bits flipped: crowded buckets."""
    from gongkai_spider.demo.copies import labelled_set

    rng = random.Random(seed)
    values = []
    for labelled in labelled_set(notices, seed=seed, reposts=False):
        value = simhash_unsigned(labelled.doc["title"] + labelled.doc["body"])
        for _ in range(copies):
            flipped = value
            for bit in rng.sample(range(64), rng.randrange(4)):
                flipped ^= 1 << bit
            values.append(flipped)
    rng.shuffle(values)
    return values


def _brute_force(index: SimhashIndex, rows: list[int], buckets: list[dict[int, list[int]]], value: int,
                 dead: set[int], excluded: int | None, cap: int | None) -> tuple[list[tuple[int, int]], int]:
    """What candidates() must return, and how many buckets it caps, by a scan of every row: the sorted rows
    within reach only through their buckets (4 bands x 17 probes, but the band whose 16 neighbour buckets
    hold the most rows, the first of equals, probed in its own bucket only), each bucket's newest ``cap`` rows
    when it holds more; the unsorted tail whole."""
    reach = set(range(index._base, len(rows)))
    capped = 0
    keys = [(value >> (16 * band)) & 0xFFFF for band in range(4)]
    neighbours = [sum(len(buckets[band].get(key ^ (1 << b), [])) for b in range(16)) for band, key in enumerate(keys)]
    thin = neighbours.index(max(neighbours))
    for band, key in enumerate(keys):
        for probe in {key} if band == thin else {key ^ m for m in [0, *(1 << b for b in range(16))]}:
            bucket = buckets[band].get(probe, [])
            if cap is not None and len(bucket) > cap:
                capped += 1
                bucket = bucket[-cap:]
            reach.update(bucket)
    found = sorted((hamming(rows[r], value), r) for r in reach
                   if hamming(rows[r], value) <= index.max_distance and r not in dead and r != excluded)
    return found, capped


@pytest.mark.parametrize("cap", [None, 40])
def test_lookups_match_a_brute_force_scan_on_clustered_hashes(cap: int | None) -> None:
    values = _clustered_hashes(250, 40, seed=5)  # 10,000 hashes, about 40 per template
    index = SimhashIndex(6) if cap is None else SimhashIndex(6, bucket_cap=cap)
    stored, run = values[:9000], values[9000:]
    index.load([(to_signed64(v), NO_SECOND) for v in stored])  # the store keeps them signed
    rows = list(stored)
    for i, value in enumerate(run[:500]):  # items of a run: with _ids, in the unsorted tail
        index.add(f"item{i}", value)
        rows.append(value)
    dead = set()
    for i in range(0, 100, 10):  # a new version of an item: its old row is dead
        dead.add(index._row_of[f"item{i}"])
        index.add(f"item{i}", run[500 + i])
        rows.append(run[500 + i])
    assert index._base == 9000 and len(rows) > index._base  # both the sorted buckets and the tail are probed
    buckets: list[dict[int, list[int]]] = [{}, {}, {}, {}]  # per band: band value -> its sorted rows, oldest first
    for row, value in enumerate(rows[:index._base]):
        for band in range(4):
            buckets[band].setdefault((value >> (16 * band)) & 0xFFFF, []).append(row)
    rng = random.Random(6)
    capped_before, expected_capped = index.capped, 0
    for n, value in enumerate(rng.sample(values, 120)):
        query = value ^ (1 << rng.randrange(64)) if n % 2 else value
        exclude = f"item{n}" if n < 20 else None
        found = index.candidates(query, exclude=exclude)
        expected, capped = _brute_force(index, rows, buckets, query, dead, index._row_of.get(exclude), cap)
        assert found == expected
        expected_capped += capped
    assert index.capped - capped_before == expected_capped
    assert (expected_capped > 0) == (cap is not None)


def test_a_crowded_bucket_is_read_up_to_its_newest_cap_rows() -> None:
    rng = random.Random(9)
    index = SimhashIndex(6, bucket_cap=5)
    crowd = rng.getrandbits(64)
    values = [rng.getrandbits(64) for _ in range(9000)] + [crowd] * 10  # one hash 10 times: its buckets overflow
    index.load([(to_signed64(v), NO_SECOND) for v in values])
    assert index.candidates(crowd) == [(0, row) for row in range(9005, 9010)]
    assert index.capped == 4  # its own bucket in each band


# ------------------------------------------------------------------------------------ second fingerprint


def _chance_pair() -> tuple[dict, dict]:
    """Two distinct generated notices within 6 bits on the simhash but far apart on the second fingerprint."""
    from gongkai_spider.demo.copies import labelled_set

    docs = [d.doc for d in labelled_set(3000, seed=3, reposts=False) if d.kind == "notice"]
    index, by_id = SimhashIndex(6), {}
    for doc in docs:
        fields = fingerprint_fields(doc["title"], doc["body"])
        for _distance, row in index.candidates(fields["simhash"]):
            other = by_id[index.id_of(row)]
            if hamming(other[1]["simhash2"], fields["simhash2"]) > MAX_SECOND_DISTANCE:
                return other[0], doc
        index.add(doc["_id"], fields["simhash"], fields["simhash2"])
        by_id[doc["_id"]] = (doc, fields)
    raise AssertionError("no chance pair in the generated notices")


def test_a_chance_candidate_is_refused_without_reading_the_store() -> None:
    stored, new = _chance_pair()
    for seconds, reads, refused in ((True, 0, 1), (False, 1, 0)):  # False: a store written before simhash2
        stats = CounterStats()
        store = FakeStore({stored["_id"]: (stored["title"], stored["body"])}, seconds=seconds)
        pipeline = DedupPipeline(stats, store=store)
        pipeline.open_spider()
        item = pipeline.process_item(dict(new))
        assert item["near_duplicate_of"] is None
        assert store.text_reads == reads
        assert stats.get_value("gongkai/dedup/rejected_fingerprint", 0) == refused
        assert stats.get_value("gongkai/dedup/rejected_candidate", 0) == 1 - refused  # the text check refused it


def test_a_copy_passes_the_second_fingerprint_and_is_confirmed_by_its_text() -> None:
    stats = CounterStats()
    store = FakeStore({"old": ("社区建设再上新台阶", COMMUNITY)})
    pipeline = DedupPipeline(stats, store=store)
    pipeline.open_spider()
    copy = COMMUNITY.replace("三十六个", "三十七个").replace("一百零五名", "一百零六名")
    item = pipeline.process_item(article("new", copy, title="社区建设再上新台阶"))
    assert item["near_duplicate_of"] == "old" and store.text_reads == 1
    assert item["simhash2"] == fingerprint_fields("社区建设再上新台阶", copy)["simhash2"]
    assert not stats.get_value("gongkai/dedup/rejected_fingerprint")


def test_this_runs_items_are_refused_by_the_second_fingerprint_too() -> None:
    first, second = _chance_pair()
    stats = CounterStats()
    pipeline = DedupPipeline(stats)
    pipeline.process_item(dict(first))
    assert pipeline.process_item(dict(second))["near_duplicate_of"] is None
    assert stats.get_value("gongkai/dedup/rejected_fingerprint") == 1
    assert not stats.get_value("gongkai/dedup/rejected_candidate")  # no text compared


def test_second_fingerprint_is_independent_of_the_first_and_stable() -> None:
    from pipelines.dedup import simhash_pair_unsigned

    text = normalize_for_hash(COMMUNITY)
    first, second = simhash_pair_unsigned(text)
    assert first == simhash_unsigned(text)  # the stored simhash is unchanged by computing both
    assert hamming(first, second) > 10
    assert simhash_pair_unsigned("") == (0, 0)


# Columns and indexes of an articles table as a release before simhash2 created them.
PRE_SIMHASH2 = """
CREATE TABLE articles (_id TEXT PRIMARY KEY, url TEXT UNIQUE, site TEXT, publish_time TEXT, content_hash TEXT,
    simhash INTEGER, near_duplicate_of TEXT, last_seen TEXT, doc TEXT NOT NULL, datetime_paths TEXT);
CREATE INDEX articles_simhash ON articles (simhash);
"""


def test_a_store_from_before_simhash2_is_migrated_and_still_dedups(tmp_path) -> None:
    import json
    import sqlite3

    from gongkai_spider.storage.sqlite import SQLiteStore

    db = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript(PRE_SIMHASH2)
    stored, chance = _chance_pair()
    rows = {"stored": ("社区建设再上新台阶", COMMUNITY), "sibling": (stored["title"], stored["body"])}
    values = {}
    for _id, (title, body) in rows.items():
        digest, values[_id], _ = fingerprint(title, body)
        doc = {"_id": _id, "url": f"http://x.gov.cn/{_id}.html", "site": "x", "title": title, "body": body,
               "content_hash": digest, "simhash": values[_id]}
        conn.execute("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?,?)", (_id, doc["url"], "x", None, digest,
                     values[_id], None, None, json.dumps(doc, ensure_ascii=False), None))
    conn.commit()
    conn.close()

    store = SQLiteStore(db)
    columns = {r[1] for r in store._conn.execute("PRAGMA table_info(articles)")}
    indexes = {r[1] for r in store._conn.execute("PRAGMA index_list(articles)")}
    assert "simhash2" in columns and "articles_simhash_pair" in indexes and "articles_simhash" not in indexes
    assert sorted(store.iter_simhash_pairs()) == sorted((v, 0) for v in values.values())
    plan = " ".join(r[-1] for r in store._conn.execute(
        "EXPLAIN QUERY PLAN SELECT simhash, coalesce(simhash2, 0) FROM articles WHERE simhash IS NOT NULL"))
    assert "COVERING INDEX articles_simhash_pair" in plan  # the load reads the index alone
    store.close()

    crawler = get_crawler(settings_dict={"GONGKAI_DB": str(db), "MONGO_URI": ""})
    crawler.stats.open_spider()
    pipeline = DedupPipeline.from_crawler(crawler)
    pipeline.open_spider()
    assert pipeline.process_item(article("fresh", COMMUNITY))["near_duplicate_of"] == "stored"
    assert crawler.stats.get_value("gongkai/dedup/index_loaded") == 2
    # the sibling has no second fingerprint: its text is read and compared, as before simhash2
    assert pipeline.process_item(dict(chance))["near_duplicate_of"] is None
    assert crawler.stats.get_value("gongkai/dedup/rejected_candidate") == 1
    assert not crawler.stats.get_value("gongkai/dedup/rejected_fingerprint")
    crawler._gongkai_store.close()


def test_a_fingerprint_computed_elsewhere_is_taken_only_for_the_same_title_and_body() -> None:
    from pipelines.dedup import _fingerprint, page_fingerprint

    title, body = "社区建设再上新台阶", COMMUNITY
    digest, first, second = page_fingerprint(title, body)
    assert fingerprint_fields(title, body) == {"content_hash": digest, "simhash": to_signed64(first),
                                               "simhash2": to_signed64(second)}
    marked = (digest, 5, 7)  # values no text hashes to: they show whether it was taken
    taken = _fingerprint(title, body, computed=marked)
    assert (taken[0], taken[1], taken[4]) == (digest, 5, 7)
    assert _fingerprint(" ".join(title), body + "\n", computed=marked)[1] == 5  # whitespace is not in the hash
    for other in (_fingerprint(title + "(修订)", body, computed=marked),  # the pipeline changed the title
                  _fingerprint(title, body, "附件:实施方案全文", computed=marked),  # attachment text joins the text
                  _fingerprint(title, body, sha1s=["ab" * 20], computed=marked),  # stored files join the hash
                  _fingerprint(title, body, computed="not a fingerprint"),
                  _fingerprint(title, body, computed=(digest, 5))):
        assert other[1] != 5 and other[4] != 7
    pipeline = DedupPipeline(CounterStats())
    item = article("a", COMMUNITY, title=title)
    item["_page_fingerprint"] = marked
    assert (pipeline.process_item(item)["simhash"], item["simhash2"]) == (5, 7)


def _compositions(total: int, parts: int = 4, most: int = 16):
    """Every way to spread ``total`` differing bits over ``parts`` bands of ``most`` bits."""
    if parts == 1:
        if total <= most:
            yield (total,)
        return
    for first in range(min(total, most) + 1):
        for rest in _compositions(total - first, parts - 1, most):
            yield (first, *rest)


@pytest.mark.parametrize("max_distance", range(0, 12))
def test_a_thinned_band_still_finds_every_hash_at_the_distance(max_distance: int) -> None:
    """One band is probed thinner (its own bucket alone at distance 6): whichever band that is, every spread
    of ``max_distance`` differing bits over the four bands is still found. The index is crowded, band by
    band in turn, so the thinned band changes from query to query."""
    rng = random.Random(max_distance)
    index = SimhashIndex(max_distance)
    targets = [rng.getrandbits(64) for _ in range(64)]
    crowd = []
    for t, target in enumerate(targets):  # rows sharing one band with their target: that band's buckets fill
        band = t % 4
        keep = 0xFFFF << (16 * band)
        crowd += [(target & keep) | (rng.getrandbits(64) & ~keep) for _ in range(140)]
    index.load([(to_signed64(v), NO_SECOND) for v in [*targets, *crowd]])
    assert index._base == len(targets) + len(crowd) > 8192  # probed through the buckets, not scanned whole
    for spread in _compositions(max_distance):
        t = rng.randrange(len(targets))
        query = targets[t]
        for band, bits in enumerate(spread):
            for bit in rng.sample(range(16), bits):
                query ^= 1 << (16 * band + bit)
        assert (max_distance, t) in index.candidates(query), spread
